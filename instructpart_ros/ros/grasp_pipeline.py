"""One candidates message + the part segmentation and depth it was matched with -> the filtered grasps.

ROS-free apart from the message types, so the grasp filter node stays a thin adapter and
this is testable in-process. Unusable input raises ``BadInput`` (its kind is counted on
/diagnostics); a part without 3D points is not bad input: nothing can be kept, and the
result says why.
"""
from __future__ import annotations

import collections
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from instructpart_ros.grasping import FilterResult, Grasps, filter_grasps, part_scene_from_depth
from instructpart_ros.grasping.quaternions import rotations_from_quaternions

from .conversions import depth_to_numpy, image_to_numpy, pointcloud2_to_points
from .frame_decoding import BadInput, decode_intrinsics
from .grasp_filter_parameters import GraspFilterNodeConfig
from .grasp_messages import filtered_message, grasps_from_message

# Kinds of bad input, each counted on /diagnostics as bad_input.<kind>.
GRASP_CANDIDATES = "grasp_candidates"  # NaN, non-unit quaternions, widths <= 0, lengths, unknown convention
FRAME_MISMATCH = "frame_mismatch"  # candidates or depth in another frame than the part
PART_SEGMENTATION = "part_segmentation"  # a malformed mask or point cloud
DEPTH_IMAGE = "depth_image"  # missing, unsupported encoding, wrong size
CAMERA_INFO = "camera_info"
UNMATCHED = "unmatched"  # candidates without a part segmentation within sync_slop
BAD_INPUT_KINDS = (GRASP_CANDIDATES, FRAME_MISMATCH, PART_SEGMENTATION, DEPTH_IMAGE, CAMERA_INFO, UNMATCHED)


@dataclass
class FilterOutcome:
    message: object  # GraspCandidates: the kept grasps, best first
    grasps: Grasps  # every input candidate, physically
    result: Optional[FilterResult]  # None when there was no part to filter against
    reason: str  # "" when something was kept
    filter_ms: float


class SceneCache:
    """The prepared scenes of the latest part frames, by message identity: candidate sets matched to
    one part segmentation (a second planner, the service) share its scene instead of rebuilding it."""

    def __init__(self, size: int = 4) -> None:
        self._entries: collections.deque = collections.deque(maxlen=size)

    def scene(self, part, depth, camera_info, config: GraspFilterNodeConfig):
        for entry in self._entries:
            if entry[0] is part and entry[1] is depth and entry[2] is camera_info:
                return entry[3]
        scene = part_scene(part, depth, camera_info, config)
        self._entries.append((part, depth, camera_info, scene))
        return scene


def filter_candidates(candidates, part, depth, camera_info, config: GraspFilterNodeConfig,
                      scenes: Optional[SceneCache] = None) -> FilterOutcome:
    """Filter ``candidates`` (GraspCandidates or PoseArray) to ``part`` (PartSegmentation), with the scene
    from ``depth`` + ``camera_info`` (may be None: a BadInput then says so), reused from ``scenes``."""
    started = time.perf_counter()
    settings = config.filter
    try:
        grasps, convention = grasps_from_message(candidates, config.convention, settings.default_width,
                                                 settings.tcp_offset)
    except ValueError as error:
        raise BadInput(GRASP_CANDIDATES, f"grasp candidates: {error}") from None
    part_frame = part.header.frame_id
    if candidates.header.frame_id != part_frame:
        raise BadInput(FRAME_MISMATCH, (
            f"grasp candidates are in frame {candidates.header.frame_id!r} but the part is in {part_frame!r}: "
            f"publish them in {part_frame!r} (the camera's optical frame; this node does not look up tf2 "
            "transforms)"))

    def outcome(kept, scores, result, reason):
        message = filtered_message(candidates, convention, grasps.widths, kept, scores)
        return FilterOutcome(message, grasps, result, reason, (time.perf_counter() - started) * 1e3)

    if part.num_points == 0:
        reason = f"no part to grasp: the part segmentation has no 3D points (its status: {part.status or 'empty'})"
        return outcome([], np.zeros(len(grasps)), None, reason)
    scene = (scenes or SceneCache()).scene(part, depth, camera_info, config)
    result = filter_grasps(grasps, scene, settings)
    return outcome(result.kept, result.scores, result, result.reason)


def part_scene(part, depth, camera_info, config: GraspFilterNodeConfig):
    """The part (its points, principal axes and extent from the message) and the scene from the depth."""
    if depth is None or camera_info is None:
        missing = "depth image" if depth is None else "camera info"
        raise BadInput(DEPTH_IMAGE if depth is None else CAMERA_INFO, (
            f"no {missing} within sync_slop of the part segmentation's stamp: G2 needs the scene around the part "
            "(check the depth_topic / camera_info_topic remapping, input_reliability and sync_queue_size)"))
    try:
        mask = image_to_numpy(part.mask) > 0
        points, _ = pointcloud2_to_points(part.points)
    except ValueError as error:
        raise BadInput(PART_SEGMENTATION, f"part segmentation: {error}") from None
    try:
        depth_array = depth_to_numpy(depth)
    except ValueError as error:
        raise BadInput(DEPTH_IMAGE, f"depth image: {error}") from None
    if depth_array.shape != mask.shape:
        raise BadInput(DEPTH_IMAGE, (
            f"depth image is {depth.width}x{depth.height} but the part mask is {part.mask.width}x{part.mask.height}: "
            "subscribe to the depth registered to the colour image the part was segmented on"))
    if depth.header.frame_id != part.header.frame_id:
        raise BadInput(FRAME_MISMATCH, (
            f"depth frame_id {depth.header.frame_id!r} differs from the part's {part.header.frame_id!r}: subscribe "
            "to the depth image registered to colour (e.g. aligned_depth_to_color/image_raw)"))
    intrinsics = decode_intrinsics(camera_info, part.mask)
    orientation = part.pose.orientation
    axes = rotations_from_quaternions([[orientation.x, orientation.y, orientation.z, orientation.w]])[0]
    extent = np.array([part.extent.x, part.extent.y, part.extent.z])
    return part_scene_from_depth(depth_array, intrinsics, mask, config.filter, part_points=points, part_axes=axes,
                                 part_extent=extent)
