"""Run a segmenter over samples and write prediction masks, resumably.

Each prediction is written to a temporary file and renamed into place, so a killed
run leaves only complete ``<id>.png`` files; a rerun skips every sample that has one.
``run.json`` records what produced the folder (model, instruction, mode) so a rerun
with different settings cannot mix its masks with the old ones. The segmenter's text
answer, score and time per sample go to ``answers-rank<R>.jsonl`` (one file per
process, so parallel ranks never write to the same file).
"""
from __future__ import annotations

import json
import os
import pathlib
import time
from dataclasses import dataclass
from typing import Protocol, Sequence

import cv2
import numpy as np

from .dataset import InstructPartSample, read_rgb
from .progress import progress_bar
from .scoring import PredictionError, prediction_path

RUN_FILE = "run.json"
ANSWERS_GLOB = "answers-rank*.jsonl"


class Segmenter(Protocol):
    def segment(self, rgb: np.ndarray, instruction: str, mode: str = "generate"): ...


@dataclass(frozen=True)
class PredictionStats:
    """How many predictions a run wrote and how many it found already done."""

    written: int
    skipped: int


def read_run_config(predictions_dir: str | pathlib.Path) -> dict | None:
    """What produced ``predictions_dir`` (its ``run.json``), or None for other folders."""
    path = pathlib.Path(predictions_dir) / RUN_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def check_run_config(predictions_dir: str | pathlib.Path, config: dict,
                     fix: str = "pass a new --predictions folder, or delete this one to start over") -> None:
    """Raise ValueError if ``predictions_dir`` was filled with a different ``config`` (``fix`` says what to do)."""
    recorded = read_run_config(predictions_dir)
    if recorded is None:
        return
    changed = {key: (recorded.get(key), value) for key, value in config.items()
               if recorded.get(key) != value}
    if changed:
        details = "; ".join(f"{key}: was {old!r}, now {new!r}" for key, (old, new) in changed.items())
        raise ValueError(f"{predictions_dir} holds predictions from another run ({details}): {fix}")


def write_run_config(predictions_dir: str | pathlib.Path, config: dict) -> None:
    """Record ``config`` in ``predictions_dir`` (atomically)."""
    path = pathlib.Path(predictions_dir) / RUN_FILE
    write_atomically(path, (json.dumps(config, indent=2) + "\n").encode())


def write_atomically(path: pathlib.Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


# Unfiltered rows, zlib level 1, default strategy: a mask decodes ~7x faster than with
# OpenCV's default (RLE) PNG settings, for files of ~20 kB instead of ~10 kB.
FAST_DECODE_PNG = (cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE,
                   cv2.IMWRITE_PNG_COMPRESSION, 1,
                   cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_DEFAULT)


def write_mask(path: str | pathlib.Path, mask: np.ndarray) -> None:
    """Write a bool mask as a mono8 PNG (0/255) that decodes fast, atomically."""
    ok, encoded = cv2.imencode(".png", np.where(mask, 255, 0).astype(np.uint8),
                               FAST_DECODE_PNG)
    if not ok:
        raise OSError(f"OpenCV could not encode the mask for {path}")
    write_atomically(pathlib.Path(path), encoded.tobytes())


def pending_samples(samples: Sequence[InstructPartSample],
                    predictions_dir: str | pathlib.Path) -> list[InstructPartSample]:
    """The samples that have no prediction file yet."""
    return [s for s in samples if not prediction_path(predictions_dir, s.id).is_file()]


def predict_samples(segmenter: Segmenter, samples: Sequence[InstructPartSample],
                    predictions_dir: str | pathlib.Path, instruction: str,
                    mode: str = "generate", rank: int = 0,
                    progress: bool | None = None) -> PredictionStats:
    """Write ``<id>.png`` for every sample that has none yet; return what was done."""
    predictions_dir = pathlib.Path(predictions_dir)
    predictions_dir.mkdir(parents=True, exist_ok=True)
    todo = pending_samples(samples, predictions_dir)
    skipped = len(samples) - len(todo)
    answers_path = predictions_dir / f"answers-rank{rank}.jsonl"
    with progress_bar(len(samples), f"predicting (rank {rank})", "image", progress,
                      initial=skipped) as bar, answers_path.open("a") as answers:
        for sample in todo:
            rgb = read_rgb(sample)
            start = time.perf_counter()
            result = segmenter.segment(rgb, sample.instruction(instruction), mode=mode)
            seconds = time.perf_counter() - start
            mask = np.asarray(result.mask)
            if mask.shape != rgb.shape[:2]:
                raise PredictionError(
                    f"sample {sample.id}: the segmenter returned a mask of shape {mask.shape} "
                    f"for an image of shape {rgb.shape[:2]}; it must return (H, W) masks")
            # The answer goes first: a kill between the two writes only redoes the sample.
            answers.write(json.dumps(_answer_record(sample.id, result, seconds),
                                     default=str) + "\n")
            answers.flush()
            write_mask(prediction_path(predictions_dir, sample.id), mask)
            bar.update()
    return PredictionStats(written=len(todo), skipped=skipped)


def _answer_record(sample_id: str, result, seconds: float) -> dict:
    record = {"id": sample_id, "seconds": seconds}
    for field in ("answer", "score", "found", "reason", "timings"):
        value = getattr(result, field, None)
        record[field] = value.item() if hasattr(value, "item") else value
    return record


def read_answers(predictions_dir: str | pathlib.Path) -> dict[str, dict]:
    """Every rank's answer records merged by sample id.

    A sample answered twice (redone after a kill) keeps one record; a line cut short
    by a killed run is skipped.
    """
    records = {}
    for path in sorted(pathlib.Path(predictions_dir).glob(ANSWERS_GLOB)):
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and "id" in record:
                records[record["id"]] = record
    return records
