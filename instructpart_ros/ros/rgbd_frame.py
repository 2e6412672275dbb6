"""RGB-D frames on disk (colour PNG, depth PNG in millimetres, camera_info YAML) and as messages.

Used by the demo, the benchmark and the tests to play a frame to the node.
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass
from typing import Optional, Tuple

import cv2
import numpy as np
import yaml
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from .conversions import numpy_to_image

CAMERA_INFO_MATRICES = {"k": 9, "r": 9, "p": 12}
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
    data = yaml.safe_load(pathlib.Path(path).read_text())
    if not isinstance(data, dict) or "image_width" not in data or "image_height" not in data:
        raise ValueError(f"{path}: not a camera_info YAML: expected image_width, image_height, k or p")
    info = CameraInfo(width=int(data["image_width"]), height=int(data["image_height"]),
                      distortion_model=str(data.get("distortion_model", "plumb_bob")))
    for name, size in CAMERA_INFO_MATRICES.items():
        value = data.get(name, data.get({"k": "camera_matrix", "r": "rectification_matrix",
                                         "p": "projection_matrix"}[name]))
        if isinstance(value, dict):  # camera_calibration_parsers layout: {rows, cols, data}
            value = value.get("data")
        if value is None:
            continue
        if len(value) != size:
            raise ValueError(f"{path}: {name} has {len(value)} values, expected {size}")
        setattr(info, name, [float(v) for v in value])
    distortion = data.get("d", data.get("distortion_coefficients"))
    if isinstance(distortion, dict):
        distortion = distortion.get("data")
    info.d = [float(v) for v in (distortion or [])]
    return info


def load_rgbd_frame(color_png, depth_png, camera_info_yaml, frame_id: Optional[str] = None) -> RgbdFrame:
    """Read a colour PNG (any OpenCV colour file), a uint16 millimetre depth PNG and a camera_info YAML."""
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
    info = camera_info_from_yaml(camera_info_yaml)
    if (info.width, info.height) != (bgr.shape[1], bgr.shape[0]):
        raise ValueError(
            f"{camera_info_yaml} is for {info.width}x{info.height} images but {color_png} is "
            f"{bgr.shape[1]}x{bgr.shape[0]}")
    frame = RgbdFrame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), depth, info)
    return frame if frame_id is None else RgbdFrame(frame.rgb, frame.depth_mm, info, frame_id)


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
