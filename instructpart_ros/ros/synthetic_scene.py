"""Synthetic RGB-D frames: a knife on a table for a demo without any data files, and `instructpart synth`
scenes as frames to play to the node."""
from __future__ import annotations

import cv2
import numpy as np
from sensor_msgs.msg import CameraInfo

from .rgbd_frame import RgbdFrame

WIDTH, HEIGHT = 640, 480
FOCAL = 525.0  # pixels: a typical 640x480 RGB-D camera
TABLE_MM = 600
HANDLE_MM = 585  # the handle is thicker than the blade, so closer to the camera
BLADE_MM = 594


def synthetic_knife_frame() -> RgbdFrame:
    """A 640x480 frame of a knife on a table, 0.6 m under the camera; depth in mm, registered."""
    rgb = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    rgb[:] = (196, 164, 120)  # light wood
    depth = np.full((HEIGHT, WIDTH), TABLE_MM, np.uint16)
    # Wood grain, so the image is not flat colour.
    rows = np.arange(HEIGHT)[:, None]
    rgb[:] = np.clip(rgb.astype(np.int16) - (8 * np.sin(rows / 6.0)).astype(np.int16)[..., None], 0, 255)

    handle = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.rectangle(handle, (140, 220), (290, 262), 255, thickness=-1)
    blade = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.fillPoly(blade, [np.array([(290, 224), (520, 230), (545, 246), (290, 258)], np.int32)], 255)
    rgb[handle > 0] = (70, 40, 25)  # dark wooden handle
    rgb[blade > 0] = (185, 190, 198)  # steel
    depth[handle > 0] = HANDLE_MM
    depth[blade > 0] = BLADE_MM
    depth[:, :24] = 0  # the usual invalid band at the left edge of a stereo depth camera

    info = CameraInfo(width=WIDTH, height=HEIGHT, distortion_model="plumb_bob", d=[0.0] * 5)
    cx, cy = (WIDTH - 1) / 2.0, (HEIGHT - 1) / 2.0
    info.k = [FOCAL, 0.0, cx, 0.0, FOCAL, cy, 0.0, 0.0, 1.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [FOCAL, 0.0, cx, 0.0, 0.0, FOCAL, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return RgbdFrame(rgb, depth, info)


def synth_scene_frame(scene) -> RgbdFrame:
    """A ``instructpart synth`` scene (``datasets.synthetic_scenes.SyntheticScene``) as an RGB-D frame."""
    from instructpart_ros.datasets.camera_info_fields import CameraInfoFields

    from .conversions import calibration_to_camera_info

    k = scene.intrinsics
    height, width = scene.depth_mm.shape
    fields = CameraInfoFields(width=width, height=height, k=(k.fx, 0.0, k.cx, 0.0, k.fy, k.cy, 0.0, 0.0, 1.0),
                              d=(0.0,) * 5, r=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)).with_projection_from_k()
    return RgbdFrame(scene.rgb, scene.depth_mm, calibration_to_camera_info(fields))
