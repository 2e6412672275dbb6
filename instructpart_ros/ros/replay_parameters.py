"""Every ``replay_eval_node`` parameter: name, default, description, allowed values, and the
``ReplayConfig`` they make. One table feeds the node, the launch file and the docs;
``config/replay_eval.yaml`` repeats the defaults (a test keeps them equal)."""
from __future__ import annotations

import pathlib
from typing import Any, Dict, Mapping, Tuple

from instructpart_ros.datasets.rosbag_frames import BagTopics
from instructpart_ros.evaluation.replay_config import SOURCES, ReplayConfig

from .node_parameters import ParameterSpec, convert_parameter

_TOPICS = BagTopics()
REPLAY_PARAMETERS: Tuple[ParameterSpec, ...] = (
    ParameterSpec("source", "instructpart", "what to replay: an InstructPart split, a table-top task set "
                  "(YAML manifest) or a recording (rosbag2 / ROS 1 bag)", SOURCES),
    ParameterSpec("dataset", "", "InstructPart root, task-set manifest (or shipped name, e.g. shapegrasp_knife), "
                  "or a recording / folder of recordings"),
    ParameterSpec("split", "test", "InstructPart split: test, all or trainNNNN"),
    ParameterSpec("instruction", "all", "instruction variants: all, or a comma-separated list "
                  "(InstructPart: human, gpt, op_sentence, opa_sentence, op, opa; task sets: their manifest's)"),
    ParameterSpec("limit", 0, "only the first N samples or tasks (0 = all)"),
    ParameterSpec("out", "replay_output", "output folder: metrics.json, metrics.md, qualitative.png, predictions/, "
                  "results.jsonl (a rerun into it continues an interrupted run)"),
    ParameterSpec("method", "", "name of the model's row in metrics.md (empty = the model kind)"),
    ParameterSpec("qualitative", 4, "best and worst cases shown in qualitative.png"),
    ParameterSpec("perception_node", "perception_node", "name of the perception node to replay to"),
    ParameterSpec("timeout", 30.0, "seconds to wait for each answer before trying again"),
    ParameterSpec("retries", 2, "further tries before a sample is recorded as failed"),
    ParameterSpec("startup_timeout", 120.0, "seconds to wait for the perception node to become active"),
    ParameterSpec("timing", "lockstep", "recordings: lockstep (each frame waits for its result, nothing dropped) "
                  "or realtime (recorded rate x rate, drops counted)", ("lockstep", "realtime")),
    ParameterSpec("rate", 1.0, "realtime: playback speed relative to the recording"),
    ParameterSpec("sync_slop", 0.05, "recordings: largest header-stamp gap (s) pairing a colour image with its depth"),
    ParameterSpec("color_topic", _TOPICS.color, "recordings: colour images (Image, or CompressedImage also found "
                  "at <topic>/compressed)"),
    ParameterSpec("depth_topic", _TOPICS.depth, "recordings: depth registered to colour (Image, or compressedDepth "
                  "at <topic>/compressedDepth)"),
    ParameterSpec("color_info_topic", _TOPICS.color_info, "recordings: the colour camera's CameraInfo"),
    ParameterSpec("depth_info_topic", _TOPICS.depth_info, "recordings: the depth image's CameraInfo (checks that "
                  "depth is registered to colour)"),
    ParameterSpec("instruction_topic", _TOPICS.instruction, "recordings: recorded std_msgs/String instructions"),
    ParameterSpec("annotations", "", "recordings: annotation file (instructions over time, ground-truth masks "
                  "per frame); empty = instructions from instruction_topic"),
    ParameterSpec("write_bag", True, "recordings: write OUT/replay_bag (MCAP of the inputs and the node's results)"),
)
REPLAY_PARAMETER_NAMES = tuple(spec.name for spec in REPLAY_PARAMETERS)
_SPECS = {spec.name: spec for spec in REPLAY_PARAMETERS}


def replay_values(values: Mapping[str, Any]) -> Dict[str, Any]:
    """Check and convert parameter values (missing ones take their defaults)."""
    unknown = sorted(set(values) - set(REPLAY_PARAMETER_NAMES))
    if unknown:
        raise ValueError(f"unknown replay_eval_node parameters {unknown}: known are {list(REPLAY_PARAMETER_NAMES)}")
    return {spec.name: convert_parameter(spec, values.get(spec.name, spec.default)) for spec in REPLAY_PARAMETERS}


def replay_config(values: Mapping[str, Any]) -> ReplayConfig:
    """The :class:`ReplayConfig` the parameter values describe."""
    v = replay_values(values)
    if not v["dataset"]:
        raise ValueError("parameter dataset is empty: point it at the InstructPart root, a task-set manifest or a "
                         "recording")
    topics = BagTopics(color=v["color_topic"], depth=v["depth_topic"], color_info=v["color_info_topic"],
                       depth_info=v["depth_info_topic"], instruction=v["instruction_topic"])
    return ReplayConfig(
        source=v["source"], dataset=pathlib.Path(v["dataset"]), out=pathlib.Path(v["out"]), split=v["split"],
        instruction=v["instruction"], limit=v["limit"] or None, timing=v["timing"], rate=v["rate"], topics=topics,
        annotations=pathlib.Path(v["annotations"]) if v["annotations"] else None, sync_slop=v["sync_slop"],
        timeout=v["timeout"], retries=v["retries"], qualitative=v["qualitative"], method=v["method"],
        write_bag=v["write_bag"], progress=False)
