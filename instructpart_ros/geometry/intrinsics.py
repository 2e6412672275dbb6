"""Pinhole camera intrinsics and the coercion every geometry function applies to them."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np

IntrinsicsLike = Union["Intrinsics", np.ndarray, Sequence[float], Sequence[Sequence[float]]]

# What a pinhole calibration can be for its image (Intrinsics.check_image): a field of view
# of at most 170 degrees (wider lenses are fisheye: rectify first) and at least 0.5 degrees
# (a 1000 mm lens on a full-frame sensor still sees 2 degrees), and a principal point at
# most one image size outside the image (cropped or off-centre calibrations stay inside that).
MAX_FIELD_OF_VIEW_DEG = 170.0
MIN_FIELD_OF_VIEW_DEG = 0.5
PRINCIPAL_POINT_MARGIN = 1.0  # image sizes beyond the image's borders


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
        name = "K" if array.shape == (3, 3) else "P"
        if array[0, 1] != 0.0:
            raise ValueError(
                f"camera matrix has skew {name}[0,1]={array[0, 1]}, which the pinhole model here does not "
                f"support; rectify the image so that {name}[0,1] is 0"
            )
        if not np.allclose(array[2, :3], (0.0, 0.0, 1.0)) or array[1, 0] != 0.0:
            raise ValueError(
                f"camera matrix is not a pinhole K: rows are {array.tolist()}, expected "
                "[[fx, 0, cx], [0, fy, cy], [0, 0, 1]] (plus a 4th column for P)"
            )
        return cls(fx=array[0, 0], fy=array[1, 1], cx=array[0, 2], cy=array[1, 2])

    def field_of_view_deg(self, width: int, height: int) -> tuple[float, float]:
        """Horizontal and vertical field of view in degrees of a ``width`` x ``height`` image."""
        return (math.degrees(2.0 * math.atan(width / (2.0 * self.fx))),
                math.degrees(2.0 * math.atan(height / (2.0 * self.fy))))

    def check_image(self, width: int, height: int) -> "Intrinsics":
        """Return self if it is a plausible calibration of a ``width`` x ``height`` image, else raise.

        Values the pinhole model accepts can still be nonsense for the image (a principal
        point 1e30 px away, a focal length of 1e-300 px) and would put the part's points
        anywhere: the field of view must be between ``MIN_FIELD_OF_VIEW_DEG`` and
        ``MAX_FIELD_OF_VIEW_DEG`` and the principal point within ``PRINCIPAL_POINT_MARGIN``
        image sizes of the image.
        """
        fovs = self.field_of_view_deg(width, height)
        for axis, focal, size, fov in (("x", self.fx, width, fovs[0]), ("y", self.fy, height, fovs[1])):
            if not MIN_FIELD_OF_VIEW_DEG <= fov <= MAX_FIELD_OF_VIEW_DEG:
                raise ValueError(
                    f"focal length f{axis}={focal:g} px gives a {fov:.3g} degree field of view across the "
                    f"{size}-pixel image, outside the {MIN_FIELD_OF_VIEW_DEG:g}-{MAX_FIELD_OF_VIEW_DEG:g} degrees "
                    "of a pinhole camera: check the calibration (pixels, this resolution; rectify fisheye images)"
                )
        for axis, centre, size in (("x", self.cx, width), ("y", self.cy, height)):
            low, high = -PRINCIPAL_POINT_MARGIN * size, (1.0 + PRINCIPAL_POINT_MARGIN) * size
            if not low <= centre <= high:
                raise ValueError(
                    f"principal point c{axis}={centre:g} px lies far outside the {width}x{height} image "
                    f"(expected {low:g} to {high:g}, usually near {size / 2:g}): check the calibration"
                )
        return self


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
