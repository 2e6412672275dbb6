"""Keep the grasps that close on the part, best first: the gates, the new score, NMS and top-k.

Gates, in the order they are applied (cheapest first; a candidate is rejected by the
first it fails and keeps that gate's name):

- ``G1_anchor``: the anchor lies within ``max_anchor_distance`` of the nearest part point;
- ``G3_width``: the width is at most the gripper's ``max_width``;
- ``G4_axis``: on an elongated part, the closing axis deviates at most
  ``max_axis_deviation`` degrees from the plane perpendicular to the part's major axis;
- ``G2_part_share``: of the scene points in the box the jaws close on, at least
  ``min_part_share`` and at least ``min_part_points`` are part points.

Score = planner score x part share (x cos(axis deviation) with ``axis_term``); then
``nms`` (graspnetAPI's) and ``top_k``. Nothing passing gives an empty result and a
reason, never a fallback to grasps off the part.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from .conventions import Grasps
from .filter_config import FilterConfig
from .nms import nms_order
from .part_scene import PartScene

G1_ANCHOR = "G1_anchor"
G2_PART_SHARE = "G2_part_share"
G3_WIDTH = "G3_width"
G4_AXIS = "G4_axis"
NMS = "nms"
TOP_K = "top_k"
REJECTIONS = (G1_ANCHOR, G3_WIDTH, G4_AXIS, G2_PART_SHARE, NMS, TOP_K)  # in the order they are applied
WHY = {
    G1_ANCHOR: "anchor too far from the part",
    G3_WIDTH: "wider than the gripper opens",
    G4_AXIS: "closing along the part's major axis",
    G2_PART_SHARE: "too little of the part between the jaws",
    NMS: "near-duplicate of a better grasp",
    TOP_K: "beyond top_k",
}


@dataclass(frozen=True)
class FilterResult:
    """The decision on every input candidate (arrays in input order) and the kept ones, best first."""

    kept: np.ndarray  # input indices, best first
    rejected_by: List[Optional[str]]  # per candidate: None when kept, else the gate
    scores: np.ndarray  # new score (NaN where G2 was not reached)
    part_share: np.ndarray  # G2's part share (NaN where G2 was not reached)
    part_points: np.ndarray  # G2's part point count (-1 where G2 was not reached)
    anchor_distance: np.ndarray  # metres from the anchor to the nearest part point (inf without part points)
    axis_deviation: np.ndarray  # degrees from perpendicular to the major axis (NaN when G4 does not apply)
    reason: str  # why nothing was kept ("" when something was)

    def report(self) -> list:
        """One JSON-ready entry per input candidate, in input order."""
        entries = []
        for index, gate in enumerate(self.rejected_by):
            entries.append({
                "index": index,
                "kept": gate is None,
                "rejected_by": gate,
                "part_share": _number(self.part_share[index]),
                "part_points": None if self.part_points[index] < 0 else int(self.part_points[index]),
                "anchor_distance": _number(self.anchor_distance[index]),
                "axis_deviation": _number(self.axis_deviation[index]),
                "score": _number(self.scores[index]),
            })
        return entries


def _number(value) -> Optional[float]:
    return float(value) if np.isfinite(value) else None


def filter_grasps(grasps: Grasps, part: PartScene, config: FilterConfig = FilterConfig()) -> FilterResult:
    """Apply the gates, score, NMS and top-k to ``grasps`` against ``part`` (see the module docstring)."""
    count = len(grasps)
    rejected = np.full(count, None, dtype=object)
    scores = np.full(count, np.nan)
    share = np.full(count, np.nan)
    part_points = np.full(count, -1, np.int64)
    if len(part.part_points) == 0:
        distance = np.full(count, np.inf)
    else:
        distance, _ = part.part_tree.query(grasps.anchor, distance_upper_bound=np.inf)
    deviation = _axis_deviation(grasps, part, config)

    open_ = np.ones(count, bool)
    for gate, fails in ((G1_ANCHOR, ~(distance <= config.max_anchor_distance)),
                        (G3_WIDTH, grasps.widths > config.max_width),
                        (G4_AXIS, deviation > config.max_axis_deviation)):
        _reject(rejected, open_, fails, gate)

    reached = np.flatnonzero(open_)
    if len(reached):
        grid = part.scene_grid(config.grid_cell_size())
        total, inside = grid.count_in_boxes(grasps.center[reached], grasps.rotations[reached],
                                            config.region_half_extents(grasps.widths[reached]))
        share[reached] = np.divide(inside, total, out=np.zeros(len(reached)), where=total > 0)
        part_points[reached] = inside
        axis_factor = np.cos(np.radians(np.nan_to_num(deviation[reached]))) if config.axis_term else 1.0
        scores[reached] = grasps.scores[reached] * share[reached] * axis_factor
        fails = np.zeros(count, bool)
        fails[reached] = (share[reached] < config.min_part_share) | (inside < config.min_part_points)
        _reject(rejected, open_, fails, G2_PART_SHARE)

    passed = np.flatnonzero(open_)
    kept, suppressed, beyond = nms_order(
        grasps.center[passed], grasps.rotations[passed], scores[passed], config.nms_translation,
        np.radians(config.nms_rotation), config.top_k)
    rejected[passed[suppressed]] = NMS
    rejected[passed[beyond]] = TOP_K
    kept = passed[kept]
    reason = "" if len(kept) else _nothing_kept_reason(rejected, part, config)
    return FilterResult(kept, list(rejected), scores, share, part_points, distance, deviation, reason)


def _reject(rejected: np.ndarray, open_: np.ndarray, fails: np.ndarray, gate: str) -> None:
    newly = open_ & fails
    rejected[newly] = gate
    open_ &= ~fails


def _axis_deviation(grasps: Grasps, part: PartScene, config: FilterConfig) -> np.ndarray:
    """Degrees between each closing axis and the plane perpendicular to the major axis (NaN: not elongated)."""
    if part.major_axis is None or part.elongation < config.min_elongation:
        return np.full(len(grasps), np.nan)
    along = np.clip(np.abs(grasps.closing @ part.major_axis), 0.0, 1.0)
    return np.degrees(np.arcsin(along))


def _nothing_kept_reason(rejected: np.ndarray, part: PartScene, config: FilterConfig) -> str:
    if len(rejected) == 0:
        return "no grasp candidates to filter"
    if len(part.part_points) == 0:
        return f"the part has no 3D points, so no grasp can be on it ({len(rejected)} candidates rejected)"
    counts = {gate: int(np.count_nonzero(rejected == gate)) for gate in REJECTIONS}
    details = ", ".join(f"{counts[gate]} by {gate} ({WHY[gate]})" for gate in REJECTIONS if counts[gate])
    return f"no grasp on the part: all {len(rejected)} candidates were rejected: {details}"
