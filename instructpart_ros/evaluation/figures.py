"""Figures for a report: per-class gIoU bars and a best/worst qualitative grid."""
from __future__ import annotations

import math
import pathlib
import textwrap
from dataclasses import dataclass
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
    return overlay_files(sample.image_path, prediction_path(predictions_dir, sample.id), sample.mask_path, max_side)


def overlay_files(image_path: str | pathlib.Path, predicted_path: str | pathlib.Path,
                  truth_path: str | pathlib.Path, max_side: int = 480) -> np.ndarray:
    """An image (at most ``max_side`` px) with a prediction mask file tinted (when it exists)
    and a ground-truth mask file outlined."""
    with Image.open(image_path) as image:
        scale = min(1.0, max_side / max(image.size))
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image.draft("RGB", size)  # JPEG: decode at reduced scale
        pixels = np.asarray(image.convert("RGB").resize(size), dtype=np.float32)

    def small(mask: np.ndarray) -> np.ndarray:
        return cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)

    if pathlib.Path(predicted_path).is_file():
        predicted = small(read_binary_mask(predicted_path)) > 0
        pixels[predicted] = (1 - OVERLAY_ALPHA) * pixels[predicted] + OVERLAY_ALPHA * PREDICTION_RGB
    pixels = np.ascontiguousarray(pixels.astype(np.uint8))
    contours, _ = cv2.findContours(small(read_binary_mask(truth_path)),
                                   cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(pixels, contours, -1, tuple(int(c) for c in GROUND_TRUTH_RGB), 2)
    return pixels


@dataclass(frozen=True)
class QualitativeCase:
    """One panel of a qualitative grid: an image, its prediction and ground-truth mask files."""

    title: str
    image_path: pathlib.Path
    prediction_path: pathlib.Path
    truth_path: pathlib.Path


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

    def case(label: str, sample_id: str) -> QualitativeCase:
        sample = by_id[sample_id]
        return QualitativeCase(case_title(label, sample.object_part, ious[sample_id], sample.instruction(instruction)),
                               sample.image_path, prediction_path(predictions_dir, sample_id), sample.mask_path)

    plot_cases([(label, [case(label, sid) for sid in ids]) for label, ids in (("best", best), ("worst", worst))],
               path)
    return best, worst


def case_title(label: str, object_part: str, iou: float, instruction: str) -> str:
    """``"<label>: <object/part>, IoU <iou>"`` and the instruction, wrapped for a panel."""
    prompt = textwrap.shorten(instruction, 60, placeholder="…")
    return f"{label}: {object_part}, IoU {iou:.1f}\n" + "\n".join(textwrap.wrap(prompt, 38))


def plot_cases(rows: Sequence[tuple[str, Sequence[QualitativeCase]]], path: str | pathlib.Path) -> None:
    """A grid with one row per ``(label, cases)`` (empty rows left out): prediction tinted,
    ground truth outlined, the case's title above each panel."""
    rows = [(label, cases) for label, cases in rows if cases]
    if not rows:
        raise ValueError("no samples to show in the qualitative grid")
    columns = max(len(cases) for _, cases in rows)
    figure = Figure(figsize=(3.2 * columns, 3.4 * len(rows)), layout="constrained")
    grid = np.atleast_2d(figure.subplots(len(rows), columns, squeeze=False))
    for row, (_, cases) in enumerate(rows):
        for column in range(columns):
            axes = grid[row, column]
            axes.axis("off")
            if column >= len(cases):
                continue
            case = cases[column]
            axes.imshow(overlay_files(case.image_path, case.prediction_path, case.truth_path))
            axes.set_title(case.title, fontsize=7)
    figure.legend(handles=[Patch(facecolor="none", edgecolor=GROUND_TRUTH_RGB / 255,
                                 linewidth=2, label="ground truth (outline)"),
                           Patch(color=PREDICTION_RGB / 255, alpha=OVERLAY_ALPHA,
                                 label="prediction")],
                  loc="outside lower center", ncols=2, fontsize=8)
    figure.savefig(path, dpi=110)
