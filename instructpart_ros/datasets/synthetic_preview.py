"""A contact sheet of synthetic scenes: each image with its part outlines and names, and
its depth, for looking at a split before training on it."""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from .synthetic_scenes import SyntheticScene

OUTLINE_COLOURS = ((255, 40, 40), (40, 255, 40), (60, 120, 255))   # RGB, one per part


def scene_tile(scene: SyntheticScene, scale: float = 1.0) -> np.ndarray:
    """The scene's image with its part outlines and names beside its depth (uint8 RGB),
    ``scale`` times the scene's size."""
    size = (round(scene.rgb.shape[1] * scale), round(scene.rgb.shape[0] * scale))
    image = cv2.resize(scene.rgb, size, interpolation=cv2.INTER_AREA)
    for (name, mask), colour in zip(scene.parts.items(), OUTLINE_COLOURS):
        mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(image, contours, -1, colour, 1)
        ys, xs = np.nonzero(mask)
        _label(image, name, (int(xs.mean()) - 3 * len(name), int(ys.mean()) + 4), colour)
    _label(image, f"{scene.stem} {scene.object_name}", (4, 14), (255, 255, 255))
    depth = cv2.resize(scene.depth_mm, size, interpolation=cv2.INTER_NEAREST).astype(np.float32)
    valid = depth > 0
    near, far = np.percentile(depth[valid], (0.5, 99.5))
    scaled = np.clip((far - depth) / max(far - near, 1.0) * 255.0, 0, 255).astype(np.uint8)
    coloured = cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_VIRIDIS), cv2.COLOR_BGR2RGB)
    coloured[~valid] = 0
    _label(coloured, f"depth, table {scene.table_depth_mm:.0f} mm", (4, 14), (255, 255, 255))
    return np.concatenate([image, coloured], axis=1)


def contact_sheet(scenes: Sequence[SyntheticScene], columns: int = 2,
                  scale: float = 1.0) -> np.ndarray:
    """Scene tiles (see :func:`scene_tile`) in a grid, ``columns`` tiles wide (uint8 RGB)."""
    tiles = [scene_tile(scene, scale) for scene in scenes]
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % columns)
    rows = [np.concatenate(tiles[i:i + columns], axis=1) for i in range(0, len(tiles), columns)]
    return np.concatenate(rows, axis=0)


def _label(image: np.ndarray, text: str, origin: tuple[int, int], colour) -> None:
    """``text`` on a black box, its baseline starting at ``origin``."""
    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
    x, y = origin
    cv2.rectangle(image, (x - 2, y - height - 2), (x + width + 1, y + baseline), (0, 0, 0), -1)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv2.LINE_AA)
