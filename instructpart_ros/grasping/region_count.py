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
    """Scene points sorted by the cubic cell of a regular grid they fall in, with each cell's first point."""

    def __init__(self, points: np.ndarray, is_part: np.ndarray, cell_size: float) -> None:
        points = np.asarray(points, dtype=np.float64)
        self.count = len(points)
        if self.count == 0:
            self.origin, self.shape, self.cell_size = np.zeros(3), np.ones(3, np.int64), float(cell_size)
            self.starts = np.zeros(2, np.int64)
            self.occupied = np.zeros(1, bool)
            self.xyz = np.zeros((3, 0), np.float32)
            self.is_part = np.zeros(0, bool)
            return
        self.origin = points.min(axis=0)
        span = points.max(axis=0) - self.origin
        self.cell_size = float(max(cell_size, np.cbrt(np.prod(span + cell_size) / MAX_CELLS)))
        self.shape = (span // self.cell_size).astype(np.int64) + 1
        cells = self._linear(((points - self.origin) // self.cell_size).astype(np.int64))
        order = np.argsort(cells, kind="stable")
        # (3, M) float32: one coordinate at a time, and half the memory traffic of float64
        self.xyz = np.ascontiguousarray(points[order].T, dtype=np.float32)
        self.is_part = np.asarray(is_part, bool)[order]
        self.starts = np.concatenate([[0], np.cumsum(np.bincount(cells, minlength=int(np.prod(self.shape))))])
        self.occupied = self.starts[1:] > self.starts[:-1]

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
        inside = _in_boxes([self.xyz[axis][point] for axis in range(3)], *boxes.repeated(per_box))
        return _sum_per_box(inside, per_box), _sum_per_box(inside & self.is_part[point], per_box)

    def _touched_cells(self, boxes: "_Boxes") -> tuple[np.ndarray, np.ndarray]:
        """``(box, cell)`` pairs, grouped by box: the cells of each box's axis-aligned bounds that
        the oriented box may touch."""
        low = np.floor((boxes.centers - boxes.reach - self.origin) / self.cell_size).astype(np.int64)
        high = np.floor((boxes.centers + boxes.reach - self.origin) / self.cell_size).astype(np.int64)
        low, high = np.maximum(low, 0), np.minimum(high, self.shape - 1)
        dims = np.maximum(high - low + 1, 0)
        per_box = dims[:, 0] * dims[:, 1] * dims[:, 2]
        owner = np.repeat(np.arange(len(per_box)), per_box)
        local = np.arange(len(owner)) - (np.cumsum(per_box) - per_box)[owner]
        # (np.divmod and boolean selections cost several times more than these on int64 arrays)
        size_yz, size_z = (dims[:, 1] * dims[:, 2])[owner], dims[owner, 2]
        step_x = local // size_yz
        rest = local - step_x * size_yz
        step_y = rest // size_z
        step_z = rest - step_y * size_z
        base = (low[:, 0] * self.shape[1] + low[:, 1]) * self.shape[2] + low[:, 2]
        cells = base[owner] + (step_x * self.shape[1] + step_y) * self.shape[2] + step_z
        # Most cells of the bounds are empty (the scene is a surface): drop them before the test below.
        occupied = np.flatnonzero(self.occupied[cells])
        owner, cells = owner[occupied], cells[occupied]
        step_x, step_y, step_z = step_x[occupied], step_y[occupied], step_z[occupied]
        # Separating-axis test along the box's axes: a cell (a cube of half-size h) can only
        # meet the box if its centre is within half_extent + h * sum|axis| along each axis.
        first_cell = self.origin + (low + 0.5) * self.cell_size - boxes.centers  # box-relative centre
        meets = np.ones(len(cells), bool)
        for k in range(3):
            box_axis = boxes.axes[:, :, k]
            step = self.cell_size * box_axis  # (N, 3): how far one cell along x, y, z moves along this axis
            along = np.einsum("ni,ni->n", first_cell, box_axis)[owner]
            along += step_x * step[owner, 0]
            along += step_y * step[owner, 1]
            along += step_z * step[owner, 2]
            limit = boxes.half[:, k] + self.cell_size / 2.0 * np.abs(box_axis).sum(axis=1)
            meets &= np.abs(along) <= limit[owner]
        meets = np.flatnonzero(meets)
        return owner[meets], cells[meets]


class _Boxes:
    """Oriented boxes as per-box arrays."""

    def __init__(self, centers: np.ndarray, axes: np.ndarray, half_extents: np.ndarray) -> None:
        self.centers = np.asarray(centers, dtype=np.float64)
        self.axes = np.asarray(axes, dtype=np.float64)
        self.half = np.asarray(half_extents, dtype=np.float64)
        self.reach = np.einsum("nij,nj->ni", np.abs(self.axes), self.half)  # axis-aligned half-size

    def repeated(self, per_box: np.ndarray):
        """``(center, axes, half)`` as float32 arrays repeated ``per_box`` times, for :func:`_in_boxes`."""
        def repeat(values):
            return np.repeat(values.astype(np.float32), per_box)
        return ([repeat(self.centers[:, j]) for j in range(3)],
                [[repeat(self.axes[:, j, k]) for k in range(3)] for j in range(3)],
                [repeat(self.half[:, k]) for k in range(3)])


def _in_boxes(coordinates, center, axes, half) -> np.ndarray:
    """Whether points lie in boxes, in float32: ``coordinates`` x, y, z arrays; ``center[j]``,
    ``axes[j][k]`` (component j of box axis k) and ``half[k]`` per point (arrays) or shared (scalars).

    The one point-in-box test, so the grid and the naive loop decide points on a face alike.
    """
    offsets = [coordinates[j] - center[j] for j in range(3)]
    inside = None
    for k in range(3):
        along = offsets[0] * axes[0][k]
        along += offsets[1] * axes[1][k]
        along += offsets[2] * axes[2][k]
        test = np.abs(along, out=along) <= half[k]
        inside = test if inside is None else np.logical_and(inside, test, out=inside)
    return inside


def _sum_per_box(flags: np.ndarray, per_box: np.ndarray) -> np.ndarray:
    """How many ``flags`` are set in each box's run of ``per_box`` consecutive entries."""
    sums = np.zeros(len(per_box), np.int64)
    filled = per_box > 0
    if filled.any():
        starts = (np.cumsum(per_box) - per_box)[filled]
        sums[filled] = np.add.reduceat(flags.view(np.uint8), starts, dtype=np.int64)
    return sums


def count_in_boxes_naive(scene_points: np.ndarray, scene_is_part: np.ndarray, centers: np.ndarray, axes: np.ndarray,
                         half_extents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same counts with a per-box loop over every scene point (reference and benchmark baseline)."""
    xyz = np.asarray(scene_points, dtype=np.float32).T
    scene_is_part = np.asarray(scene_is_part, bool)
    total = np.zeros(len(centers), np.int64)
    part = np.zeros(len(centers), np.int64)
    for index, (center, box_axes, half) in enumerate(zip(centers, axes, half_extents)):
        center, box_axes, half = (np.asarray(v, np.float32) for v in (center, box_axes, half))
        inside = _in_boxes(xyz, center, box_axes, half)
        total[index] = np.count_nonzero(inside)
        part[index] = np.count_nonzero(inside & scene_is_part)
    return total, part
