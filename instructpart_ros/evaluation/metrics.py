"""The InstructPart paper's segmentation metrics, with per-class breakdowns.

For sample i with prediction P and ground truth G (foreground = non-zero):
IoU_i = |P∩G| / |P∪G|, and 1 when both are empty. gIoU = mean IoU_i;
cIoU = Σ|P∩G| / Σ|P∪G| (1 when every union is empty); P@50 = share of samples with
IoU_i > 0.5; P@50:95 = mean over t = 0.50, 0.55, ..., 0.95 of the share with IoU_i > t.
Everything is reported ×100.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

# Thresholds in percent, so "IoU > t" is the exact integer test 100·|P∩G| > t·|P∪G|.
P50_95_THRESHOLDS_PERCENT = tuple(range(50, 100, 5))
SUMMARY_KEYS = ("n", "giou", "ciou", "p50", "p50_95")


@dataclass(frozen=True)
class MaskCounts:
    """Pixel counts of one prediction against its ground truth."""

    intersection: int
    union: int

    @property
    def iou(self) -> float:
        """IoU as a fraction; 1.0 when both masks are empty."""
        return self.intersection / self.union if self.union else 1.0


def mask_counts(prediction: np.ndarray, ground_truth: np.ndarray) -> MaskCounts:
    """Intersection and union of two masks of the same shape (non-zero = foreground)."""
    if prediction.shape != ground_truth.shape:
        raise ValueError(f"prediction shape {prediction.shape} differs from ground truth "
                         f"shape {ground_truth.shape}; masks must have the image's size")
    prediction = prediction.astype(bool, copy=False)
    ground_truth = ground_truth.astype(bool, copy=False)
    intersection = int(np.count_nonzero(prediction & ground_truth))
    union = int(np.count_nonzero(prediction)) + int(np.count_nonzero(ground_truth)) - intersection
    return MaskCounts(intersection, union)


def summarize(counts: Sequence[MaskCounts]) -> dict:
    """``{"n", "giou", "ciou", "p50", "p50_95"}`` over ``counts`` (scores ×100)."""
    if not counts:
        raise ValueError("no samples to summarize: pass at least one MaskCounts")
    intersection = np.array([c.intersection for c in counts], dtype=np.int64)
    union = np.array([c.union for c in counts], dtype=np.int64)
    if np.any(intersection < 0) or np.any(intersection > union):
        raise ValueError("every MaskCounts needs 0 <= intersection <= union")
    empty = union == 0
    iou = np.where(empty, 1.0, intersection / np.maximum(union, 1))
    total_union = int(union.sum())

    def share_above(threshold_percent: int) -> float:
        above = empty | (100 * intersection > threshold_percent * union)
        return float(np.mean(above))

    return {
        "n": len(counts),
        "giou": 100.0 * float(iou.mean()),
        "ciou": 100.0 * (int(intersection.sum()) / total_union if total_union else 1.0),
        "p50": 100.0 * share_above(50),
        "p50_95": 100.0 * float(np.mean([share_above(t) for t in P50_95_THRESHOLDS_PERCENT])),
    }


def breakdown(keys: Iterable[str], counts: Sequence[MaskCounts]) -> dict[str, dict]:
    """:func:`summarize` per class: ``keys[i]`` is sample i's class. Sorted by class name."""
    groups: dict[str, list[MaskCounts]] = {}
    for key, count in zip(keys, counts, strict=True):
        groups.setdefault(key, []).append(count)
    return {key: summarize(groups[key]) for key in sorted(groups)}


# Report sections: name -> the sample attribute that defines its classes.
BREAKDOWNS: dict[str, Callable] = {
    "per_object": lambda sample: sample.object,
    "per_part": lambda sample: sample.part,
    "per_object_part": lambda sample: sample.object_part,
    "per_affordance": lambda sample: sample.affordance,
    "per_action": lambda sample: sample.action,
}


def segmentation_metrics(samples: Sequence, counts: Sequence[MaskCounts]) -> dict:
    """The full metrics structure for samples and their counts (same order).

    ``part_selection`` is ``None`` here: table-top part-selection accuracy is filled
    in by its own evaluation when that runs.
    """
    if len(samples) != len(counts):
        raise ValueError(f"{len(samples)} samples but {len(counts)} counts: pass one "
                         "MaskCounts per sample")
    metrics = {"overall": summarize(counts)}
    for section, class_of in BREAKDOWNS.items():
        metrics[section] = breakdown((class_of(s) for s in samples), counts)
    metrics["part_selection"] = None
    metrics["per_sample"] = {
        sample.id: {"iou": 100.0 * count.iou, "intersection": count.intersection,
                    "union": count.union}
        for sample, count in zip(samples, counts)
    }
    return metrics
