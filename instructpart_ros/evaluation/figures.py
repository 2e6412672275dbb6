"""Figures for a report: per-class gIoU bars and a best/worst qualitative grid."""
from __future__ import annotations

import math
import pathlib
import textwrap
from typing import Mapping, Sequence

import cv2
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from PIL import Image

from .dataset import InstructPartSample
from .scoring import prediction_path, read_binary_mask

GROUND_TRUTH_RGB = np.array([0, 200, 0], dtype=np.float32)
PREDICTION_RGB = np.array([230, 0, 60], dtype=np.float32)
OVERLAY_ALPHA = 0.45


def plot_per_class(per_class: Mapping[str, dict], overall_giou: float,
                   path: str | pathlib.Path, title: str = "gIoU per object class") -> None:
    """Horizontal bar chart of each class's gIoU (best at the top), overall as a line."""
    if not per_class:
        raise ValueError("no classes to plot: per_class is empty")
    ordered = sorted(per_class.items(), key=lambda item: (item[1]["giou"], item[0]))
    figure = Figure(figsize=(7, 1.0 + 0.22 * len(ordered)), layout="constrained")
    axes = figure.subplots()
    positions = np.arange(len(ordered))
    axes.barh(positions, [summary["giou"] for _, summary in ordered], color="#4c72b0")
    axes.set_yticks(positions, [f"{name} (n={summary['n']})" for name, summary in ordered],
                    fontsize=7)
    axes.axvline(overall_giou, color="#c44e52", linestyle="--",
                 label=f"overall {overall_giou:.1f}")
    axes.set_xlim(0, 100)
    axes.set_ylim(-0.6, len(ordered) - 0.4)
    axes.set_xlabel("gIoU (×100)")
    axes.set_title(title)
    axes.legend(loc="lower right", fontsize=8)
    figure.savefig(path, dpi=120)


def best_and_worst(ious: Mapping[str, float], count: int) -> tuple[list[str], list[str]]:
    """Ids of up to ``count`` best and ``count`` worst samples, never the same one twice."""
    ranked = sorted(ious, key=lambda sample_id: (-ious[sample_id], sample_id))
    best = ranked[:min(count, math.ceil(len(ranked) / 2))]
    worst = ranked[len(best):][::-1][:count]
    return best, worst


def overlay(sample: InstructPartSample, predictions_dir: str | pathlib.Path,
            max_side: int = 480) -> np.ndarray:
    """The sample's image (at most ``max_side`` px): prediction tinted, ground truth outlined."""
    with Image.open(sample.image_path) as image:
        scale = min(1.0, max_side / max(image.size))
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image.draft("RGB", size)  # JPEG: decode at reduced scale
        pixels = np.asarray(image.convert("RGB").resize(size), dtype=np.float32)

    def small(mask: np.ndarray) -> np.ndarray:
        return cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)

    path = prediction_path(predictions_dir, sample.id)
    if path.is_file():
        predicted = small(read_binary_mask(path)) > 0
        pixels[predicted] = (1 - OVERLAY_ALPHA) * pixels[predicted] + OVERLAY_ALPHA * PREDICTION_RGB
    pixels = np.ascontiguousarray(pixels.astype(np.uint8))
    contours, _ = cv2.findContours(small(read_binary_mask(sample.mask_path)),
                                   cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(pixels, contours, -1, tuple(int(c) for c in GROUND_TRUTH_RGB), 2)
    return pixels


def plot_qualitative(samples: Sequence[InstructPartSample], ious: Mapping[str, float],
                     predictions_dir: str | pathlib.Path, path: str | pathlib.Path,
                     instruction: str, count: int = 4) -> tuple[list[str], list[str]]:
    """Grid of the ``count`` best (top row) and worst (bottom row) samples by IoU.

    ``ious`` maps sample id to IoU ×100. Returns the (best, worst) ids shown.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    by_id = {sample.id: sample for sample in samples}
    best, worst = best_and_worst({sid: ious[sid] for sid in by_id}, count)
    rows = [(label, ids) for label, ids in (("best", best), ("worst", worst)) if ids]
    if not rows:
        raise ValueError("no samples to show in the qualitative grid")
    columns = max(len(ids) for _, ids in rows)
    figure = Figure(figsize=(3.2 * columns, 3.4 * len(rows)), layout="constrained")
    grid = np.atleast_2d(figure.subplots(len(rows), columns, squeeze=False))
    for row, (label, ids) in enumerate(rows):
        for column in range(columns):
            axes = grid[row, column]
            axes.axis("off")
            if column >= len(ids):
                continue
            sample = by_id[ids[column]]
            axes.imshow(overlay(sample, predictions_dir))
            prompt = textwrap.shorten(sample.instruction(instruction), 60, placeholder="…")
            axes.set_title(f"{label}: {sample.object_part}, IoU {ious[sample.id]:.1f}\n"
                           + "\n".join(textwrap.wrap(prompt, 38)), fontsize=7)
    figure.legend(handles=[Patch(facecolor="none", edgecolor=GROUND_TRUTH_RGB / 255,
                                 linewidth=2, label="ground truth (outline)"),
                           Patch(color=PREDICTION_RGB / 255, alpha=OVERLAY_ALPHA,
                                 label="prediction")],
                  loc="outside lower center", ncols=2, fontsize=8)
    figure.savefig(path, dpi=110)
    return best, worst
