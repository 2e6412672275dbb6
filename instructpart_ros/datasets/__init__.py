"""Datasets beyond the InstructPart reader: synthetic RGB-D part scenes and depth files
(docs/synthetic_data.md), and what the replay evaluation plays: RGB-D frames on disk,
table-top task sets (YAML manifests), rosbag2 / ROS 1 recordings (via ``rosbags``) and the
MCAP it writes back (docs/replay_evaluation.md).

numpy, OpenCV, PIL, PyYAML and rosbags only: no torch, no rclpy.
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
