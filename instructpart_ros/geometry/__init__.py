"""Part geometry: part mask + aligned depth -> clean 3D points -> a grasp-ready pose.

numpy, OpenCV (mask erosion) and scipy (quaternions) only: no torch, no rclpy.
See docs/geometry.md.
"""
from .backprojection import RayGrid, backproject, ray_grid
from .intrinsics import Intrinsics, as_intrinsics
from .part_filter import PartFilter, depth_inliers, erode_mask, in_depth_range
from .part_geometry import PartGeometry, part_geometry, principal_axes
from .part_points import FilterCounts, PartPoints, extract_part_points
from .voxel import voxel_first_indices, voxel_means

__all__ = [
    "FilterCounts",
    "Intrinsics",
    "PartFilter",
    "PartGeometry",
    "PartPoints",
    "RayGrid",
    "as_intrinsics",
    "backproject",
    "depth_inliers",
    "erode_mask",
    "extract_part_points",
    "in_depth_range",
    "part_geometry",
    "principal_axes",
    "ray_grid",
    "voxel_first_indices",
    "voxel_means",
]
