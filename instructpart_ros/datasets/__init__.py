"""Datasets beyond the InstructPart reader: synthetic RGB-D part scenes and depth files.

numpy, OpenCV, PIL and PyYAML only: no torch, no rclpy. See docs/synthetic_data.md.
"""
from .rgbd_files import CameraCalibration, depth_path, read_camera_info, read_depth
from .synthetic_instructions import PART_SEMANTICS, PartAnnotation
from .synthetic_objects import OBJECT_NAMES
from .synthetic_scenes import SceneConfig, SyntheticScene, object_parts, render_scene, scene_stem
from .synthetic_split import SplitExistsError, SplitSummary, write_split

__all__ = [
    "CameraCalibration", "depth_path", "read_camera_info", "read_depth",
    "PART_SEMANTICS", "PartAnnotation", "OBJECT_NAMES",
    "SceneConfig", "SyntheticScene", "object_parts", "render_scene", "scene_stem",
    "SplitExistsError", "SplitSummary", "write_split",
]
