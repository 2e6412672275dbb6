"""Part points -> centroid, principal axes and oriented box: a grasp-ready pose."""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

from .voxel import check_voxel_size, voxel_means

PROJECTION_CHUNK = 16384  # points per chunk in projected_bounds
# No depth sensor measures a part this far away: points beyond it come from impossible
# intrinsics or a wrong depth unit, and a pose from them would look valid but be nonsense.
MAX_POINT_DISTANCE_M = 10_000.0


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
    """Return ``points`` as a finite ``(N, 3)`` float array within ``MAX_POINT_DISTANCE_M`` of the
    camera on every axis, else raise ``ValueError``."""
    array = np.asarray(points)
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f"points must be an (N, 3) array, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float64)
    if len(array) == 0:
        return array
    low, high = array.min(), array.max()  # NaN propagates; two reductions, no (N, 3) temporary
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(
            "points contain NaN or inf; back-project with backproject/extract_part_points, "
            "which drop invalid depth"
        )
    farthest = max(-float(low), float(high))
    if farthest > MAX_POINT_DISTANCE_M:
        raise ValueError(
            f"points reach {farthest:.3g} m from the camera, beyond the {MAX_POINT_DISTANCE_M:g} m any depth "
            "sensor measures: check the intrinsics (principal point, focal length) and the depth unit"
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


def projected_bounds(points: np.ndarray, origin: np.ndarray, axes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-axis minimum and maximum of ``axes.T @ (point - origin)`` over all points (float64)."""
    low, high = np.full(3, np.inf), np.full(3, -np.inf)
    # In chunks: the float64 temporaries stay in the cache, and each product stays below
    # the size at which OpenBLAS starts threads, which cost more than they save on a busy
    # 2-core machine (5-8 ms instead of 1 for 284k points).
    for start in range(0, len(points), PROJECTION_CHUNK):
        offsets = points[start:start + PROJECTION_CHUNK].T.astype(np.float64, order="C")
        offsets -= origin[:, None]
        projected = axes.T @ offsets  # (3, n): row reductions are the fast ones
        np.minimum(low, projected.min(axis=1), out=low)
        np.maximum(high, projected.max(axis=1), out=high)
    return low, high


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
    low, high = projected_bounds(points, centroid, axes)
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
