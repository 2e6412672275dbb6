"""Grasp filtering: a 6-DoF planner's candidates in, the ones that close on the instructed part out, best first.

numpy and scipy (OpenCV only to draw): no torch, no rclpy. See docs/grasping.md.
"""
from .candidate_files import CandidateSet, read_candidates, write_kept
from .conventions import (
    CONTACT_GRASPNET,
    CONVENTIONS,
    GRASPNET,
    MOVEIT,
    Grasps,
    check_candidates,
    convert_poses,
    grasps_from_poses,
    poses_from_grasps,
)
from .filter_config import SETTINGS, FilterConfig
from .grasp_filter import REJECTIONS, FilterResult, filter_grasps
from .part_scene import PartScene, part_scene_from_depth
from .quaternions import quaternions_from_rotations, rotations_from_quaternions
from .safe_npz import load_npz_safely

__all__ = [
    "CONTACT_GRASPNET",
    "CONVENTIONS",
    "CandidateSet",
    "FilterConfig",
    "FilterResult",
    "GRASPNET",
    "Grasps",
    "MOVEIT",
    "PartScene",
    "REJECTIONS",
    "SETTINGS",
    "check_candidates",
    "convert_poses",
    "filter_grasps",
    "grasps_from_poses",
    "load_npz_safely",
    "part_scene_from_depth",
    "poses_from_grasps",
    "quaternions_from_rotations",
    "read_candidates",
    "rotations_from_quaternions",
    "write_kept",
]
