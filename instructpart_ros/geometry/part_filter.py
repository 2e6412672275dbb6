"""The filters that turn a part mask on a depth image into a clean point set."""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import cv2
import numpy as np

from .voxel import check_voxel_size

MAD_TO_SIGMA = 1.4826  # median absolute deviation -> standard deviation of a normal


@dataclass(frozen=True)
class PartFilter:
    """Filter parameters for ``extract_part_points`` (each maps to one node parameter).

    - ``min_depth``/``max_depth``: keep points with ``min_depth <= z <= max_depth`` metres.
    - ``erode_px``: erode the mask by this many pixels first (edge pixels often carry
      background depth); 0 = off.
    - ``outlier_sigmas``: drop points whose depth is more than this many robust standard
      deviations (1.4826 * median absolute deviation) from the part's median depth; 0 = off.
    - ``outlier_min_band``: never drop points within this many metres of the median, so a
      flat part (deviation near 0) keeps its real depth noise.
    - ``voxel_size``: keep one measured point per voxel of this size in metres; 0 = off.
    """

    min_depth: float = 0.1
    max_depth: float = 5.0
    erode_px: int = 2
    outlier_sigmas: float = 3.0
    outlier_min_band: float = 0.01
    voxel_size: float = 0.0

    def __post_init__(self) -> None:
        for name in ("min_depth", "max_depth", "outlier_sigmas", "outlier_min_band"):
            value = getattr(self, name)
            is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
            if not is_number or math.isnan(value) or value < 0:
                raise ValueError(f"PartFilter.{name} must be a number >= 0, got {value!r}")
        if math.isinf(self.min_depth) or self.max_depth <= self.min_depth:
            raise ValueError(
                f"PartFilter depth range is empty: min_depth={self.min_depth}, max_depth={self.max_depth}; "
                "max_depth must be greater than min_depth (use inf for no upper limit)"
            )
        is_integer = isinstance(self.erode_px, numbers.Integral) and not isinstance(self.erode_px, bool)
        if not is_integer or self.erode_px < 0:
            raise ValueError(f"PartFilter.erode_px must be an integer >= 0 (pixels), got {self.erode_px!r}")
        check_voxel_size(self.voxel_size)


def erode_mask(mask: np.ndarray, erode_px: int) -> np.ndarray:
    """Erode a bool mask by ``erode_px`` pixels (a disc); outside the image counts as background."""
    if erode_px == 0:
        return mask
    size = 2 * int(erode_px) + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    eroded = cv2.erode(
        np.ascontiguousarray(mask).view(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0
    )
    return eroded.view(np.bool_)


def in_depth_range(z: np.ndarray, min_depth: float, max_depth: float) -> np.ndarray:
    """Boolean keep-array: ``min_depth <= z <= max_depth``."""
    return (z >= min_depth) & (z <= max_depth)


def depth_inliers(z: np.ndarray, sigmas: float, min_band: float) -> np.ndarray:
    """Boolean keep-array: depths within ``max(sigmas * robust std, min_band)`` of the median."""
    if sigmas == 0.0 or z.size == 0:
        return np.ones(z.shape, dtype=bool)
    deviation = np.abs(z - np.median(z))
    band = max(sigmas * MAD_TO_SIGMA * float(np.median(deviation)), min_band)
    return deviation <= band
