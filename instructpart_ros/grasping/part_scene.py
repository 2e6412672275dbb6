"""The part a grasp must close on and the scene points around it: what the gates measure against.

``part_points`` are the part's 3D points (G1's KD-tree); ``major_axis`` and ``elongation``
come from its principal axes and extent (G4); the scene points near the part, each
labelled part or not by the part mask, are what G2 counts in the region the jaws close on.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy.spatial import cKDTree

from instructpart_ros.geometry import (
    Intrinsics,
    PartFilter,
    as_intrinsics,
    backproject,
    extract_part_points,
    part_geometry,
    voxel_first_indices,
)
from instructpart_ros.geometry.depth_image import check_depth_image, check_mask, metres_per_unit
from instructpart_ros.geometry.part_filter import in_depth_range

from .filter_config import FilterConfig
from .region_count import SceneGrid


@dataclass(frozen=True)
class PartScene:
    """The part (points, major axis, elongation) and the labelled scene points near it."""

    part_points: np.ndarray  # (N, 3)
    major_axis: Optional[np.ndarray]  # (3,) unit, None when the part has no principal axes
    elongation: float  # first / second principal extent (1 when unknown)
    scene_points: np.ndarray  # (M, 3)
    scene_is_part: np.ndarray  # (M,) bool

    def __post_init__(self) -> None:
        for name in ("part_points", "scene_points"):
            points = np.asarray(getattr(self, name))
            if points.ndim != 2 or points.shape[1] != 3 or not np.isfinite(points).all():
                raise ValueError(f"{name} must be a finite (N, 3) array, got shape {points.shape}")
        if np.shape(self.scene_is_part) != (len(self.scene_points),):
            raise ValueError(f"scene_is_part has shape {np.shape(self.scene_is_part)}: expected one label per "
                             f"scene point ({len(self.scene_points)},)")

    @functools.cached_property
    def part_tree(self) -> cKDTree:
        # Unbalanced, uncompacted: builds twice as fast, and queries on a part are no slower.
        return cKDTree(self.part_points, balanced_tree=False, compact_nodes=False)

    def prepare(self, config: FilterConfig) -> "PartScene":
        """Build the part's KD-tree (G1) and the scene grid (G2) now, once per frame rather than in the
        first filter call; returns the scene."""
        _ = self.part_tree
        self.scene_grid(config.grid_cell_size())
        return self

    def scene_grid(self, cell_size: float) -> SceneGrid:
        """The scene points in a grid of ``cell_size`` cells (built once per size)."""
        grids = self.__dict__.setdefault("_grids", {})
        if cell_size not in grids:
            grids[cell_size] = SceneGrid(self.scene_points, self.scene_is_part, cell_size)
        return grids[cell_size]


def major_axis_and_elongation(axes, extent) -> tuple[Optional[np.ndarray], float]:
    """The first principal axis (column 0 of ``axes``) and extent[0] / extent[1] (inf for a line)."""
    extent = np.asarray(extent, dtype=np.float64)
    if not np.isfinite(extent).all() or extent[0] <= 0.0:
        return None, 1.0
    axis = np.asarray(axes, dtype=np.float64)[:, 0]
    return axis / np.linalg.norm(axis), float(extent[0] / extent[1]) if extent[1] > 0 else float("inf")


def part_scene_from_depth(
    depth: np.ndarray,
    intrinsics,
    part_mask: np.ndarray,
    config: FilterConfig = FilterConfig(),
    part_points: Optional[np.ndarray] = None,
    part_axes: Optional[np.ndarray] = None,
    part_extent: Optional[np.ndarray] = None,
    part_filter: PartFilter = PartFilter(),
    depth_scale: Optional[float] = None,
) -> PartScene:
    """The part and its scene from a registered depth image and the part mask (bool, depth-sized).

    ``part_points`` default to ``extract_part_points(depth, intrinsics, part_mask, part_filter)``;
    ``part_axes`` and ``part_extent`` to their ``part_geometry``. The scene is every valid
    depth pixel within ``config.scene_reach()`` of the part's bounding box (the only ones a
    box that passes G1 and G3 can hold), one per ``config.scene_voxel_size`` voxel, labelled
    by ``part_mask``. The part's KD-tree and the scene grid are built here (:meth:`PartScene.prepare`).
    """
    depth = check_depth_image(depth)
    part_mask = check_mask(part_mask, depth.shape)
    intrinsics = as_intrinsics(intrinsics)
    if part_points is None:
        part_points = extract_part_points(depth, intrinsics, part_mask, part_filter, depth_scale).points
    part_points = np.asarray(part_points)
    if part_axes is None or part_extent is None:
        geometry = part_geometry(part_points) if len(part_points) else None
        part_axes, part_extent = (geometry.axes, geometry.extent) if geometry is not None else (np.eye(3), [np.nan] * 3)
    major_axis, elongation = major_axis_and_elongation(part_axes, part_extent)
    scene_points, scene_is_part = _scene_near(depth, intrinsics, part_mask, part_points, config, depth_scale)
    return PartScene(part_points, major_axis, elongation, scene_points, scene_is_part).prepare(config)


def _scene_near(depth, intrinsics: Intrinsics, part_mask, part_points, config: FilterConfig, depth_scale):
    """Labelled scene points near the part: in the image window and depth range of the part's
    axis-aligned box grown by ``config.scene_reach()``."""
    if len(part_points) == 0:
        return np.zeros((0, 3), np.float32), np.zeros(0, bool)
    reach = config.scene_reach()
    low, high = part_points.min(axis=0) - reach, part_points.max(axis=0) + reach
    rows, cols = _image_window(intrinsics, depth.shape, low, high)
    window = np.ascontiguousarray(depth[rows, cols])
    scale = metres_per_unit(window, depth_scale)
    near = in_depth_range(window, max(low[2], 0.0) / scale, high[2] / scale)  # raw units: no conversion pass
    shifted = Intrinsics(intrinsics.fx, intrinsics.fy, intrinsics.cx - cols.start, intrinsics.cy - rows.start)
    points, pixels = backproject(window, shifted, near, depth_scale, return_pixels=True)
    labels = np.ascontiguousarray(part_mask[rows, cols]).reshape(-1)[pixels]
    if config.scene_voxel_size > 0.0:
        keep = voxel_first_indices(points, config.scene_voxel_size)
        points, labels = points[keep], labels[keep]
    return points, labels


def _image_window(intrinsics: Intrinsics, shape, low: np.ndarray, high: np.ndarray) -> tuple[slice, slice]:
    """Rows and columns of the image holding every point of the box [low, high] (the whole image
    when the box reaches behind the camera)."""
    height, width = shape
    if low[2] <= 1e-6:
        return slice(0, height), slice(0, width)
    corners = np.array(np.meshgrid(*zip(low, high), indexing="ij")).reshape(3, -1)
    u = intrinsics.fx * corners[0] / corners[2] + intrinsics.cx
    v = intrinsics.fy * corners[1] / corners[2] + intrinsics.cy
    # Pixel centres sit at integer coordinates: widen by one pixel for rounding.
    u0, u1 = int(max(np.floor(u.min()) - 1, 0)), int(min(np.ceil(u.max()) + 2, width))
    v0, v1 = int(max(np.floor(v.min()) - 1, 0)), int(min(np.ceil(v.max()) + 2, height))
    return slice(v0, max(v0, v1)), slice(u0, max(u0, u1))
