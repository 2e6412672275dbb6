"""``sensor_msgs/Image`` fields -> numpy, for any object with Image's fields: an rclpy message,
a rosbags message read from a bag (ROS 2 or ROS 1), or a stand-in. No ROS needed.

Rows are read with ``step`` and ``is_bigendian``; the result is in the encoding's dtype
and channel order, native byte order. Every malformed image raises ``ValueError`` naming
the field, its value and what was expected.
"""
from __future__ import annotations

import cv2
import numpy as np

# encoding -> (dtype, channels)
IMAGE_ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}
# colour encoding -> OpenCV conversion to RGB (None: already RGB)
COLOR_ENCODINGS: dict[str, int | None] = {
    "rgb8": None,
    "bgr8": cv2.COLOR_BGR2RGB,
    "rgba8": cv2.COLOR_RGBA2RGB,
    "bgra8": cv2.COLOR_BGRA2RGB,
    "mono8": cv2.COLOR_GRAY2RGB,
}
# 16-bit depth is millimetres, 32-bit float depth is metres (REP 118).
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")


def image_layout(encoding: str) -> tuple[np.dtype, int]:
    """``(dtype, channels)`` of an Image encoding; ValueError naming the supported ones."""
    try:
        return IMAGE_ENCODINGS[encoding]
    except KeyError:
        raise ValueError(
            f"Image encoding {encoding!r} is not supported: expected one of "
            f"{', '.join(IMAGE_ENCODINGS)}") from None


def image_to_numpy(msg) -> np.ndarray:
    """Pixels of ``msg`` as (H, W) or (H, W, C) in the encoding's dtype and channel order.

    Rows are read with ``step`` (padding dropped) and ``is_bigendian`` is honoured;
    the result is in native byte order and is a view of ``msg.data`` when no byte swap
    is needed.
    """
    dtype, channels = image_layout(msg.encoding)
    dtype = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    row_bytes = msg.width * channels * dtype.itemsize
    if msg.step < row_bytes:
        raise ValueError(
            f"Image step is {msg.step} bytes: expected at least width * channels * "
            f"bytes per channel = {msg.width} * {channels} * {dtype.itemsize} = "
            f"{row_bytes} for encoding {msg.encoding!r}")
    expected = msg.step * msg.height
    if len(msg.data) != expected:
        raise ValueError(
            f"Image data has {len(msg.data)} bytes: expected step * height = "
            f"{msg.step} * {msg.height} = {expected}")
    rows = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.step)[:, :row_bytes]
    shape = (msg.height, msg.width) if channels == 1 else (msg.height, msg.width, channels)
    pixels = rows.view(dtype).reshape(shape)
    return pixels if dtype.isnative else pixels.astype(dtype.newbyteorder("="))


def image_to_rgb(msg) -> np.ndarray:
    """Colour image as C-contiguous (H, W, 3) uint8 RGB (mono8 replicated to 3 channels)."""
    if msg.encoding not in COLOR_ENCODINGS:
        raise ValueError(
            f"Image encoding {msg.encoding!r} is not a colour encoding: expected one of "
            f"{', '.join(COLOR_ENCODINGS)}")
    pixels = image_to_numpy(msg)
    conversion = COLOR_ENCODINGS[msg.encoding]
    if conversion is None:
        return np.ascontiguousarray(pixels)
    if pixels.size == 0:
        return np.zeros((msg.height, msg.width, 3), np.uint8)
    return cv2.cvtColor(pixels, conversion)


def depth_to_numpy(msg) -> np.ndarray:
    """Depth image as (H, W): uint16 millimetres (16UC1, mono16) or float32 metres (32FC1)."""
    if msg.encoding not in DEPTH_ENCODINGS:
        raise ValueError(
            f"Depth image encoding {msg.encoding!r} is not supported: expected one of "
            f"{', '.join(DEPTH_ENCODINGS)} (16-bit millimetres or 32-bit float metres)")
    return image_to_numpy(msg)
