"""Parallel-jaw grasp conventions (graspnet, contact_graspnet, moveit) and the physical grasp they describe.

A planner's pose says where its gripper frame is; which of that frame's axes is the
approach and which the closing direction, and how far the jaws' centre sits from the
frame's origin, depend on the planner. :class:`Grasps` holds what the gates need in
physical terms (approach, closing axis, the centre between the fingertips, the anchor
point, width, score), so one physical grasp gets one decision whatever its convention.
See docs/grasping.md for the figure and the table of conventions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

GRASPNET = "graspnet"
CONTACT_GRASPNET = "contact_graspnet"
MOVEIT = "moveit"
CONVENTIONS = (GRASPNET, CONTACT_GRASPNET, MOVEIT)

# Contact-GraspNet's gripper frame origin -> the fingertips' baseline, along R[:, 2] (its build_6d_grasp).
CONTACT_GRASPNET_DEPTH = 0.1034
# A Franka hand's flange frame (panda_hand) -> its fingertip centre (panda_hand_tcp), along R[:, 2].
DEFAULT_TCP_OFFSET = 0.1034
ORTHONORMAL_TOLERANCE = 1e-3

# R_convention = R_canonical @ AXES[convention], where R_canonical's columns are
# (approach, closing, approach x closing): graspnet's own frame.
AXES = {
    GRASPNET: np.eye(3),
    # columns (closing, approach x closing, approach)
    CONTACT_GRASPNET: np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
    # columns (closing x approach, closing, approach)
    MOVEIT: np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]]),
}


@dataclass(frozen=True)
class Grasps:
    """Grasps in physical terms, each array with one row per candidate (float64, metres).

    ``approach``: unit vector the gripper moves along to reach the object; ``closing``: unit
    vector the jaws close along (perpendicular to ``approach``); ``center``: the point midway
    between the fingertips; ``anchor``: the point that must lie on the part (``center``, or
    the planner's contact point when it gives one); ``widths``: jaw opening; ``scores``:
    the planner's confidence.
    """

    approach: np.ndarray
    closing: np.ndarray
    center: np.ndarray
    anchor: np.ndarray
    widths: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.widths)

    @property
    def binormal(self) -> np.ndarray:
        """The third axis of the jaws, ``approach x closing``."""
        return np.cross(self.approach, self.closing)

    @property
    def rotations(self) -> np.ndarray:
        """``(N, 3, 3)`` rotations with columns (approach, closing, binormal): graspnet's frame."""
        return np.stack([self.approach, self.closing, self.binormal], axis=2)

    def take(self, indices) -> "Grasps":
        """The grasps at ``indices``, in that order."""
        return Grasps(*(getattr(self, name)[indices] for name in self.__dataclass_fields__))


def check_convention(convention: str) -> str:
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown grasp convention {convention!r}: use one of {list(CONVENTIONS)}")
    return convention


def centre_offset(convention: str, tcp_offset: float = DEFAULT_TCP_OFFSET) -> float:
    """Distance from the pose's origin to the fingertips' centre along the approach axis."""
    return {GRASPNET: 0.0, CONTACT_GRASPNET: CONTACT_GRASPNET_DEPTH, MOVEIT: float(tcp_offset)}[
        check_convention(convention)]


def check_candidates(rotations, translations, widths, scores, contacts=None) -> tuple:
    """Check candidate arrays; returns them as float64 arrays, or raises ``ValueError`` naming
    the first bad candidate by its index (lengths, NaN, non-orthonormal rotations, widths <= 0)."""
    rotations = _array(rotations, "rotations", (3, 3))
    translations = _array(translations, "translations", (3,))
    widths = _array(widths, "widths", ())
    scores = _array(scores, "scores", ())
    arrays = {"rotations": rotations, "translations": translations, "widths": widths, "scores": scores}
    if contacts is not None:
        arrays["contact points"] = contacts = _array(contacts, "contact points", (3,))
    lengths = {name: len(values) for name, values in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"candidate arrays differ in length: {lengths}; give one row per candidate in each")
    if lengths["widths"] == 0:
        raise ValueError("no grasp candidates: the input holds 0 grasps")
    for name, values in arrays.items():
        finite = np.isfinite(values.reshape(len(values), -1)).all(axis=1)
        if not finite.all():
            index = int(np.flatnonzero(~finite)[0])
            raise ValueError(f"candidate {index}: {name} contain NaN or inf ({values[index].tolist()})")
    error = np.abs(np.einsum("nji,njk->nik", rotations, rotations) - np.eye(3)).max(axis=(1, 2))
    bad = error > ORTHONORMAL_TOLERANCE
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"candidate {index}: rotation is not orthonormal (largest |R^T R - I| entry {error[index]:.3g}, "
            f"tolerance {ORTHONORMAL_TOLERANCE}): {rotations[index].round(4).tolist()}")
    mirrored = np.linalg.det(rotations) < 0.0
    if mirrored.any():
        index = int(np.flatnonzero(mirrored)[0])
        raise ValueError(f"candidate {index}: rotation has determinant -1 (a reflection, not a rotation): "
                         "one of its axes is flipped")
    for name, values, fix in (("width", widths, "the jaw opening in metres, > 0"),
                              ("score", scores, "a confidence >= 0; rescale logits, e.g. with a sigmoid")):
        bad = values <= 0.0 if name == "width" else values < 0.0
        if bad.any():
            index = int(np.flatnonzero(bad)[0])
            raise ValueError(f"candidate {index}: {name} is {values[index]:g}: expected {fix}")
    return rotations, translations, widths, scores, contacts


def _array(values, name: str, row_shape: tuple) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"candidate {name} must be numbers, got {type(values).__name__}") from None
    if array.ndim != 1 + len(row_shape) or array.shape[1:] != row_shape:
        expected = "(N" + "".join(f", {size}" for size in row_shape) + ")"
        raise ValueError(f"candidate {name} have shape {array.shape}: expected {expected}")
    return array


def grasps_from_poses(
    rotations,
    translations,
    widths,
    scores,
    convention: str,
    contacts: Optional[np.ndarray] = None,
    tcp_offset: float = DEFAULT_TCP_OFFSET,
) -> Grasps:
    """Physical grasps from poses in ``convention`` (checked with :func:`check_candidates`).

    ``contacts`` (Contact-GraspNet's contact points) become the anchors when given.
    """
    check_convention(convention)
    rotations, translations, widths, scores, contacts = check_candidates(
        rotations, translations, widths, scores, contacts)
    canonical = rotations @ AXES[convention].T
    approach, closing = canonical[:, :, 0], canonical[:, :, 1]
    center = translations + centre_offset(convention, tcp_offset) * approach
    anchor = center if contacts is None else contacts
    return Grasps(approach, closing, center, anchor, widths, scores)


def poses_from_grasps(grasps: Grasps, convention: str, tcp_offset: float = DEFAULT_TCP_OFFSET):
    """``(rotations (N, 3, 3), translations (N, 3))`` of ``grasps`` in ``convention``."""
    rotations = grasps.rotations @ AXES[check_convention(convention)]
    translations = grasps.center - centre_offset(convention, tcp_offset) * grasps.approach
    return rotations, translations


def convert_poses(rotations, translations, source: str, target: str, tcp_offset: float = DEFAULT_TCP_OFFSET):
    """The same physical grasps' poses in another convention: ``(rotations, translations)``."""
    rotations = np.asarray(rotations, dtype=np.float64)
    count = len(rotations)
    grasps = grasps_from_poses(rotations, translations, np.ones(count), np.ones(count), source, tcp_offset=tcp_offset)
    return poses_from_grasps(grasps, target, tcp_offset)
