"""Unit quaternions ``(x, y, z, w)`` (ROS order) <-> rotation matrices, with the checks poses need."""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

UNIT_TOLERANCE = 1e-3  # |norm - 1| accepted (float32 round trips), then normalised


def rotations_from_quaternions(quaternions) -> np.ndarray:
    """``(N, 3, 3)`` rotations of ``(N, 4)`` quaternions; ``ValueError`` naming the first bad one."""
    quaternions = np.asarray(quaternions, dtype=np.float64)
    if quaternions.ndim != 2 or quaternions.shape[1] != 4:
        raise ValueError(f"orientations have shape {quaternions.shape}: expected (N, 4) quaternions x, y, z, w")
    if len(quaternions) == 0:
        return np.zeros((0, 3, 3))
    finite = np.isfinite(quaternions).all(axis=1)
    if not finite.all():
        index = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"candidate {index}: orientation {quaternions[index].tolist()} contains NaN or inf")
    norms = np.linalg.norm(quaternions, axis=1)
    bad = np.abs(norms - 1.0) > UNIT_TOLERANCE
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise ValueError(f"candidate {index}: orientation {quaternions[index].tolist()} is not a unit quaternion "
                         f"(norm {norms[index]:.4g}): the rotation is not orthonormal; send x, y, z, w with norm 1")
    return Rotation.from_quat(quaternions / norms[:, None]).as_matrix()


def quaternions_from_rotations(rotations) -> np.ndarray:
    """``(N, 4)`` quaternions ``(x, y, z, w)`` of ``(N, 3, 3)`` rotation matrices."""
    rotations = np.asarray(rotations, dtype=np.float64)
    if len(rotations) == 0:
        return np.zeros((0, 4))
    return Rotation.from_matrix(rotations).as_quat()
