"""Non-maximum suppression of grasps, as graspnetAPI's ``GraspGroup.nms`` does it.

Best score first, each kept grasp removes every later one whose centre is closer than
``translation`` metres *and* whose rotation differs by less than ``rotation`` radians
(the angle of ``R_a R_b^T``). Both are strict comparisons, like graspnetAPI's. The angle
does not depend on the convention: converting multiplies every rotation on the right by
the same fixed matrix.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def rotation_angles(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Angle (radians) between rotations ``first[i]`` and ``second[i]`` ((N, 3, 3) each)."""
    trace = np.einsum("nij,nij->n", first, second)  # trace(A B^T)
    return np.arccos(np.clip(0.5 * (trace - 1.0), -1.0, 1.0))


def nms_order(centers: np.ndarray, rotations: np.ndarray, scores: np.ndarray, translation: float, rotation: float,
              top_k: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy NMS over grasps; returns ``(kept, suppressed, beyond_top_k)`` index arrays.

    ``kept`` is best first (ties keep the input order); ``suppressed`` are near-duplicates of
    a kept grasp; ``beyond_top_k`` the rest once ``top_k`` (> 0) were kept. Only kept grasps
    look for their near-duplicates (one KD-tree query each), so dense candidates cost no
    pairwise comparison of all of them.
    """
    count = len(scores)
    order = np.argsort(-np.asarray(scores), kind="stable")
    removed = np.zeros(count, bool)
    kept = []
    tree = cKDTree(centers) if count and translation > 0.0 else None
    for index in order:
        if removed[index]:
            continue
        if top_k and len(kept) == top_k:
            break
        kept.append(index)
        if tree is None:
            continue
        near = np.asarray(tree.query_ball_point(centers[index], translation), dtype=np.int64)
        near = near[np.linalg.norm(centers[near] - centers[index], axis=1) < translation]
        same = np.broadcast_to(rotations[index], (len(near), 3, 3))
        removed[near[rotation_angles(rotations[near], same) < rotation]] = True
    kept = np.asarray(kept, np.int64)
    is_kept = np.zeros(count, bool)
    is_kept[kept] = True
    suppressed = np.flatnonzero(removed & ~is_kept)
    beyond = np.flatnonzero(~removed & ~is_kept)
    return kept, suppressed, beyond
