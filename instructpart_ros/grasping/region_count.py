"""Count scene points, and part points among them, inside oriented boxes (G2's region the jaws close on).

:class:`SceneGrid` sorts the scene points into cubic cells once per scene. A batch of
boxes is then counted without a Python loop: each box's axis-aligned bounds give a
range of cells, cells the oriented box cannot touch are dropped (a separating-axis test
along the box's own axes), and only the points of the remaining cells are tested
against the box. :func:`count_in_boxes_naive`, a loop over boxes that tests every scene
point, gives the same counts (the reference in tests and the benchmark's baseline).
"""
from __future__ import annotations

import numpy as np

MAX_CELLS = 1 << 22  # dense cell table limit: coarser cells for scenes larger than that


class SceneGrid:
    """Scene points sorted by cell of a regular grid, with each cell's first point."""

    def __init__(self, points: np.ndarray, is_part: np.ndarray, cell_size: float) -> None:
        points = np.asarray(points, dtype=np.float64)
        self.count = len(points)
        if self.count == 0:
            self.origin, self.shape, self.cell_size = np.zeros(3), np.ones(3, np.int64), float(cell_size)
            self.starts = np.zeros(2, np.int64)
            self.xyz = np.zeros((3, 0))
            self.is_part = np.zeros(0, bool)
            return
        self.origin = points.min(axis=0)
        span = points.max(axis=0) - self.origin
        self.cell_size = float(max(cell_size, np.cbrt(np.prod(span + cell_size) / MAX_CELLS)))
        self.shape = (span // self.cell_size).astype(np.int64) + 1
        cells = self._linear(((points - self.origin) // self.cell_size).astype(np.int64))
        order = np.argsort(cells, kind="stable")
        self.xyz = np.ascontiguousarray(points[order].T)  # (3, M): one coordinate at a time is faster
        self.is_part = np.asarray(is_part, bool)[order]
        self.starts = np.concatenate([[0], np.cumsum(np.bincount(cells, minlength=int(np.prod(self.shape))))])

    def _linear(self, cells: np.ndarray) -> np.ndarray:
        return (cells[:, 0] * self.shape[1] + cells[:, 1]) * self.shape[2] + cells[:, 2]

    def count_in_boxes(self, centers: np.ndarray, axes: np.ndarray, half_extents: np.ndarray):
        """Scene points and part points in each box: ``(total (N,), part (N,))`` int64.

        Box ``i`` is centred at ``centers[i]`` with edges along the columns of ``axes[i]``
        (3x3, orthonormal) and half-lengths ``half_extents[i]``; its faces count as inside.
        """
        count = len(centers)
        if count == 0 or self.count == 0:
            return np.zeros(count, np.int64), np.zeros(count, np.int64)
        boxes = _Boxes(centers, axes, half_extents)
        cell_owner, cells = self._touched_cells(boxes)
        first = self.starts[cells]
        sizes = self.starts[cells + 1] - first
        point = np.repeat(first - (np.cumsum(sizes) - sizes), sizes) + np.arange(int(sizes.sum()))
        per_box = np.bincount(cell_owner, weights=sizes, minlength=count).astype(np.int64)
        # The pairs come grouped by box: per-box values are repeated, which is cheaper than gathering.
        inside = boxes.contains(self.xyz[0][point], self.xyz[1][point], self.xyz[2][point], per_box)
        owner = np.repeat(np.arange(count), per_box)
        total = np.bincount(owner[inside], minlength=count)
        part = np.bincount(owner[inside & self.is_part[point]], minlength=count)
        return total, part

    def _touched_cells(self, boxes: "_Boxes") -> tuple[np.ndarray, np.ndarray]:
        """``(box, cell)`` pairs, grouped by box: the cells of each box's axis-aligned bounds that
        the oriented box may touch."""
        low = np.floor((boxes.centers - boxes.reach - self.origin) / self.cell_size).astype(np.int64)
        high = np.floor((boxes.centers + boxes.reach - self.origin) / self.cell_size).astype(np.int64)
        low, high = np.maximum(low, 0), np.minimum(high, self.shape - 1)
        dims = np.maximum(high - low + 1, 0)
        per_box = dims[:, 0] * dims[:, 1] * dims[:, 2]
        local = np.arange(int(per_box.sum())) - np.repeat(np.cumsum(per_box) - per_box, per_box)
        size_y, size_z = np.repeat(dims[:, 1], per_box), np.repeat(dims[:, 2], per_box)
        steps = (local // (size_y * size_z), (local // size_z) % size_y, local % size_z)
        # Separating-axis test along the box's axes: a cell (a cube of half-size h) can only
        # meet the box if its centre is within half_extent + h * sum|axis| along each axis.
        first_cell = self.origin + (low + 0.5) * self.cell_size - boxes.centers  # box-relative centre
        meets = np.ones(len(local), bool)
        for k in range(3):
            box_axis = boxes.axes[:, :, k]
            along = np.repeat(np.einsum("ni,ni->n", first_cell, box_axis), per_box)
            for j in range(3):
                along += steps[j] * np.repeat(self.cell_size * box_axis[:, j], per_box)
            limit = boxes.half[:, k] + self.cell_size / 2.0 * np.abs(box_axis).sum(axis=1)
            meets &= np.abs(along) <= np.repeat(limit, per_box)
        index = [np.repeat(low[:, j], per_box)[meets] + steps[j][meets] for j in range(3)]
        cells = (index[0] * self.shape[1] + index[1]) * self.shape[2] + index[2]
        return np.repeat(np.arange(len(per_box)), per_box)[meets], cells


class _Boxes:
    """Oriented boxes as per-box arrays, and the point-in-box test for points grouped by box."""

    def __init__(self, centers: np.ndarray, axes: np.ndarray, half_extents: np.ndarray) -> None:
        self.centers = np.asarray(centers, dtype=np.float64)
        self.axes = np.asarray(axes, dtype=np.float64)
        self.half = np.asarray(half_extents, dtype=np.float64)
        self.reach = np.einsum("nij,nj->ni", np.abs(self.axes), self.half)  # axis-aligned half-size

    def contains(self, x: np.ndarray, y: np.ndarray, z: np.ndarray, per_box: np.ndarray) -> np.ndarray:
        """Whether each point is in its box; the points come grouped by box, ``per_box`` of each."""
        offsets = [values - np.repeat(self.centers[:, axis], per_box) for axis, values in enumerate((x, y, z))]
        inside = np.ones(len(x), bool)
        for k in range(3):
            along = offsets[0] * np.repeat(self.axes[:, 0, k], per_box)
            along += offsets[1] * np.repeat(self.axes[:, 1, k], per_box)
            along += offsets[2] * np.repeat(self.axes[:, 2, k], per_box)
            inside &= np.abs(along) <= np.repeat(self.half[:, k], per_box)
        return inside


def count_in_boxes_naive(scene_points: np.ndarray, scene_is_part: np.ndarray, centers: np.ndarray, axes: np.ndarray,
                         half_extents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same counts with a per-box loop over every scene point (reference and benchmark baseline).

    The arithmetic is :meth:`SceneGrid.count_in_boxes`'s, term by term, so points on a face
    are decided alike.
    """
    xyz = np.asarray(scene_points, dtype=np.float64).T
    scene_is_part = np.asarray(scene_is_part, bool)
    total = np.zeros(len(centers), np.int64)
    part = np.zeros(len(centers), np.int64)
    for index, (center, box_axes, half) in enumerate(zip(centers, axes, half_extents)):
        offsets = [xyz[axis] - center[axis] for axis in range(3)]
        inside = np.ones(xyz.shape[1], bool)
        for k in range(3):
            along = offsets[0] * box_axes[0, k] + offsets[1] * box_axes[1, k] + offsets[2] * box_axes[2, k]
            inside &= np.abs(along) <= half[k]
        total[index] = np.count_nonzero(inside)
        part[index] = np.count_nonzero(inside & scene_is_part)
    return total, part
