"""Every perception node parameter: name, default, description, allowed values, and validation.

One table feeds the node's declarations, the launch file's arguments and the docs;
``config/perception.yaml`` repeats the defaults (a test keeps them equal).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields
from typing import Any, Dict, Mapping, Tuple

from instructpart_ros.geometry import PartFilter


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    default: Any
    description: str
    choices: Tuple[Any, ...] = ()


PARAMETERS: Tuple[ParameterSpec, ...] = (
    # Lifecycle and model
    ParameterSpec("autostart", True,
                  "configure and activate on start-up, so the node runs without a lifecycle manager"),
    ParameterSpec("model_kind", "pisa", "which model: pisa (DINOv2 image encoder) or lisa (SAM ViT-H)",
                  ("pisa", "lisa")),
    ParameterSpec("model_checkpoint", "",
                  "local directory of the PISA or LISA checkpoint (hub ids are refused offline)"),
    ParameterSpec("model_vision_tower", "",
                  "local directory of the CLIP ViT-L/14 vision tower (empty = the one the checkpoint names)"),
    ParameterSpec("model_dinov2", "",
                  "local directory of DINOv2 ViT-L/14 (pisa only; empty = the one the checkpoint names)"),
    ParameterSpec("model_device", "cuda", "device the model runs on", ("cuda", "cpu")),
    ParameterSpec("model_dtype", "bfloat16", "model weights' dtype (float32 on CPU)",
                  ("bfloat16", "float16", "float32")),
    ParameterSpec("model_mode", "generate",
                  "generate: the LLM writes its answer; teacher_forced: skip decoding, one forward pass",
                  ("generate", "teacher_forced")),
    ParameterSpec("model_stop_at_seg", True,
                  "generate: stop decoding at the [SEG] token (saves decode steps; the answer then ends at [SEG])"),
    ParameterSpec("model_max_new_tokens", 64,
                  "generate: most tokens the language model writes; no [SEG] within them gives no part"),
    ParameterSpec("model_max_pixels", 4_000_000,
                  "colour frames with more pixels are downscaled (area average) to this many for the model; "
                  "the mask is scaled back and the points keep the full-resolution depth (0 = never)"),
    # Instructions
    ParameterSpec("instruction_mode", "sticky",
                  "sticky: an instruction applies to every new frame until replaced; "
                  "once: one result on the latest frame per instruction", ("sticky", "once")),
    ParameterSpec("reason_every_n", 10,
                  "sticky mode: re-run the language model every n frames, reusing the [SEG] prompt "
                  "in between (1 = every frame, 0 = only when the instruction changes)"),
    ParameterSpec("max_instruction_chars", 500, "longer instructions are rejected with a status"),
    ParameterSpec("initial_instruction", "", "instruction applied from activation on (empty = wait for one)"),
    # Synchronisation and QoS
    ParameterSpec("sync_slop", 0.02, "largest stamp difference (s) between colour, depth and camera info"),
    ParameterSpec("sync_queue_size", 10, "messages per input kept for synchronisation"),
    ParameterSpec("depth_timeout", 2.0,
                  "seconds without depth (or camera info) after which frames are processed 2D-only"),
    ParameterSpec("input_reliability", "best_effort",
                  "image/camera info subscriptions; best_effort matches every publisher, reliable "
                  "gets nothing from best-effort camera drivers", ("best_effort", "reliable")),
    ParameterSpec("input_queue_size", 1, "subscription history depth (1 = latest frame wins)"),
    ParameterSpec("output_reliability", "reliable", "QoS reliability of the result publishers",
                  ("reliable", "best_effort")),
    ParameterSpec("output_queue_size", 1, "history depth of the result publishers"),
    # Part points (instructpart_ros.geometry.PartFilter) and pose
    ParameterSpec("min_depth", 0.1, "part points closer than this (m) are dropped"),
    ParameterSpec("max_depth", 5.0, "part points further than this (m) are dropped"),
    ParameterSpec("erode_px", 2, "erode the mask by this many pixels before back-projection (0 = off)"),
    ParameterSpec("outlier_sigmas", 3.0,
                  "drop points further than this many robust std devs from the median depth (0 = off)"),
    ParameterSpec("outlier_min_band", 0.01, "never drop points within this many metres of the median depth"),
    ParameterSpec("voxel_size", 0.0, "keep one point per voxel of this size (m) in part_points (0 = off)"),
    ParameterSpec("pose_voxel_size", 0.005, "voxel size (m) of the samples the pose and axes are fitted to"),
    ParameterSpec("pose_min_points", 10, "fewer samples than this give no pose (status says so)"),
    # Outputs and diagnostics
    ParameterSpec("publish_markers", True, "publish centroid, axes and box on markers"),
    ParameterSpec("publish_overlay", False, "publish the mask drawn over the colour image on debug/overlay"),
    ParameterSpec("publish_segmap", False,
                  "publish part_segmap (mono16, 0 background / 1 part): Contact-GraspNet's segmentation input"),
    ParameterSpec("diagnostics_period", 1.0, "seconds between /diagnostics messages"),
    ParameterSpec("bad_input_log_period", 10.0, "bad input is logged once per kind per this many seconds"),
)
PARAMETER_NAMES = tuple(spec.name for spec in PARAMETERS)
_SPECS = {spec.name: spec for spec in PARAMETERS}
_EXPECTED = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}  # by default's type


@dataclass(frozen=True)
class NodeConfig:
    """Validated parameter values (field names are the parameter names)."""

    autostart: bool
    model_kind: str
    model_checkpoint: str
    model_vision_tower: str
    model_dinov2: str
    model_device: str
    model_dtype: str
    model_mode: str
    model_stop_at_seg: bool
    model_max_new_tokens: int
    model_max_pixels: int
    instruction_mode: str
    reason_every_n: int
    max_instruction_chars: int
    initial_instruction: str
    sync_slop: float
    sync_queue_size: int
    depth_timeout: float
    input_reliability: str
    input_queue_size: int
    output_reliability: str
    output_queue_size: int
    min_depth: float
    max_depth: float
    erode_px: int
    outlier_sigmas: float
    outlier_min_band: float
    voxel_size: float
    pose_voxel_size: float
    pose_min_points: int
    publish_markers: bool
    publish_overlay: bool
    publish_segmap: bool
    diagnostics_period: float
    bad_input_log_period: float

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> "NodeConfig":
        """Check and convert parameter values (missing ones take their defaults)."""
        unknown = sorted(set(values) - set(PARAMETER_NAMES))
        if unknown:
            raise ValueError(f"unknown perception node parameters {unknown}: known are {list(PARAMETER_NAMES)}")
        converted = {}
        for field in fields(cls):
            spec = _SPECS[field.name]
            converted[field.name] = convert_parameter(spec, values.get(field.name, spec.default))
        config = cls(**converted)
        config._check_ranges()
        config.part_filter()  # PartFilter checks the depth range and the rest
        return config

    def part_filter(self) -> PartFilter:
        try:
            return PartFilter(
                min_depth=self.min_depth, max_depth=self.max_depth, erode_px=self.erode_px,
                outlier_sigmas=self.outlier_sigmas, outlier_min_band=self.outlier_min_band,
                voxel_size=self.voxel_size,
            )
        except ValueError as error:
            raise ValueError(f"invalid part filter parameters: {error}") from None

    def model_arguments(self) -> Dict[str, Any]:
        """Keyword arguments for ``instructpart_ros.model.load_segmenter`` (empty paths: the checkpoint's own)."""
        if not self.model_checkpoint:
            raise ValueError(
                f"parameter model_checkpoint is empty: point it at the local {self.model_kind.upper()} checkpoint "
                "directory, e.g. model_checkpoint:=/data/weights/PISA (no weights ship with the package)"
            )
        return dict(
            kind=self.model_kind, checkpoint=self.model_checkpoint, vision_tower=self.model_vision_tower or None,
            dinov2=self.model_dinov2 or None, device=self.model_device, dtype=self.model_dtype,
            stop_at_seg=self.model_stop_at_seg, max_new_tokens=self.model_max_new_tokens,
        )

    def _check_ranges(self) -> None:
        minimums = {
            "model_max_new_tokens": 1, "reason_every_n": 0, "max_instruction_chars": 1, "sync_queue_size": 1,
            "input_queue_size": 1, "output_queue_size": 1, "pose_min_points": 3, "model_max_pixels": 0,
        }
        for name, minimum in minimums.items():
            if getattr(self, name) < minimum:
                raise ValueError(f"parameter {name}={getattr(self, name)} must be >= {minimum}")
        for name in ("sync_slop", "pose_voxel_size"):
            if not getattr(self, name) >= 0.0:
                raise ValueError(f"parameter {name}={getattr(self, name)} must be >= 0")
        for name in ("depth_timeout", "diagnostics_period", "bad_input_log_period"):
            if not getattr(self, name) > 0.0:
                raise ValueError(f"parameter {name}={getattr(self, name)} must be > 0 seconds")


def parameter_from_text(name: str, text: str, specs: Tuple[ParameterSpec, ...] = PARAMETERS,
                        node: str = "perception node") -> Any:
    """A launch argument's text as the parameter's type (``"0.05"`` -> 0.05, ``"true"`` -> True).

    ``specs`` and ``node`` name another node's parameter table (the grasp filter node's).
    """
    by_name = {spec.name: spec for spec in specs}
    if name not in by_name:
        raise ValueError(f"unknown {node} parameter {name!r}: known are {list(by_name)}")
    return value_from_text(by_name[name], text)


def value_from_text(spec: ParameterSpec, text: str) -> Any:
    """A launch argument's text as ``spec``'s type; ValueError naming the argument."""
    name, kind = spec.name, type(spec.default)
    try:
        if kind is bool:
            return {"true": True, "false": False}[text.strip().lower()]
        return kind(text)
    except (KeyError, ValueError):
        raise ValueError(f"launch argument {name}:={text!r} must be {_EXPECTED[kind]}") from None


def convert_parameter(spec: ParameterSpec, value: Any) -> Any:
    """``value`` checked against ``spec`` (type, choices) and converted to its type."""
    kind = type(spec.default)
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ValueError(
            f"parameter {spec.name}={value!r} must be {_EXPECTED[kind]} (default {spec.default!r}): {spec.description}"
        )
    value = kind(value)
    if spec.choices and value not in spec.choices:
        raise ValueError(f"parameter {spec.name}={value!r} is not supported: use one of {list(spec.choices)}")
    return value
