"""Grasp messages <-> the grasping library: GraspCandidates / PoseArray in, GraspCandidates and markers out."""
from __future__ import annotations

from typing import Optional

import numpy as np
from geometry_msgs.msg import Point, PoseArray
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from instructpart_ros.grasping import (
    CONVENTIONS,
    Grasps,
    grasps_from_poses,
    rotations_from_quaternions,
)
from instructpart_ros.grasping.gripper_drawing import REJECTED_COLOR, gripper_segments, score_colors
from instructpart_ros.msg import GraspCandidates

KEPT_NAMESPACE = "kept_grasps"
REJECTED_NAMESPACE = "rejected_grasps"
LINE_WIDTH = 0.002  # m


def pose_arrays(poses) -> tuple[np.ndarray, np.ndarray]:
    """``(rotations (N, 3, 3), translations (N, 3))`` of ``geometry_msgs/Pose``s (unit quaternions checked)."""
    translations = np.array([[pose.position.x, pose.position.y, pose.position.z] for pose in poses],
                            dtype=np.float64).reshape(-1, 3)
    quaternions = np.array([[pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w]
                            for pose in poses], dtype=np.float64).reshape(-1, 4)
    return rotations_from_quaternions(quaternions), translations


def grasps_from_message(msg, convention: Optional[str], default_width: float, tcp_offset: float) -> tuple:
    """``(Grasps, convention)`` of a GraspCandidates or a PoseArray (which uses ``convention``).

    GraspCandidates' ``scores`` and ``widths`` may be empty (all 1, all ``default_width``);
    any other length than ``poses``' is an error, as are unknown conventions, NaN, non-unit
    quaternions and widths <= 0 (``ValueError`` naming the candidate index).
    """
    count = len(msg.poses)
    if isinstance(msg, PoseArray):
        scores, widths = np.ones(count), np.full(count, float(default_width))
    else:
        convention = msg.convention
        if convention not in CONVENTIONS:
            raise ValueError(f"GraspCandidates convention is {convention!r}: set it to one of {list(CONVENTIONS)} "
                             "(see docs/grasping.md for their axes)")
        scores = np.asarray(msg.scores, dtype=np.float64) if len(msg.scores) else np.ones(count)
        widths = np.asarray(msg.widths, dtype=np.float64) if len(msg.widths) else np.full(count, float(default_width))
        for name, values in (("scores", msg.scores), ("widths", msg.widths)):
            if len(values) not in (0, count):
                raise ValueError(f"GraspCandidates has {count} poses but {len(values)} {name}: give one per pose "
                                 "(or none)")
    if count == 0:
        raise ValueError("no grasp candidates: the message holds 0 poses")
    rotations, translations = pose_arrays(msg.poses)
    return grasps_from_poses(rotations, translations, widths, scores, convention, tcp_offset=tcp_offset), convention


def filtered_message(msg, convention: str, widths: np.ndarray, kept: np.ndarray, scores: np.ndarray) -> GraspCandidates:
    """GraspCandidates of the ``kept`` poses of ``msg`` (GraspCandidates or PoseArray), as received, best
    first, with the new ``scores`` (one per input candidate) and the widths used."""
    return GraspCandidates(header=msg.header, poses=[msg.poses[index] for index in kept],
                           scores=[float(scores[index]) for index in kept],
                           widths=[float(widths[index]) for index in kept], convention=convention)


def grasp_markers(header: Header, kept: Grasps, scores: np.ndarray, rejected: Optional[Grasps] = None) -> MarkerArray:
    """A DELETEALL, then one LINE_LIST gripper outline per kept grasp (red = lowest to green = highest
    score, the best one thicker) and, with ``rejected``, grey outlines for the rejected ones."""
    markers = [Marker(header=header, action=Marker.DELETEALL)]
    colors = score_colors(scores)
    for index, segments in enumerate(gripper_segments(kept)):
        color = ColorRGBA(r=float(colors[index, 0]), g=float(colors[index, 1]), b=0.0, a=1.0)
        width = 2.5 * LINE_WIDTH if index == 0 else LINE_WIDTH
        markers.append(_outline(header, KEPT_NAMESPACE, index, segments, color, width))
    if rejected is not None:
        grey = ColorRGBA(**dict(zip("rgb", (value / 255.0 for value in REJECTED_COLOR))), a=0.5)
        for index, segments in enumerate(gripper_segments(rejected)):
            markers.append(_outline(header, REJECTED_NAMESPACE, index, segments, grey, LINE_WIDTH))
    return MarkerArray(markers=markers)


def _outline(header, namespace: str, index: int, segments: np.ndarray, color: ColorRGBA, width: float) -> Marker:
    marker = Marker(header=header, ns=namespace, id=index, type=Marker.LINE_LIST, action=Marker.ADD, color=color)
    marker.pose.orientation.w = 1.0
    marker.scale.x = width
    marker.points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in segments.reshape(-1, 3)]
    return marker
