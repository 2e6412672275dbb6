"""Gripper outlines of grasps (3D line segments) and a picture of the kept ones over the colour image.

The same outlines feed the node's ``grasp_markers`` and ``instructpart grasps filter``'s
``grasps.png``: two fingers ending at the fingertips, the palm joining them and a stem
back along the approach.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from instructpart_ros.geometry import as_intrinsics

from .conventions import Grasps

FINGER_LENGTH = 0.04  # m, drawn from the fingertips back along the approach
STEM_LENGTH = 0.04  # m, from the palm back along the approach
BEST_COLOR = (255, 0, 255)  # RGB magenta: the best grasp
REJECTED_COLOR = (128, 128, 128)


def gripper_segments(grasps: Grasps) -> np.ndarray:
    """``(N, 4, 2, 3)`` line segments per grasp: two fingers, the palm, the stem (metres)."""
    half = (grasps.widths / 2.0)[:, None] * grasps.closing
    tips = np.stack([grasps.center - half, grasps.center + half], axis=1)  # (N, 2, 3)
    back = FINGER_LENGTH * grasps.approach[:, None, :]
    bases = tips - back
    palm_middle = grasps.center - FINGER_LENGTH * grasps.approach
    stem_end = palm_middle - STEM_LENGTH * grasps.approach
    return np.stack([
        np.stack([tips[:, 0], bases[:, 0]], axis=1),
        np.stack([tips[:, 1], bases[:, 1]], axis=1),
        np.stack([bases[:, 0], bases[:, 1]], axis=1),
        np.stack([palm_middle, stem_end], axis=1),
    ], axis=1)


def score_colors(scores: np.ndarray) -> np.ndarray:
    """``(N, 3)`` RGB floats in [0, 1]: red for the lowest score, green for the highest (relative)."""
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) == 0:
        return np.zeros((0, 3))
    low, high = float(scores.min()), float(scores.max())
    level = (scores - low) / (high - low) if high > low else np.ones(len(scores))
    return np.stack([1.0 - level, level, np.zeros(len(scores))], axis=1)


def draw_grasps(rgb: np.ndarray, intrinsics, grasps: Grasps, scores: np.ndarray,
                rejected: Optional[Grasps] = None) -> np.ndarray:
    """The colour image with the grasps' outlines projected onto it, coloured by ``scores``; the
    first grasp (the best) thicker and magenta; ``rejected`` ones thin and grey underneath."""
    intrinsics = as_intrinsics(intrinsics)
    canvas = np.ascontiguousarray(rgb).copy()
    if rejected is not None and len(rejected):
        _draw(canvas, intrinsics, gripper_segments(rejected), [REJECTED_COLOR] * len(rejected), 1)
    colors = (score_colors(scores) * 255).round().astype(int)
    segments = gripper_segments(grasps)
    for index in range(len(grasps) - 1, -1, -1):  # the best last, on top
        best = index == 0
        _draw(canvas, intrinsics, segments[index:index + 1], [BEST_COLOR if best else tuple(colors[index])],
              4 if best else 2)
    return canvas


def _draw(canvas: np.ndarray, intrinsics, segments: np.ndarray, colors, thickness: int) -> None:
    points = segments.reshape(-1, 3)
    z = np.where(points[:, 2] > 1e-6, points[:, 2], np.nan)
    pixels = np.stack([intrinsics.fx * points[:, 0] / z + intrinsics.cx,
                       intrinsics.fy * points[:, 1] / z + intrinsics.cy], axis=1).reshape(len(segments), -1, 2, 2)
    pixels = np.clip(pixels, -1e5, 1e5)  # OpenCV clips lines to the image, but needs int32 coordinates
    for grasp_pixels, color in zip(pixels, colors):
        for start, end in grasp_pixels:
            if np.isfinite(start).all() and np.isfinite(end).all():
                cv2.line(canvas, tuple(int(round(v)) for v in start), tuple(int(round(v)) for v in end),
                         tuple(int(c) for c in color), thickness, cv2.LINE_AA)
