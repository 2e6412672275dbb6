"""Depth images and camera calibration stored beside an InstructPart-layout split.

A split with depth (``instructpart synth`` writes one) holds, next to ``images/`` and
``masks/``::

    depth/<sample id>.png    uint16 millimetres, 0 = no measurement, registered to the image
    camera_info.yaml         sensor_msgs/CameraInfo fields (image_width, image_height, k, p, ...)

``read_depth(sample)`` and ``read_camera_info(sample)`` take the samples
``evaluation.dataset.load_split`` returns, so training, evaluation and replay read one
sample the same way.
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass

import numpy as np
import yaml

from ..geometry import Intrinsics
from .camera_info_fields import read_camera_info_fields
from .rgbd_images import read_depth_mm

DEPTH_DIR = "depth"
CAMERA_INFO_FILE = "camera_info.yaml"


@dataclass(frozen=True)
class CameraCalibration:
    """Image size and pinhole intrinsics of a split's camera."""

    width: int
    height: int
    intrinsics: Intrinsics


def sample_split_folder(sample) -> pathlib.Path:
    """The split folder of a sample (the one holding ``images/``)."""
    return pathlib.Path(sample.image_path).parent.parent


def depth_path(sample) -> pathlib.Path:
    """Where a sample's depth image lives: ``<split>/depth/<sample id>.png``."""
    return sample_split_folder(sample) / DEPTH_DIR / f"{sample.id}.png"


def read_depth(sample) -> np.ndarray:
    """The sample's depth as uint16 millimetres (H, W), 0 where there is no measurement."""
    path = depth_path(sample)
    if not path.is_file():
        raise ValueError(f"sample {sample.id}: no depth image {path}; this split has no depth "
                         f"(only splits written by instructpart synth have {DEPTH_DIR}/)")
    try:
        return read_depth_mm(path)
    except ValueError as error:
        raise ValueError(f"sample {sample.id}: {error}") from None


def camera_info_document(calibration: CameraCalibration, camera_name: str) -> dict:
    """The sensor_msgs/CameraInfo fields of a distortion-free pinhole camera, as YAML data."""
    k = calibration.intrinsics
    return {
        "image_width": calibration.width,
        "image_height": calibration.height,
        "camera_name": camera_name,
        "distortion_model": "plumb_bob",
        "d": [0.0] * 5,
        "k": [k.fx, 0.0, k.cx, 0.0, k.fy, k.cy, 0.0, 0.0, 1.0],
        "r": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        "p": [k.fx, 0.0, k.cx, 0.0, 0.0, k.fy, k.cy, 0.0, 0.0, 0.0, 1.0, 0.0],
    }


def write_camera_info(path: pathlib.Path, calibration: CameraCalibration, camera_name: str,
                      comment: str = "") -> None:
    """Write ``camera_info.yaml`` (``comment`` lines go on top as YAML comments)."""
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    body = yaml.safe_dump(camera_info_document(calibration, camera_name), sort_keys=False,
                          default_flow_style=None, width=1000)
    pathlib.Path(path).write_text(header + body)


def read_camera_info(source) -> CameraCalibration:
    """The calibration in a ``camera_info.yaml``: give the file, its split folder, or a sample."""
    if hasattr(source, "image_path"):
        source = sample_split_folder(source)
    path = pathlib.Path(source)
    if path.is_dir():
        path = path / CAMERA_INFO_FILE
    if not path.is_file():
        raise ValueError(f"{path} does not exist: this split has no camera calibration "
                         "(only splits written by instructpart synth have one)")
    fields = read_camera_info_fields(path)
    try:
        intrinsics = fields.intrinsics()
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error
    return CameraCalibration(fields.width, fields.height, intrinsics)
