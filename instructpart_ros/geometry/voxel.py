"""Voxel-grid down-sampling of point sets (numpy; see docs/geometry.md for why not open3d)."""
from __future__ import annotations

import math

import numpy as np


def check_voxel_size(voxel_size: float) -> float:
    """Return ``voxel_size`` as a float if it is finite and >= 0 (0 = off), else raise."""
    try:
        size = float(voxel_size)
    except (TypeError, ValueError):
        raise ValueError(f"voxel_size must be a number of metres, got {voxel_size!r}") from None
    if not math.isfinite(size) or size < 0.0:
        raise ValueError(f"voxel_size must be a finite number of metres >= 0 (0 = off), got {voxel_size}")
    return size


def voxel_ids(points: np.ndarray, voxel_size: float) -> np.ndarray:
    """One int64 id per point, equal for points in the same ``voxel_size`` cube."""
    # Per-axis 1-D reductions: numpy reduces an (N, 3) array along axis 0 several times slower.
    x, y, z = (cells - cells.min() for cells in np.floor(points / voxel_size).astype(np.int64).T)
    return (x * (y.max() + 1) + y) * (z.max() + 1) + z


def voxel_first_indices(points: np.ndarray, voxel_size: float) -> np.ndarray:
    """Sorted indices keeping the first point of each occupied voxel (input order kept)."""
    if voxel_size == 0.0 or len(points) == 0:
        return np.arange(len(points))
    _, first = np.unique(voxel_ids(points, voxel_size), return_index=True)
    first.sort()
    return first


def voxel_means(points: np.ndarray, voxel_size: float) -> np.ndarray:
    """The mean point of each occupied voxel, float64 ``(M, 3)`` (``points`` itself if size 0)."""
    if voxel_size == 0.0 or len(points) == 0:
        return np.asarray(points, dtype=np.float64)
    _, inverse, counts = np.unique(voxel_ids(points, voxel_size), return_inverse=True, return_counts=True)
    sums = np.stack([np.bincount(inverse, weights=points[:, axis]) for axis in range(3)], axis=1)
    return sums / counts[:, None]
