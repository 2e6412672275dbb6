"""RGB-D frames on disk, without ROS: a colour PNG, a depth PNG in millimetres and a camera_info YAML.

``ros/rgbd_frame.py`` turns the same files into messages; ``instructpart grasps filter``
reads them here.
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass
from typing import Dict, List

import cv2
import numpy as np
import yaml

from .intrinsics import Intrinsics

CAMERA_INFO_MATRICES = {"k": 9, "r": 9, "p": 12}
_LONG_NAMES = {"k": "camera_matrix", "r": "rectification_matrix", "p": "projection_matrix"}
FRAME_FILES = ("color.png", "depth_mm.png", "camera_info.yaml")


@dataclass(frozen=True)
class CameraCalibration:
    """The fields of a camera_info YAML (``sensor_msgs/CameraInfo`` without the header)."""

    width: int
    height: int
    distortion_model: str
    d: List[float]
    matrices: Dict[str, List[float]]  # "k", "r", "p" when given

    def intrinsics(self) -> Intrinsics:
        """Pinhole intrinsics from ``p``, else ``k`` (as the node reads CameraInfo)."""
        for name in ("p", "k"):
            values = self.matrices.get(name)
            if values and any(values):
                return Intrinsics.from_matrix(values)
        raise ValueError("camera_info has neither a non-zero p nor k: the camera is uncalibrated")


def read_camera_info_yaml(path) -> CameraCalibration:
    """Read a camera_info YAML (``image_width``, ``k``, ``p``, ...; ROS flat lists or
    camera_calibration_parsers' ``{rows, cols, data}``)."""
    data = yaml.safe_load(pathlib.Path(path).read_text())
    if not isinstance(data, dict) or "image_width" not in data or "image_height" not in data:
        raise ValueError(f"{path}: not a camera_info YAML: expected image_width, image_height, k or p")
    matrices = {}
    for name, size in CAMERA_INFO_MATRICES.items():
        value = data.get(name, data.get(_LONG_NAMES[name]))
        if isinstance(value, dict):  # camera_calibration_parsers layout: {rows, cols, data}
            value = value.get("data")
        if value is None:
            continue
        if len(value) != size:
            raise ValueError(f"{path}: {name} has {len(value)} values, expected {size}")
        matrices[name] = [float(v) for v in value]
    distortion = data.get("d", data.get("distortion_coefficients"))
    if isinstance(distortion, dict):
        distortion = distortion.get("data")
    return CameraCalibration(int(data["image_width"]), int(data["image_height"]),
                             str(data.get("distortion_model", "plumb_bob")),
                             [float(v) for v in (distortion or [])], matrices)


def read_rgbd_files(color_png, depth_png, camera_info_yaml):
    """``(rgb (H, W, 3) uint8, depth (H, W) uint16 millimetres, CameraCalibration)``, checked to fit together."""
    bgr = cv2.imread(str(color_png), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read the colour image {color_png}: expected a PNG/JPEG file")
    depth = cv2.imread(str(depth_png), cv2.IMREAD_UNCHANGED)
    if depth is None:
        raise ValueError(f"cannot read the depth image {depth_png}: expected a 16-bit PNG in millimetres")
    if depth.dtype != np.uint16 or depth.ndim != 2:
        raise ValueError(
            f"depth image {depth_png} is {depth.dtype} with shape {depth.shape}: expected a single-channel "
            "16-bit PNG in millimetres (0 = no depth)")
    if depth.shape != bgr.shape[:2]:
        raise ValueError(
            f"depth image {depth_png} is {depth.shape[1]}x{depth.shape[0]} but the colour image is "
            f"{bgr.shape[1]}x{bgr.shape[0]}: the depth must be registered to the colour image")
    calibration = read_camera_info_yaml(camera_info_yaml)
    if (calibration.width, calibration.height) != (bgr.shape[1], bgr.shape[0]):
        raise ValueError(
            f"{camera_info_yaml} is for {calibration.width}x{calibration.height} images but {color_png} is "
            f"{bgr.shape[1]}x{bgr.shape[0]}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), depth, calibration


def read_rgbd_dir(directory):
    """:func:`read_rgbd_files` of a folder holding color.png, depth_mm.png and camera_info.yaml."""
    directory = pathlib.Path(directory)
    missing = [name for name in FRAME_FILES if not (directory / name).is_file()]
    if missing:
        raise ValueError(f"frame folder {directory} lacks {', '.join(missing)}: expected {', '.join(FRAME_FILES)} "
                         "(colour, depth in millimetres registered to it, the colour camera's camera_info)")
    return read_rgbd_files(*(directory / name for name in FRAME_FILES))
