"""Pinhole camera intrinsics and the coercion every geometry function applies to them."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np

IntrinsicsLike = Union["Intrinsics", np.ndarray, Sequence[float], Sequence[Sequence[float]]]


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels: focal lengths ``fx, fy`` and principal point ``cx, cy``.

    Pixel centres sit at integer ``(u, v)`` (the open3d / depth_image_proc convention).
    Construction validates the values, so an ``Intrinsics`` is always usable.
    """

    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self) -> None:
        for name in ("fx", "fy", "cx", "cy"):
            value = getattr(self, name)
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ValueError(
                    f"intrinsics {name} must be a number, got {value!r}; "
                    "pass fx, fy, cx, cy in pixels"
                ) from None
            if not math.isfinite(number):
                raise ValueError(
                    f"intrinsics {name} must be finite, got {number}; check the camera calibration"
                )
            object.__setattr__(self, name, number)
        for name in ("fx", "fy"):
            if getattr(self, name) <= 0.0:
                raise ValueError(
                    f"intrinsics {name} (focal length) must be > 0 pixels, got {getattr(self, name)}; "
                    "the camera is uncalibrated or the CameraInfo is empty"
                )

    @classmethod
    def from_matrix(cls, matrix) -> "Intrinsics":
        """Read ``fx, fy, cx, cy`` from a 3x3 K or a 3x4 P (nested or flat, as in CameraInfo)."""
        array = np.asarray(matrix, dtype=np.float64)
        if array.size == 9:
            array = array.reshape(3, 3)
        elif array.size == 12:
            array = array.reshape(3, 4)
        else:
            raise ValueError(
                f"camera matrix must be a 3x3 K or a 3x4 P (9 or 12 values), got shape {array.shape}; "
                "pass CameraInfo.k or CameraInfo.p"
            )
        if array[0, 1] != 0.0:
            raise ValueError(
                f"camera matrix has skew K[0,1]={array[0, 1]}, which the pinhole model here does not "
                "support; rectify the image so that K[0,1] is 0"
            )
        if not np.allclose(array[2, :3], (0.0, 0.0, 1.0)) or array[1, 0] != 0.0:
            raise ValueError(
                f"camera matrix is not a pinhole K: rows are {array.tolist()}, expected "
                "[[fx, 0, cx], [0, fy, cy], [0, 0, 1]] (plus a 4th column for P)"
            )
        return cls(fx=array[0, 0], fy=array[1, 1], cx=array[0, 2], cy=array[1, 2])


def as_intrinsics(value: IntrinsicsLike) -> Intrinsics:
    """Accept an ``Intrinsics``, a 3x3 K / 3x4 P, or an ``(fx, fy, cx, cy)`` sequence."""
    if isinstance(value, Intrinsics):
        return value
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"intrinsics must be an Intrinsics, a 3x3 K or (fx, fy, cx, cy), got {value!r}"
        ) from None
    if array.shape == (4,):
        return Intrinsics(*array.tolist())
    if array.shape in ((3, 3), (3, 4)):
        return Intrinsics.from_matrix(array)
    raise ValueError(
        f"intrinsics must be an Intrinsics, a 3x3 K or (fx, fy, cx, cy), got an array of shape "
        f"{array.shape}; use Intrinsics.from_matrix for a flat CameraInfo k/p"
    )
