"""Grasps the tests place on the real knife frame, and their poses in each convention.

Each grasp is defined physically (the point midway between the fingertips, approach and
closing directions, width) from the handle's and the blade's own points; its pose in a
convention is then built straight from that convention's definition in docs/grasping.md
(not through the library's converters, which the tests check against it).
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass

import cv2
import numpy as np

from instructpart_ros.geometry import extract_part_points, part_geometry
from instructpart_ros.datasets.rgbd_images import read_rgbd_dir

CONTACT_GRASPNET_DEPTH = 0.1034
TCP_OFFSET = 0.1034
# name -> the gate expected to reject it (None: kept)
EXPECTED = {
    "across_handle": None,
    "on_blade": "G1_anchor",
    "blade_by_handle": "G2_part_share",
    "along_handle": "G4_axis",
    "too_wide": "G3_width",
    "beside_handle": "G1_anchor",
}


@dataclass(frozen=True)
class PhysicalGrasp:
    center: np.ndarray  # midway between the fingertips
    approach: np.ndarray
    closing: np.ndarray
    width: float

    def pose(self, convention: str, tcp_offset: float = TCP_OFFSET):
        """(R, t) of this grasp in ``convention``, from the convention table."""
        a, c = self.approach, self.closing
        if convention == "graspnet":  # approach = R[:,0], closing = R[:,1], anchor = t
            return np.column_stack([a, c, np.cross(a, c)]), self.center.copy()
        if convention == "contact_graspnet":  # closing = R[:,0], approach = R[:,2], t + 0.1034 R[:,2] = centre
            return np.column_stack([c, np.cross(a, c), a]), self.center - CONTACT_GRASPNET_DEPTH * a
        if convention == "moveit":  # approach = R[:,2], closing = R[:,1], t + tcp_offset R[:,2] = centre
            return np.column_stack([np.cross(c, a), c, a]), self.center - tcp_offset * a
        raise ValueError(convention)


@dataclass(frozen=True)
class KnifeFrame:
    rgb: np.ndarray
    depth: np.ndarray
    intrinsics: object
    handle: np.ndarray  # bool mask
    blade: np.ndarray
    handle_points: np.ndarray
    blade_points: np.ndarray
    major_axis: np.ndarray


def load_knife(knife_dir: pathlib.Path) -> KnifeFrame:
    frame = read_rgbd_dir(knife_dir)
    rgb, depth, intrinsics = frame.rgb, frame.depth, frame.calibration.intrinsics()
    handle = cv2.imread(str(knife_dir / "mask_knife_handle.png"), cv2.IMREAD_UNCHANGED) > 0
    blade = cv2.imread(str(knife_dir / "mask_knife_blade.png"), cv2.IMREAD_UNCHANGED) > 0
    handle_points = extract_part_points(depth, intrinsics, handle).points.astype(np.float64)
    blade_points = extract_part_points(depth, intrinsics, blade).points.astype(np.float64)
    major = part_geometry(handle_points).axes[:, 0]
    return KnifeFrame(rgb, depth, intrinsics, handle, blade, handle_points, blade_points, major)


def _surface_point(points: np.ndarray, near: np.ndarray) -> np.ndarray:
    """The point of ``points`` seen closest to ``near`` in the image plane (x, y)."""
    return points[np.argmin(np.linalg.norm(points[:, :2] - near[:2], axis=1))]


def knife_grasps(knife: KnifeFrame) -> dict:
    """The named grasps of EXPECTED: top-down (approach +z, towards the table), closing across the handle."""
    major = knife.major_axis
    approach = np.array([0.0, 0.0, 1.0]) - major * major[2]
    approach /= np.linalg.norm(approach)
    across = np.cross(approach, major)
    handle_middle = _surface_point(knife.handle_points, knife.handle_points.mean(axis=0))
    blade_middle = _surface_point(knife.blade_points, knife.blade_points.mean(axis=0))
    # The handle's edge along `across`, near its middle: "beside" starts 2 cm beyond it.
    near_middle = np.abs((knife.handle_points - handle_middle) @ major) < 0.005
    edge = ((knife.handle_points[near_middle] - handle_middle) @ across).max()
    beside = handle_middle + (edge + 0.02) * across
    # A blade point 6-9 mm from the handle: G1 lets it through, but the jaws hold blade, not handle.
    from scipy.spatial import cKDTree
    distance, _ = cKDTree(knife.handle_points).query(knife.blade_points)
    by_handle = knife.blade_points[np.flatnonzero((distance > 0.006) & (distance < 0.009))[0]]
    return {
        "across_handle": PhysicalGrasp(handle_middle, approach, across, 0.04),
        "on_blade": PhysicalGrasp(blade_middle, approach, across, 0.04),
        "blade_by_handle": PhysicalGrasp(by_handle, approach, across, 0.04),
        "along_handle": PhysicalGrasp(handle_middle, approach, major, 0.04),
        "too_wide": PhysicalGrasp(handle_middle, approach, across, 0.10),
        "beside_handle": PhysicalGrasp(beside, approach, across, 0.04),
    }


def poses(grasps, convention: str, tcp_offset: float = TCP_OFFSET):
    """(rotations (N, 3, 3), translations (N, 3), widths (N,)) of a list of PhysicalGrasp."""
    pairs = [grasp.pose(convention, tcp_offset) for grasp in grasps]
    return (np.stack([rotation for rotation, _ in pairs]), np.stack([translation for _, translation in pairs]),
            np.array([grasp.width for grasp in grasps]))


def rotated_about(axis: np.ndarray, vector: np.ndarray, degrees: float) -> np.ndarray:
    """``vector`` rotated by ``degrees`` about the unit ``axis`` (Rodrigues)."""
    angle = np.radians(degrees)
    return (vector * np.cos(angle) + np.cross(axis, vector) * np.sin(angle)
            + axis * (axis @ vector) * (1 - np.cos(angle)))
