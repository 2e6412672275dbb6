"""Part points -> centroid, principal axes and oriented box: a grasp-ready pose."""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

from .voxel import check_voxel_size, voxel_means


@dataclass(frozen=True)
class PartGeometry:
    """Pose and size of a part in the camera optical frame (metres).

    ``axes`` is a rotation matrix whose columns are the part's x (largest variance),
    y and z (least variance, pointing towards the camera) axes, right-handed.
    ``extent`` is the size of the oriented box along those axes, centred at
    ``box_center`` (``centroid`` is the mean point, which may sit off the box centre).
    ``ok`` is False when there were too few points; then ``reason`` says why, and the
    centroid, box centre and extent are NaN and the axes the identity.
    """

    ok: bool
    reason: str
    centroid: np.ndarray = field(default_factory=lambda: np.full(3, np.nan))
    axes: np.ndarray = field(default_factory=lambda: np.eye(3))
    extent: np.ndarray = field(default_factory=lambda: np.full(3, np.nan))
    box_center: np.ndarray = field(default_factory=lambda: np.full(3, np.nan))
    num_points: int = 0
    num_samples: int = 0

    @property
    def quaternion(self) -> np.ndarray:
        """The orientation of ``axes`` as a unit quaternion ``(x, y, z, w)``."""
        return Rotation.from_matrix(self.axes).as_quat()


def check_points(points) -> np.ndarray:
    """Return ``points`` as a finite ``(N, 3)`` float array, else raise ``ValueError``."""
    array = np.asarray(points)
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f"points must be an (N, 3) array, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError(
            "points contain NaN or inf; back-project with backproject/extract_part_points, "
            "which drop invalid depth"
        )
    return array


def principal_axes(samples: np.ndarray) -> np.ndarray:
    """Right-handed axes (columns) by decreasing variance, z towards the camera at the origin,
    x with a non-negative image-right component (so the result is deterministic)."""
    centroid = samples.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov(samples, rowvar=False))  # ascending eigenvalues
    x, z = vectors[:, 2], vectors[:, 0]
    if np.dot(z, centroid) > 0.0:  # the camera is at the origin: z must point back at it
        z = -z
    if x[0] < 0.0 or (x[0] == 0.0 and x[1] < 0.0):
        x = -x
    return np.column_stack([x, np.cross(z, x), z])


def part_geometry(points, voxel_size: float = 0.005, min_points: int = 10) -> PartGeometry:
    """Centroid, principal axes and oriented-box extent of a part's ``(N, 3)`` points.

    Centroid and axes come from a copy down-sampled to ``voxel_size`` metres (voxel means;
    0 = off) so that dense near pixels do not dominate; the box extent covers all points.
    Fewer than ``min_points`` samples give ``ok=False`` with a ``reason``, not an exception.
    """
    points = check_points(points)
    voxel_size = check_voxel_size(voxel_size)
    if isinstance(min_points, bool) or not isinstance(min_points, numbers.Integral) or min_points < 3:
        raise ValueError(f"min_points must be an integer >= 3 (a 3D pose needs 3 points), got {min_points!r}")
    samples = voxel_means(points, voxel_size)
    if len(samples) < min_points:
        return PartGeometry(
            ok=False,
            reason=(
                f"too few points: {len(points)} points in {len(samples)} voxels of {voxel_size} m, "
                f"need at least {min_points}"
            ),
            num_points=len(points),
            num_samples=len(samples),
        )
    centroid = samples.mean(axis=0)
    axes = principal_axes(samples)
    projected = axes.T @ (points - centroid).T  # (3, N): row reductions are the fast ones
    low, high = projected.min(axis=1), projected.max(axis=1)
    return PartGeometry(
        ok=True,
        reason="",
        centroid=centroid,
        axes=axes,
        extent=high - low,
        box_center=centroid + axes @ ((low + high) / 2.0),
        num_points=len(points),
        num_samples=len(samples),
    )
