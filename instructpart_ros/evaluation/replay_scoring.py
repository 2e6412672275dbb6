"""Score the perception node's answers: per sample (IoU counts, part selection, anchor, status,
latency) and summed up per variant, group, object and part.

Segmentation numbers come from the evaluation library reading the written prediction
masks (:func:`score_predictions`), exactly as ``instructpart eval --predictions`` does.
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from instructpart_ros.datasets.rgbd_images import RgbdImages

from .metrics import MaskCounts, mask_counts, segmentation_metrics, summarize
from .part_selection import (ANCHOR_FROM_MASK, ANCHOR_FROM_POINTS, anchor_from_mask, anchor_from_points,
                             anchor_hits, select_part)
from .scoring import read_binary_mask, score_predictions

# Status of a result -> its kind, by the status's start (see docs/perception_node.md).
STATUS_KINDS = (("ok", "ok"), ("2D only", "ok_2d_only"), ("no pose", "no_pose"), ("no part found", "no_part"),
                ("model error", "model_error"))
OUTCOME_KINDS = ("failed", "dropped", "no_instruction", "bad_entry")
LATENCY_FIELDS = ("total_ms", "inference_ms", "round_trip_ms")


@dataclass
class NodeAnswer:
    """One ``PartSegmentation`` as arrays: what the node returned for a frame and an instruction."""

    mask: np.ndarray  # bool (H, W); all False when the node returned no mask
    status: str
    answer: str = ""
    score: float = 0.0
    total_ms: float = 0.0
    inference_ms: float = 0.0
    round_trip_ms: float = 0.0
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.float32))
    object_name: str = ""
    part_name: str = ""
    stamp_ns: int = 0
    instruction: str = ""
    result_cdr: Optional[bytes] = None  # the serialised PartSegmentation (recordings: for the output bag)


def status_kind(status: str) -> str:
    """ok, ok_2d_only, no_pose, no_part, model_error, or bad_input (any other rejection)."""
    for prefix, kind in STATUS_KINDS:
        if status == prefix or (prefix != "ok" and status.startswith(prefix)):
            return kind
    return "bad_input"


def read_part_masks(part_masks: Mapping[str, pathlib.Path], images: RgbdImages) -> Dict[str, np.ndarray]:
    """Every annotated part's mask, checked against the frame's size (ValueError naming the file)."""
    masks = {}
    height, width = images.rgb.shape[:2]
    for name, path in part_masks.items():
        if not pathlib.Path(path).is_file():
            raise ValueError(f"part mask {path} ({name}) does not exist")
        mask = read_binary_mask(path)
        if mask.shape != (height, width):
            raise ValueError(f"part mask {path} ({name}) is {mask.shape[1]}x{mask.shape[0]} but its image is "
                             f"{width}x{height}: a mask must be its image's size")
        masks[name] = mask
    return masks


def answer_record(answer: NodeAnswer, images: RgbdImages, target_part: Optional[str],
                  part_masks: Optional[Mapping[str, np.ndarray]]) -> dict:
    """The per-sample fields of an answered sample (scores only where ground truth exists)."""
    record = {
        "outcome": "answered", "status": answer.status, "status_kind": status_kind(answer.status),
        "answer": answer.answer, "score": float(answer.score), "num_points": int(len(answer.points)),
        "object_name": answer.object_name, "part_name": answer.part_name, "stamp_ns": int(answer.stamp_ns),
        **{name: float(getattr(answer, name)) for name in LATENCY_FIELDS},
        "mask_pixels": int(np.count_nonzero(answer.mask)),
    }
    if not part_masks or target_part is None:
        return record
    target = part_masks[target_part]
    counts = mask_counts(answer.mask, target)
    selection = select_part(answer.mask, target_part, part_masks)
    anchor, source = None, ANCHOR_FROM_MASK
    if len(answer.points) and images.calibration is not None:
        anchor, source = anchor_from_points(answer.points, images.calibration.intrinsics()), ANCHOR_FROM_POINTS
    if anchor is None:
        anchor, source = anchor_from_mask(answer.mask), ANCHOR_FROM_MASK
    record.update({
        "iou": {"intersection": counts.intersection, "union": counts.union, "iou": 100.0 * counts.iou},
        "selection": selection.as_dict(),
        "anchor": {"pixel": list(anchor) if anchor else None, "from": source, "hit": anchor_hits(anchor, target)},
    })
    return record


# ---------------------------------------------------------------------------- aggregation
def _share(count: int, total: int) -> float:
    return 100.0 * count / total if total else 0.0


def selection_summary(records: Sequence[dict]) -> Optional[dict]:
    """Part-selection accuracy and anchor hit rate over the records that could be judged
    (answered with ground truth, or failed: a sample without an answer selected nothing)."""
    judged = [r for r in records if r.get("selection") is not None or r.get("outcome") == "failed"]
    if not judged:
        return None
    correct = sum(1 for r in judged if (r.get("selection") or {}).get("correct"))
    hits = sum(1 for r in judged if (r.get("anchor") or {}).get("hit"))
    return {"n": len(judged), "correct": correct, "accuracy": _share(correct, len(judged)),
            "anchor_hits": hits, "anchor_hit_rate": _share(hits, len(judged))}


def selection_table(records: Sequence[dict], key: str) -> Dict[str, dict]:
    """:func:`selection_summary` per value of ``record[key]`` (object, part, variant)."""
    groups: Dict[str, List[dict]] = {}
    for record in records:
        groups.setdefault(str(record.get(key, "")), []).append(record)
    table = {name: selection_summary(group) for name, group in sorted(groups.items())}
    return {name: summary for name, summary in table.items() if summary is not None}


def status_counts(records: Sequence[dict]) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for record in records:
        kind = record["status_kind"] if record.get("outcome") == "answered" else record.get("outcome", "failed")
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))


def latency_summary(records: Sequence[dict]) -> Dict[str, dict]:
    """p50/p95 (ms) of the node's ``total_ms``, ``inference_ms`` and the replay's round trip."""
    answered = [r for r in records if r.get("outcome") == "answered"]
    summary = {}
    for name in LATENCY_FIELDS:
        values = np.array([r[name] for r in answered if r.get(name) is not None], dtype=np.float64)
        if values.size:
            summary[name] = {"n": int(values.size), "p50": float(np.percentile(values, 50)),
                             "p95": float(np.percentile(values, 95)), "mean": float(values.mean())}
    return summary


@dataclass
class VariantScores:
    """Segmentation of one variant: the metrics structure and the counts behind it."""

    metrics: dict
    counts: List[MaskCounts]


def variant_segmentation(samples: Sequence, predictions_dir: pathlib.Path) -> Optional[VariantScores]:
    """The evaluation library's metrics of ``predictions_dir`` over ``samples`` (None without samples)."""
    if not samples:
        return None
    scored = score_predictions(samples, predictions_dir, workers=None, progress=False)
    metrics = segmentation_metrics(samples, scored.counts)
    metrics.pop("part_selection")
    metrics["missing_predictions"] = scored.missing
    return VariantScores(metrics, scored.counts)


def pooled(counts: Sequence[MaskCounts]) -> Optional[dict]:
    return summarize(counts) if counts else None
