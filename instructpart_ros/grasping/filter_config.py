"""The grasp filter's settings: one table of names, defaults and descriptions.

The same table gives :class:`FilterConfig`'s fields, the ``grasp_filter_node`` parameters
and the ``instructpart grasps filter`` options, so the three never drift apart.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields
from typing import Any, Mapping, NamedTuple, Tuple

import numpy as np

from .conventions import DEFAULT_TCP_OFFSET


class Setting(NamedTuple):
    name: str
    default: Any
    description: str


SETTINGS: Tuple[Setting, ...] = (
    Setting("max_anchor_distance", 0.010, "G1: the grasp's anchor must lie within this many metres of a part point"),
    Setting("region_depth", 0.020, "G2: length (m) along the approach of the box the jaws close on"),
    Setting("region_width_margin", 0.010, "G2: the box is the grasp width plus this (m) along the closing axis"),
    Setting("region_thickness", 0.020, "G2: length (m) of the box along the jaws' third axis"),
    Setting("min_part_share", 0.5, "G2: smallest share of the box's scene points that must be part points"),
    Setting("min_part_points", 5, "G2: fewest part points the box must hold"),
    Setting("max_width", 0.08, "G3: the gripper's maximum opening (m); wider grasps are rejected (Panda: 0.08)"),
    Setting("min_elongation", 2.0,
            "G4 applies to parts whose first/second principal extent is at least this (elongated parts)"),
    Setting("max_axis_deviation", 60.0,
            "G4: largest angle (degrees) between the closing axis and the plane perpendicular to the major axis"),
    Setting("axis_term", False, "multiply the score by cos(that angle) on elongated parts (prefers square-on grasps)"),
    Setting("nms_translation", 0.03, "non-maximum suppression: grasps closer than this (m) ..."),
    Setting("nms_rotation", 30.0, "... and rotated less than this (degrees) from a better kept one are dropped"),
    Setting("top_k", 10, "keep at most this many grasps, best first (0 = all that pass)"),
    Setting("scene_voxel_size", 0.003,
            "G2 counts scene points down-sampled to one per voxel of this size (m), so near pixels do not dominate "
            "(0 = every pixel)"),
    Setting("tcp_offset", DEFAULT_TCP_OFFSET,
            "moveit convention: distance (m) from the end-effector pose to the fingertips' centre along its z axis"),
    Setting("default_width", 0.08,
            "width (m) given to candidates that come without one (PoseArray, Contact-GraspNet files without "
            "gripper_openings)"),
)
SETTING_NAMES = tuple(setting.name for setting in SETTINGS)
_DEFAULTS = {setting.name: setting.default for setting in SETTINGS}
_POSITIVE = ("region_depth", "region_thickness", "max_width", "default_width", "nms_rotation")
_AT_LEAST_ZERO = ("max_anchor_distance", "region_width_margin", "nms_translation", "scene_voxel_size",
                  "tcp_offset", "min_part_points", "top_k")


@dataclass(frozen=True)
class FilterConfig:
    """Validated filter settings (see :data:`SETTINGS` for what each means)."""

    max_anchor_distance: float = _DEFAULTS["max_anchor_distance"]
    region_depth: float = _DEFAULTS["region_depth"]
    region_width_margin: float = _DEFAULTS["region_width_margin"]
    region_thickness: float = _DEFAULTS["region_thickness"]
    min_part_share: float = _DEFAULTS["min_part_share"]
    min_part_points: int = _DEFAULTS["min_part_points"]
    max_width: float = _DEFAULTS["max_width"]
    min_elongation: float = _DEFAULTS["min_elongation"]
    max_axis_deviation: float = _DEFAULTS["max_axis_deviation"]
    axis_term: bool = _DEFAULTS["axis_term"]
    nms_translation: float = _DEFAULTS["nms_translation"]
    nms_rotation: float = _DEFAULTS["nms_rotation"]
    top_k: int = _DEFAULTS["top_k"]
    scene_voxel_size: float = _DEFAULTS["scene_voxel_size"]
    tcp_offset: float = _DEFAULTS["tcp_offset"]
    default_width: float = _DEFAULTS["default_width"]

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            kind = type(_DEFAULTS[field.name])
            if kind is bool:
                ok = isinstance(value, bool)
            elif kind is int:
                ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
            else:
                ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
            if not ok:
                expected = {bool: "true or false", int: "an integer", float: "a finite number"}[kind]
                raise ValueError(f"grasp filter setting {field.name}={value!r} must be {expected}")
            if kind is float:
                object.__setattr__(self, field.name, float(value))
        for name in _POSITIVE:
            if not getattr(self, name) > 0:
                raise ValueError(f"grasp filter setting {name}={getattr(self, name)!r} must be > 0")
        for name in _AT_LEAST_ZERO:
            if getattr(self, name) < 0:
                raise ValueError(f"grasp filter setting {name}={getattr(self, name)!r} must be >= 0")
        if not 0.0 <= self.min_part_share <= 1.0:
            raise ValueError(f"grasp filter setting min_part_share={self.min_part_share!r} must be in [0, 1]")
        if self.min_elongation < 1.0:
            raise ValueError(f"grasp filter setting min_elongation={self.min_elongation!r} must be >= 1 "
                             "(first/second principal extent)")
        if not 0.0 <= self.max_axis_deviation <= 90.0:
            raise ValueError(f"grasp filter setting max_axis_deviation={self.max_axis_deviation!r} must be "
                             "between 0 and 90 degrees")

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> "FilterConfig":
        """A config from ``{name: value}`` (missing names keep their defaults)."""
        unknown = sorted(set(values) - set(SETTING_NAMES))
        if unknown:
            raise ValueError(f"unknown grasp filter settings {unknown}: known are {list(SETTING_NAMES)}")
        return cls(**values)

    def region_half_extents(self, widths) -> np.ndarray:
        """``(N, 3)`` half-lengths of each grasp's G2 box along (approach, closing, third axis)."""
        widths = np.asarray(widths, dtype=np.float64)
        half = np.empty((len(widths), 3))
        half[:, 0] = self.region_depth / 2.0
        half[:, 1] = (widths + self.region_width_margin) / 2.0
        half[:, 2] = self.region_thickness / 2.0
        return half

    def grid_cell_size(self) -> float:
        """Cell size of the grid G2 counts in: half the box's smaller fixed side (5 mm at least)."""
        return max(min(self.region_depth, self.region_thickness) / 2.0, 0.005)

    def scene_reach(self) -> float:
        """How far from the part a scene point can be and still fall in a box that passes G1 and G3.

        A box's centre lies within ``max_anchor_distance`` of the part, plus half the width
        when the anchor is a contact point at one jaw.
        """
        half_diagonal = 0.5 * math.sqrt(
            self.region_depth ** 2 + (self.max_width + self.region_width_margin) ** 2 + self.region_thickness ** 2)
        return self.max_anchor_distance + self.max_width / 2.0 + half_diagonal
