"""Decode ``sensor_msgs/CompressedImage`` as image_transport writes it: colour (``compressed``)
and depth (``compressedDepth``), without ROS.

``compressed``: ``data`` is a JPEG or PNG; ``format`` is e.g. ``"rgb8; jpeg compressed bgr8"``
or just ``"jpeg"``. The image is returned as uint8 RGB.

``compressedDepth``: ``format`` is ``"<encoding>; compressedDepth [png|rvl]"`` and ``data`` a
12-byte header (int32 format, float32 depthQuantA, float32 depthQuantB) followed by a PNG.
16UC1 depth is the PNG itself (millimetres); 32FC1 depth is stored as quantised inverse
depth: ``depth = depthQuantA / (value - depthQuantB)``, 0 = no depth (NaN).
"""
from __future__ import annotations

import struct

import cv2
import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DEPTH_HEADER = struct.Struct("<iff")  # compressed_depth_image_transport's ConfigHeader


def _bytes(data) -> bytes:
    return data.tobytes() if hasattr(data, "tobytes") else bytes(data)


def decode_compressed_color(data, image_format: str) -> np.ndarray:
    """A ``compressed`` colour image as uint8 RGB (H, W, 3)."""
    pixels = cv2.imdecode(np.frombuffer(_bytes(data), np.uint8), cv2.IMREAD_COLOR)
    if pixels is None:
        raise ValueError(f"cannot decode the CompressedImage (format {image_format!r}, {len(data)} bytes) "
                         "as JPEG or PNG")
    return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)


def depth_encoding(image_format: str) -> str:
    """The depth encoding a ``compressedDepth`` format names (``16UC1`` or ``32FC1``)."""
    encoding = image_format.split(";")[0].strip()
    if encoding not in ("16UC1", "32FC1"):
        raise ValueError(f"compressedDepth format {image_format!r} names encoding {encoding!r}: "
                         "expected 16UC1 (millimetres) or 32FC1 (metres)")
    return encoding


def decode_compressed_depth(data, image_format: str) -> np.ndarray:
    """A ``compressedDepth`` image as uint16 millimetres (16UC1) or float32 metres (32FC1)."""
    raw = _bytes(data)
    encoding = depth_encoding(image_format)
    if "rvl" in image_format.lower():
        raise ValueError(f"compressedDepth format {image_format!r} uses RVL, which is not supported: record with "
                         "the png format (parameter .../compressedDepth/format: png)")
    # The header precedes the PNG; some old recordings have none.
    offset = 0 if raw.startswith(PNG_SIGNATURE) else DEPTH_HEADER.size
    if raw[offset:offset + len(PNG_SIGNATURE)] != PNG_SIGNATURE:
        raise ValueError(f"compressedDepth data ({len(raw)} bytes, format {image_format!r}) holds no PNG after "
                         "its header: the message is damaged or not compressedDepth")
    pixels = cv2.imdecode(np.frombuffer(raw, np.uint8, offset=offset), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.dtype != np.uint16 or pixels.ndim != 2:
        raise ValueError(f"compressedDepth PNG (format {image_format!r}) is not a single-channel 16-bit image")
    if encoding == "16UC1":
        return pixels
    if offset == 0:
        raise ValueError(f"32FC1 compressedDepth (format {image_format!r}) needs its quantisation header")
    _, quant_a, quant_b = DEPTH_HEADER.unpack_from(raw)
    inverse = pixels.astype(np.float32)
    with np.errstate(divide="ignore"):
        depth = np.float32(quant_a) / (inverse - np.float32(quant_b))
    depth[pixels == 0] = np.nan
    return depth.astype(np.float32)


def encode_compressed_depth(depth: np.ndarray, depth_quantization: float = 100.0,
                            depth_max: float = 10.0) -> tuple[bytes, str]:
    """``(data, format)`` of a ``compressedDepth`` message for ``depth`` (uint16 mm or float32 m), as
    compressed_depth_image_transport writes it (PNG; its default quantisation parameters). Used to
    write test recordings."""
    quant_a = depth_quantization * (depth_quantization + 1.0)
    quant_b = 1.0 - quant_a / depth_max
    if depth.dtype == np.uint16:
        ok, png = cv2.imencode(".png", depth)
        header, encoding = DEPTH_HEADER.pack(0, 0.0, 0.0), "16UC1"
    elif depth.dtype == np.float32:
        valid = np.isfinite(depth) & (depth > 0)
        inverse = np.zeros(depth.shape, np.uint16)
        inverse[valid] = np.clip(np.round(quant_a / depth[valid] + quant_b), 1, 65535).astype(np.uint16)
        ok, png = cv2.imencode(".png", inverse)
        header, encoding = DEPTH_HEADER.pack(0, quant_a, quant_b), "32FC1"
    else:
        raise ValueError(f"depth must be uint16 millimetres or float32 metres, got {depth.dtype}")
    if not ok:
        raise ValueError("OpenCV could not encode the depth image as PNG")
    return header + png.tobytes(), f"{encoding}; compressedDepth png"
