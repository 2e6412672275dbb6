"""An RGB-D frame as arrays (colour, registered depth, calibration), and reading one from files."""
from __future__ import annotations

import pathlib
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from .camera_info_fields import CameraInfoFields, read_camera_info_fields

DEFAULT_FRAME_ID = "camera_color_optical_frame"
# A recorded frame as a folder (shared/data/shapegrasp-knife): colour, registered depth, calibration.
FRAME_FILES = ("color.png", "depth_mm.png", "camera_info.yaml")


@dataclass(frozen=True)
class RgbdImages:
    """One camera frame. ``depth`` is uint16 millimetres or float32 metres, registered to
    ``rgb``; ``depth`` and ``calibration`` are None for a 2D-only frame."""

    rgb: np.ndarray  # (H, W, 3) uint8
    depth: Optional[np.ndarray] = None
    calibration: Optional[CameraInfoFields] = None
    frame_id: str = DEFAULT_FRAME_ID
    stamp_ns: int = 0  # the colour image's header stamp
    depth_stamp_ns: Optional[int] = None  # the depth image's own stamp (None: the colour's)

    @property
    def has_depth(self) -> bool:
        return self.depth is not None and self.calibration is not None

    @property
    def size(self) -> str:
        return f"{self.rgb.shape[1]}x{self.rgb.shape[0]}"


def read_color(path: str | pathlib.Path) -> np.ndarray:
    """A colour image file (anything OpenCV reads) as uint8 RGB."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read the colour image {path}: expected a PNG/JPEG file")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_depth_mm(path: str | pathlib.Path) -> np.ndarray:
    """A single-channel 16-bit PNG of depth in millimetres (0 = no depth)."""
    depth = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if depth is None:
        raise ValueError(f"cannot read the depth image {path}: expected a 16-bit PNG in millimetres")
    if depth.dtype != np.uint16 or depth.ndim != 2:
        raise ValueError(
            f"depth image {path} is {depth.dtype} with shape {depth.shape}: expected a single-channel "
            "16-bit PNG in millimetres (0 = no depth)")
    return depth


def load_rgbd_files(color_path, depth_path=None, calibration_path=None,
                    frame_id: str = DEFAULT_FRAME_ID, stamp_ns: int = 0) -> RgbdImages:
    """Read a colour image, and optionally a millimetre depth PNG and a camera_info YAML,
    checking that they describe one registered frame (same size)."""
    rgb = read_color(color_path)
    height, width = rgb.shape[:2]
    depth = calibration = None
    if depth_path is not None:
        depth = read_depth_mm(depth_path)
        if depth.shape != (height, width):
            raise ValueError(
                f"depth image {depth_path} is {depth.shape[1]}x{depth.shape[0]} but the colour image is "
                f"{width}x{height}: the depth must be registered to the colour image")
    if calibration_path is not None:
        calibration = read_camera_info_fields(calibration_path)
        if (calibration.width, calibration.height) != (width, height):
            raise ValueError(
                f"{calibration_path} is for {calibration.width}x{calibration.height} images but {color_path} "
                f"is {width}x{height}")
    return RgbdImages(rgb, depth, calibration, frame_id, stamp_ns)


def read_rgbd_dir(directory: str | pathlib.Path) -> RgbdImages:
    """:func:`load_rgbd_files` of a frame folder holding ``color.png``, ``depth_mm.png`` and ``camera_info.yaml``."""
    directory = pathlib.Path(directory)
    missing = [name for name in FRAME_FILES if not (directory / name).is_file()]
    if missing:
        raise ValueError(f"frame folder {directory} lacks {', '.join(missing)}: expected {', '.join(FRAME_FILES)} "
                         "(colour, depth in millimetres registered to it, the colour camera's camera_info)")
    return load_rgbd_files(*(directory / name for name in FRAME_FILES))
