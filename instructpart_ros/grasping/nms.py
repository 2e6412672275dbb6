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
    a kept grasp; ``beyond_top_k`` the rest once ``top_k`` (> 0) were kept.
    """
    order = np.argsort(-scores, kind="stable")
    count = len(order)
    neighbours = _near_duplicates(centers, rotations, translation, rotation)
    removed = np.zeros(count, bool)
    kept, beyond = [], []
    for index in order:
        if removed[index]:
            continue
        if top_k and len(kept) == top_k:
            beyond.append(index)
            continue
        kept.append(index)
        removed[neighbours[index]] = True
    suppressed = np.setdiff1d(np.flatnonzero(removed), kept, assume_unique=True)
    return np.asarray(kept, np.int64), suppressed, np.asarray(beyond, np.int64)


def _near_duplicates(centers, rotations, translation: float, rotation: float) -> list:
    """For each grasp, the others within both thresholds (strictly)."""
    count = len(centers)
    if count == 0 or translation <= 0.0:
        return [np.zeros(0, np.int64)] * count
    pairs = cKDTree(centers).query_pairs(translation, output_type="ndarray")
    first, second = pairs[:, 0], pairs[:, 1]
    close = np.linalg.norm(centers[first] - centers[second], axis=1) < translation
    close &= rotation_angles(rotations[first], rotations[second]) < rotation
    first, second = first[close], second[close]
    sources = np.concatenate([first, second])
    targets = np.concatenate([second, first])
    order = np.argsort(sources, kind="stable")
    bounds = np.searchsorted(sources[order], np.arange(count + 1))
    targets = targets[order]
    return [targets[bounds[i]:bounds[i + 1]] for i in range(count)]
