"""Every grasp filter node parameter: its own (inputs, synchronisation, outputs) and the filter's settings.

One table feeds the node's declarations, the launch file's arguments and the docs;
``config/grasp_filter.yaml`` repeats the defaults (a test keeps them equal). The
filter's settings come from ``instructpart_ros.grasping.SETTINGS``, shared with
``instructpart grasps filter``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Tuple

from instructpart_ros.grasping import CONVENTIONS, SETTINGS, FilterConfig

from .node_parameters import ParameterSpec, convert_parameter

NODE = "grasp filter node"
GRASP_CANDIDATES_INPUT = "grasp_candidates"
POSE_ARRAY_INPUT = "pose_array"

NODE_PARAMETERS: Tuple[ParameterSpec, ...] = (
    ParameterSpec("input_type", GRASP_CANDIDATES_INPUT,
                  "message type read on grasp_candidates: grasp_candidates (instructpart_ros/GraspCandidates, "
                  "carrying its convention) or pose_array (geometry_msgs/PoseArray, in the convention parameter)",
                  (GRASP_CANDIDATES_INPUT, POSE_ARRAY_INPUT)),
    ParameterSpec("convention", "moveit", "gripper axis convention of PoseArray candidates", CONVENTIONS),
    ParameterSpec("sync_slop", 0.05,
                  "largest stamp difference (s) between the candidates, the part segmentation and the depth image"),
    ParameterSpec("sync_queue_size", 30,
                  "depth images and part results kept for matching (the part arrives after its model run)"),
    ParameterSpec("depth_timeout", 2.0,
                  "seconds without depth (or camera info) after which part results are matched without it "
                  "(and rejected: G2 needs the depth)"),
    ParameterSpec("input_reliability", "best_effort",
                  "QoS reliability of the depth and camera info subscriptions (camera drivers often publish "
                  "best effort)", ("best_effort", "reliable")),
    ParameterSpec("publish_markers", True, "publish the gripper outlines on grasp_markers"),
    ParameterSpec("show_rejected", False, "grasp_markers also shows the rejected candidates, in grey"),
    ParameterSpec("diagnostics_period", 1.0, "seconds between /diagnostics messages"),
    ParameterSpec("bad_input_log_period", 10.0, "bad input is logged once per kind per this many seconds"),
)
GRASP_FILTER_PARAMETERS: Tuple[ParameterSpec, ...] = NODE_PARAMETERS + tuple(
    ParameterSpec(setting.name, setting.default, setting.description) for setting in SETTINGS)
GRASP_FILTER_PARAMETER_NAMES = tuple(spec.name for spec in GRASP_FILTER_PARAMETERS)
_SPECS = {spec.name: spec for spec in GRASP_FILTER_PARAMETERS}


@dataclass(frozen=True)
class GraspFilterNodeConfig:
    """Validated parameter values: the node's own, and the filter's as a ``FilterConfig``."""

    input_type: str
    convention: str
    sync_slop: float
    sync_queue_size: int
    depth_timeout: float
    input_reliability: str
    publish_markers: bool
    show_rejected: bool
    diagnostics_period: float
    bad_input_log_period: float
    filter: FilterConfig

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> "GraspFilterNodeConfig":
        """Check and convert parameter values (missing ones take their defaults)."""
        unknown = sorted(set(values) - set(GRASP_FILTER_PARAMETER_NAMES))
        if unknown:
            raise ValueError(f"unknown {NODE} parameters {unknown}: known are {list(GRASP_FILTER_PARAMETER_NAMES)}")
        converted = {name: convert_parameter(spec, values.get(name, spec.default)) for name, spec in _SPECS.items()}
        settings = {setting.name: converted.pop(setting.name) for setting in SETTINGS}
        try:
            filter_config = FilterConfig.from_values(settings)
        except ValueError as error:
            raise ValueError(f"parameter {error}".replace("parameter grasp filter setting ", "parameter ")) from None
        if converted["sync_queue_size"] < 1:
            raise ValueError(f"parameter sync_queue_size={converted['sync_queue_size']} must be >= 1")
        if not (math.isfinite(converted["sync_slop"]) and converted["sync_slop"] >= 0.0):
            raise ValueError(f"parameter sync_slop={converted['sync_slop']} must be >= 0")
        for name in ("depth_timeout", "diagnostics_period", "bad_input_log_period"):
            if not (math.isfinite(converted[name]) and converted[name] > 0.0):
                raise ValueError(f"parameter {name}={converted[name]} must be > 0 seconds")
        return cls(filter=filter_config, **converted)
