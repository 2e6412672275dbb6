"""Voxel-grid down-sampling of point sets (numpy; see docs/geometry.md for why not open3d)."""
from __future__ import annotations

import math

import numpy as np

# voxel_labels uses a histogram over voxel ids when their span is at most this dense
DENSE_SPAN_PER_POINT = 8
DENSE_SPAN_MIN = 1 << 16
MAX_CELL = 1 << 52  # voxel cells from the origin (per axis) and per id that int64 holds with room to spare


def check_voxel_size(voxel_size: float) -> float:
    """Return ``voxel_size`` as a float if it is finite and >= 0 (0 = off), else raise."""
    try:
        size = float(voxel_size)
    except (TypeError, ValueError):
        raise ValueError(f"voxel_size must be a number of metres, got {voxel_size!r}") from None
    if not math.isfinite(size) or size < 0.0:
        raise ValueError(f"voxel_size must be a finite number of metres >= 0 (0 = off), got {voxel_size}")
    return size


def voxel_ids(points: np.ndarray, voxel_size: float) -> np.ndarray | None:
    """One int64 id per point, equal for points in the same ``voxel_size`` cube; None when the
    points span more voxels than an int64 id can number (ids would overflow)."""
    # One axis at a time, in place: (N, 3) temporaries and reductions along axis 0 cost
    # several times more than 1-D ones.
    x, y, z = (_cells(points[:, axis], voxel_size) for axis in range(3))
    y_span, z_span = int(y.max()) + 1, int(z.max()) + 1
    if (int(x.max()) + 1) * y_span * z_span > MAX_CELL:  # Python ints: this product cannot overflow
        return None
    ids = x
    ids *= y_span
    ids += y
    ids *= z_span
    ids += z
    return ids


def _cells(coordinates: np.ndarray, voxel_size: float) -> np.ndarray:
    """Voxel cell of each coordinate, counted from the lowest occupied one (int64 >= 0)."""
    cells = np.floor(coordinates / voxel_size)
    low, high = cells.min(), cells.max()
    if not (np.isfinite(low) and np.isfinite(high) and max(-low, high) <= MAX_CELL):
        raise ValueError(
            f"points lie between {low * voxel_size:.3g} and {high * voxel_size:.3g} m on an axis, too far out to "
            f"number their {voxel_size:g} m voxels: check the intrinsics and the depth unit"
        )
    cells = cells.astype(np.int64)
    cells -= np.int64(low)
    return cells


def voxel_labels(points: np.ndarray, voxel_size: float) -> tuple[np.ndarray, int]:
    """Label each point with its voxel, 0..M-1 in voxel-id order; returns (labels, M)."""
    ids = voxel_ids(points, voxel_size)
    if ids is None:  # ids would overflow: label the (x, y, z) cells themselves, in the same order
        cells = np.stack([_cells(points[:, axis], voxel_size) for axis in range(3)], axis=1)
        _, labels = np.unique(cells, axis=0, return_inverse=True)
        labels = labels.reshape(-1)
        return labels, int(labels.max()) + 1
    span = int(ids.max()) + 1
    if span > DENSE_SPAN_PER_POINT * len(ids) + DENSE_SPAN_MIN:  # far outliers: sorting is cheaper
        _, labels = np.unique(ids, return_inverse=True)
        return labels, int(labels.max()) + 1
    # A histogram over all ids avoids np.unique's sort (3x faster on a part).
    occupied = np.bincount(ids, minlength=span) > 0
    first_label = np.cumsum(occupied) - 1
    return first_label[ids], int(first_label[-1]) + 1


def voxel_first_indices(points: np.ndarray, voxel_size: float) -> np.ndarray:
    """Sorted indices keeping the first point of each occupied voxel (input order kept)."""
    if voxel_size == 0.0 or len(points) == 0:
        return np.arange(len(points))
    labels, num_voxels = voxel_labels(points, voxel_size)
    first = np.full(num_voxels, len(points))
    np.minimum.at(first, labels, np.arange(len(points)))
    first.sort()
    return first


def voxel_means(points: np.ndarray, voxel_size: float) -> np.ndarray:
    """The mean point of each occupied voxel, float64 ``(M, 3)`` (``points`` itself if size 0)."""
    if voxel_size == 0.0 or len(points) == 0:
        return np.asarray(points, dtype=np.float64)
    labels, num_voxels = voxel_labels(points, voxel_size)
    counts = np.bincount(labels, minlength=num_voxels)
    sums = [np.bincount(labels, weights=points[:, axis], minlength=num_voxels) for axis in range(3)]
    return np.stack(sums, axis=1) / counts[:, None]
