"""Synchronised colour/depth/camera info messages -> checked numpy arrays and intrinsics.

Every problem becomes a ``BadInput`` carrying its kind (counted on /diagnostics) and a
message that names the field, the value and the fix.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from instructpart_ros.geometry import Intrinsics
from instructpart_ros.geometry.depth_image import valid_depth
from instructpart_ros.image_size import check_image_size

from . import node_health as kinds
from .conversions import camera_info_to_intrinsics, depth_to_numpy, image_to_rgb


class BadInput(Exception):
    """A message the node cannot use; ``kind`` is one of ``node_health.BAD_INPUT_KINDS``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class DecodedFrame:
    rgb: np.ndarray  # (H, W, 3) uint8
    depth: Optional[np.ndarray]  # (H, W) uint16 mm or float32 m; None: 2D only
    intrinsics: Optional[Intrinsics]  # None: 2D only


def decode_color(color) -> np.ndarray:
    try:
        rgb = image_to_rgb(color)
    except ValueError as error:
        raise BadInput(kinds.COLOR_IMAGE, f"colour image: {error}") from None
    if rgb.size == 0:
        raise BadInput(
            kinds.COLOR_IMAGE,
            f"colour image is empty ({color.width}x{color.height}): expected a camera frame",
        )
    try:
        check_image_size(*rgb.shape[:2])
    except ValueError as error:
        raise BadInput(kinds.COLOR_IMAGE, f"colour image: {error}") from None
    return rgb


def decode_frame(color, depth=None, camera_info=None) -> DecodedFrame:
    """Decode one synchronised frame; depth and camera info are optional (2D only without both)."""
    rgb = decode_color(color)
    if depth is None or camera_info is None:
        return DecodedFrame(rgb, None, None)
    try:
        depth_array = depth_to_numpy(depth)
    except ValueError as error:
        raise BadInput(kinds.DEPTH_IMAGE, f"depth image: {error}") from None
    if depth_array.shape != rgb.shape[:2]:
        raise BadInput(
            kinds.SIZE_MISMATCH,
            f"depth image is {depth.width}x{depth.height} but the colour image is {color.width}x{color.height}: "
            "depth must be registered to colour (e.g. RealSense align_depth.enable:=true)",
        )
    if depth.header.frame_id != color.header.frame_id:
        raise BadInput(
            kinds.FRAME_MISMATCH,
            f"depth frame_id {depth.header.frame_id!r} differs from colour frame_id {color.header.frame_id!r}: "
            "subscribe to the depth image registered to colour (e.g. aligned_depth_to_color/image_raw)",
        )
    if not valid_depth(depth_array).any():
        raise BadInput(
            kinds.DEPTH_INVALID,
            f"depth image ({depth.encoding}) has no valid pixel: every value is 0, negative, NaN or inf; "
            "check the depth camera (covered lens, out of range)",
        )
    return DecodedFrame(rgb, depth_array, decode_intrinsics(camera_info, color))


def decode_intrinsics(camera_info, color) -> Intrinsics:
    try:
        intrinsics = camera_info_to_intrinsics(camera_info)
    except ValueError as error:
        raise BadInput(kinds.CAMERA_INFO, f"camera info: {error}") from None
    if (camera_info.width, camera_info.height) != (color.width, color.height):
        raise BadInput(
            kinds.CAMERA_INFO,
            f"camera info is for {camera_info.width}x{camera_info.height} images but the colour image is "
            f"{color.width}x{color.height}: subscribe to the camera info of the colour stream",
        )
    return intrinsics
