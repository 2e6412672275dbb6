"""A camera's ``sensor_msgs/CameraInfo`` fields as plain data (no ROS), and the camera_info YAML file.

(``rgbd_files.CameraCalibration`` is the smaller size + intrinsics view a split's camera needs.)"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass, replace
from typing import Tuple

import numpy as np

from instructpart_ros.geometry import Intrinsics

from .yaml_files import read_yaml

MATRIX_SIZES = {"k": 9, "r": 9, "p": 12}
# camera_calibration_parsers' long names for the same matrices
_LONG_NAMES = {"k": "camera_matrix", "r": "rectification_matrix", "p": "projection_matrix",
               "d": "distortion_coefficients"}


@dataclass(frozen=True)
class CameraInfoFields:
    """The fields of a ``sensor_msgs/CameraInfo`` that describe the camera."""

    width: int
    height: int
    k: Tuple[float, ...] = (0.0,) * 9
    d: Tuple[float, ...] = ()
    r: Tuple[float, ...] = (0.0,) * 9
    p: Tuple[float, ...] = (0.0,) * 12
    distortion_model: str = "plumb_bob"

    @classmethod
    def from_message(cls, msg) -> "CameraInfoFields":
        """From any object with CameraInfo's fields (an rclpy, rosbags or ROS 1 message).

        ROS 1 spells the matrices ``K``, ``D``, ``R``, ``P``.
        """
        def field(name):
            value = getattr(msg, name, None)
            return getattr(msg, name.upper()) if value is None else value

        return cls(width=int(msg.width), height=int(msg.height),
                   k=tuple(float(v) for v in field("k")), d=tuple(float(v) for v in field("d")),
                   r=tuple(float(v) for v in field("r")), p=tuple(float(v) for v in field("p")),
                   distortion_model=str(msg.distortion_model))

    @property
    def has_projection(self) -> bool:
        return any(self.p)

    def intrinsics(self) -> Intrinsics:
        """Pinhole intrinsics from ``p``, or ``k`` when ``p`` is all zero (as the node reads them)."""
        return Intrinsics.from_matrix(self.p if self.has_projection else self.k)

    def same_camera_model(self, other: "CameraInfoFields", tolerance: float = 1e-6) -> bool:
        """Whether ``other`` has the same size and K (what depth registered to colour must have)."""
        return (self.width, self.height) == (other.width, other.height) and bool(
            np.allclose(self.k, other.k, rtol=0.0, atol=tolerance))

    def with_projection_from_k(self) -> "CameraInfoFields":
        """A copy whose empty ``p`` is filled from ``k`` (a driver that only filled K)."""
        if self.has_projection:
            return self
        k = self.k
        return replace(self, p=(k[0], k[1], k[2], 0.0, k[3], k[4], k[5], 0.0, k[6], k[7], k[8], 0.0))


def read_camera_info_fields(path: str | pathlib.Path) -> CameraInfoFields:
    """A camera_info YAML: ``image_width``, ``image_height``, ``k``/``p``/``r``/``d`` as flat lists,
    or camera_calibration_parsers' ``camera_matrix: {rows, cols, data}`` layout."""
    path = pathlib.Path(path)
    data = read_yaml(path, "camera_info file")
    if not isinstance(data, dict) or "image_width" not in data or "image_height" not in data \
            or not ({"k", "p", "camera_matrix", "projection_matrix"} & set(data)):
        raise ValueError(f"{path} is not a camera_info YAML: expected image_width, image_height and k or p")
    values = {}
    for name in ("k", "r", "p", "d"):
        value = data.get(name, data.get(_LONG_NAMES[name]))
        if isinstance(value, dict):
            value = value.get("data")
        if value is None:
            continue
        if name in MATRIX_SIZES and len(value) != MATRIX_SIZES[name]:
            raise ValueError(f"{path}: {name} has {len(value)} values, expected {MATRIX_SIZES[name]}")
        values[name] = tuple(float(v) for v in value)
    return CameraInfoFields(width=int(data["image_width"]), height=int(data["image_height"]),
                             distortion_model=str(data.get("distortion_model", "plumb_bob")), **values)
