"""Score a folder of predictions and write the whole report into one output folder."""
from __future__ import annotations

import json
import pathlib
from typing import Sequence

from .dataset import InstructPartSample
from .figures import plot_per_class, plot_qualitative
from .metrics import segmentation_metrics
from .prediction import read_answers
from .report import write_metrics
from .scoring import score_predictions

REPORT_FILES = ("metrics.json", "metrics.md", "per_class.png", "qualitative.png")


def evaluate_predictions(samples: Sequence[InstructPartSample],
                         predictions_dir: str | pathlib.Path, out_dir: str | pathlib.Path,
                         run: dict, workers: int | None = None, progress: bool | None = None,
                         qualitative_count: int = 4) -> dict:
    """Score ``predictions_dir`` against ``samples`` and write :data:`REPORT_FILES`.

    ``run`` describes the run (split, instruction, method, predictions...) and must hold
    ``instruction``. A model run's answers found in ``predictions_dir`` are merged into
    ``answers.jsonl`` and summarised under ``model``. Returns the metrics written.
    """
    if not samples:
        raise ValueError("no samples to evaluate: the split is empty (or --limit is 0)")
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scored = score_predictions(samples, predictions_dir, workers=workers, progress=progress)
    metrics = segmentation_metrics(samples, scored.counts)
    per_sample = metrics.pop("per_sample")
    metrics["missing_predictions"] = scored.missing
    metrics["run"] = run
    answers = _merge_answers(samples, predictions_dir, out_dir)
    if answers:
        metrics["model"] = answers
    metrics["per_sample"] = per_sample

    write_metrics(out_dir, metrics)
    plot_per_class(metrics["per_object"], metrics["overall"]["giou"], out_dir / "per_class.png")
    plot_qualitative(samples, {sid: row["iou"] for sid, row in per_sample.items()},
                     predictions_dir, out_dir / "qualitative.png", run["instruction"],
                     count=qualitative_count)
    return metrics


def _merge_answers(samples: Sequence[InstructPartSample], predictions_dir, out_dir) -> dict:
    """Write the evaluated samples' answer records to ``answers.jsonl``; summarise them."""
    records = read_answers(predictions_dir)
    chosen = [records[s.id] for s in samples if s.id in records]
    if not chosen:
        return {}
    with (pathlib.Path(out_dir) / "answers.jsonl").open("w") as file:
        for record in chosen:
            file.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    return {
        "answered": len(chosen),
        "found": sum(1 for r in chosen if r.get("found")),
        "mean_seconds": sum(r.get("seconds", 0.0) for r in chosen) / len(chosen),
    }
