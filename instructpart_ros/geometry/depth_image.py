"""Checks on depth images and masks, and the depth units implied by the array type."""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

MILLIMETRE = 0.001
FLOAT_DEPTH_TYPES = (np.float32, np.float64)


def check_depth_image(depth) -> np.ndarray:
    """Return ``depth`` as a 2-D array of a supported dtype, else raise ``ValueError``."""
    if not isinstance(depth, np.ndarray):
        raise ValueError(f"depth must be a numpy array, got {type(depth).__name__}")
    if depth.ndim != 2:
        raise ValueError(
            f"depth must be a 2-D HxW image, got shape {depth.shape}; "
            "drop a trailing channel axis with depth[..., 0]"
        )
    if depth.dtype != np.uint16 and depth.dtype not in FLOAT_DEPTH_TYPES:
        raise ValueError(
            f"depth dtype {depth.dtype} is not supported: use uint16 millimetres (16UC1) or "
            "float32/float64 metres (32FC1), or convert it and pass depth_scale"
        )
    return depth


def metres_per_unit(depth: np.ndarray, depth_scale: Optional[float] = None) -> float:
    """Metres per depth unit: ``depth_scale`` if given, else 0.001 for uint16 and 1 for floats."""
    if depth_scale is None:
        return MILLIMETRE if depth.dtype == np.uint16 else 1.0
    try:
        scale = float(depth_scale)
    except (TypeError, ValueError):
        raise ValueError(f"depth_scale must be a number (metres per unit), got {depth_scale!r}") from None
    if not math.isfinite(scale) or scale <= 0.0:
        raise ValueError(
            f"depth_scale must be a finite number > 0 (metres per depth unit, e.g. 0.001 for "
            f"millimetres), got {depth_scale}"
        )
    return scale


def valid_depth(values: np.ndarray) -> np.ndarray:
    """Boolean array: which raw depth values are measurements (not 0, negative, NaN or inf)."""
    if values.dtype == np.uint16:
        return values != 0
    return np.isfinite(values) & (values > 0)


def check_mask(mask, image_shape: tuple) -> np.ndarray:
    """Return ``mask`` if it is a bool array of ``image_shape``, else raise ``ValueError``."""
    if not isinstance(mask, np.ndarray):
        raise ValueError(f"mask must be a numpy bool array, got {type(mask).__name__}")
    if mask.shape != tuple(image_shape):
        raise ValueError(
            f"mask shape {mask.shape} does not match depth shape {tuple(image_shape)}; "
            "the mask must be the size of the (registered) depth image"
        )
    if mask.dtype != np.bool_:
        raise ValueError(
            f"mask must be a bool array, got dtype {mask.dtype}; pass mask > 0 for a 0/1 or 0/255 image"
        )
    return mask
