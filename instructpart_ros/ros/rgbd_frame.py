"""RGB-D frames on disk (colour PNG, depth PNG in millimetres, camera_info YAML) and as messages.

Used by the demo, the benchmark and the tests to play a frame to the node.
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from instructpart_ros.geometry.rgbd_files import CameraCalibration, read_camera_info_yaml, read_rgbd_files

from .conversions import numpy_to_image

KNIFE_DIR = "shapegrasp-knife"
DEFAULT_DATA = pathlib.Path("..") / "shared" / "data"


@dataclass(frozen=True)
class RgbdFrame:
    """A colour image, its registered depth and the camera's calibration."""

    rgb: np.ndarray  # (H, W, 3) uint8
    depth_mm: np.ndarray  # (H, W) uint16 millimetres, 0 = no depth
    camera_info: CameraInfo
    frame_id: str = "camera_color_optical_frame"

    def messages(self, stamp_ns: int) -> Tuple[Image, Image, CameraInfo]:
        """Colour (rgb8), depth (16UC1) and camera info messages with equal (not shared) headers."""
        def header() -> Header:
            stamp = Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
            return Header(stamp=stamp, frame_id=self.frame_id)

        camera_info = CameraInfo()
        for slot in CameraInfo.get_fields_and_field_types():
            setattr(camera_info, slot, getattr(self.camera_info, slot))
        camera_info.header = header()
        return (numpy_to_image(self.rgb, "rgb8", header()), numpy_to_image(self.depth_mm, "16UC1", header()),
                camera_info)


def camera_info_from_yaml(path: pathlib.Path) -> CameraInfo:
    """A ``CameraInfo`` from a camera_info YAML (``image_width``, ``k``, ``p``, ...; ROS or flat lists)."""
    return _camera_info(read_camera_info_yaml(path))


def _camera_info(calibration: CameraCalibration) -> CameraInfo:
    info = CameraInfo(width=calibration.width, height=calibration.height,
                      distortion_model=calibration.distortion_model, d=calibration.d)
    for name, values in calibration.matrices.items():
        setattr(info, name, values)
    return info


def load_rgbd_frame(color_png, depth_png, camera_info_yaml, frame_id: Optional[str] = None) -> RgbdFrame:
    """Read a colour PNG (any OpenCV colour file), a uint16 millimetre depth PNG and a camera_info YAML."""
    rgb, depth, calibration = read_rgbd_files(color_png, depth_png, camera_info_yaml)
    frame = RgbdFrame(rgb, depth, _camera_info(calibration))
    return frame if frame_id is None else RgbdFrame(frame.rgb, frame.depth_mm, frame.camera_info, frame_id)


def find_knife_dir(data=None) -> Optional[pathlib.Path]:
    """The ``shapegrasp-knife`` folder (with color.png) under ``data``, else under ../shared/data; or None."""
    for root in (data, DEFAULT_DATA):
        if root and (pathlib.Path(root) / KNIFE_DIR / "color.png").is_file():
            return pathlib.Path(root) / KNIFE_DIR
    return None


def knife_frame(knife_dir) -> RgbdFrame:
    """The real ShapeGrasp knife frame (1280x800) from its folder."""
    knife_dir = pathlib.Path(knife_dir)
    return load_rgbd_frame(knife_dir / "color.png", knife_dir / "depth_mm.png", knife_dir / "camera_info.yaml")
