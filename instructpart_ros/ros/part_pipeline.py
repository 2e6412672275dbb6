"""One frame + one instruction -> a ``PartSegmentation``: decode, segment, back-project, fit a pose.

ROS-free apart from the message types, so the node stays a thin adapter and this is
testable in-process.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict, Optional

import cv2
import numpy as np

from instructpart_ros.geometry import PartGeometry, extract_part_points, part_geometry
from instructpart_ros.image_size import MIN_IMAGE_SIDE

from . import node_health as kinds
from .frame_decoding import BadInput, DecodedFrame, decode_frame
from .instruction_policy import InferencePlan
from .node_parameters import NodeConfig
from .result_message import NO_POINTS, part_result

OK = "ok"


def model_image(rgb: np.ndarray, max_pixels: int) -> np.ndarray:
    """``rgb`` area-averaged down to at most ``max_pixels`` (aspect kept), or ``rgb`` itself if it fits (or 0).

    The encoders see at most 1024 pixels a side, so the model loses nothing it could use,
    while its float copies of a 12 MP frame would cost hundreds of megabytes.
    """
    height, width = rgb.shape[:2]
    if max_pixels == 0 or height * width <= max_pixels:
        return rgb
    scale = (max_pixels / (height * width)) ** 0.5
    size = [min(side, max(MIN_IMAGE_SIDE, int(side * scale))) for side in (width, height)]
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def full_size_mask(mask: np.ndarray, shape: tuple) -> np.ndarray:
    """A bool mask of the model's (downscaled) image brought to the frame's ``shape`` (nearest pixel)."""
    if mask.shape == shape:
        return mask
    return cv2.resize(mask.view(np.uint8), shape[::-1], interpolation=cv2.INTER_NEAREST).view(np.bool_)


class Laps:
    """Milliseconds per stage, each from the end of the one before (``lap(name)`` closes a stage)."""

    def __init__(self) -> None:
        self.ms: Dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> float:
        now = time.perf_counter()
        self.ms[name] = (now - self._last) * 1e3
        self._last = now
        return self.ms[name]


@dataclass
class PipelineOutput:
    result: object  # PartSegmentation
    rgb: np.ndarray
    mask: np.ndarray
    geometry: Optional[PartGeometry]
    prompt_embedding: object  # torch tensor or None
    model_ms: float
    stage_ms: Dict[str, float] = field(default_factory=dict)  # decode, model, mask, points, pose, colours, message


class PartPipeline:
    """Runs the model and the geometry for one synchronised frame (the caller serialises calls)."""

    def __init__(self, segmenter, config: NodeConfig) -> None:
        self.segmenter = segmenter
        self.mode = config.model_mode
        self.part_filter = config.part_filter()
        self.pose_voxel_size = config.pose_voxel_size
        self.pose_min_points = config.pose_min_points
        self.max_pixels = config.model_max_pixels

    def run(self, color, depth, camera_info, plan: InferencePlan, no_depth_reason: str = "") -> PipelineOutput:
        """Segment ``plan.instruction`` on the frame; raises ``BadInput`` for unusable input or a model error.

        ``no_depth_reason`` explains a frame without depth or camera info (the status says it).
        """
        laps = Laps()
        frame = decode_frame(color, depth, camera_info)
        laps.lap("decode")
        rgb = model_image(frame.rgb, self.max_pixels)
        segmentation = self._segment(rgb, plan)
        model_ms = laps.lap("model")
        mask = segmentation.mask
        if mask.shape != rgb.shape[:2] or mask.dtype != np.bool_:
            raise BadInput(
                kinds.MODEL_ERROR,
                f"model returned a {mask.dtype} mask of shape {mask.shape} for a {rgb.shape[:2]} image: "
                "expected a bool mask of the image size",
            )
        mask = full_size_mask(mask, frame.rgb.shape[:2])
        laps.lap("mask")
        points, colors, geometry, status = self._geometry(frame, mask, no_depth_reason, laps)
        if not segmentation.found:
            status = f"no part found: {segmentation.reason or 'the model emitted no [SEG] token'}"
        elif not mask.any():
            status = "no part found: the model's mask is empty"
        result = part_result(
            color.header, plan.instruction, segmentation.answer, segmentation.score,
            mask, points, colors, geometry, status,
        )
        result.inference_ms = model_ms
        laps.lap("message")
        return PipelineOutput(result, frame.rgb, mask, geometry, segmentation.prompt_embedding, model_ms, laps.ms)

    def _segment(self, rgb: np.ndarray, plan: InferencePlan):
        try:
            if plan.runs_language_model:
                return self.segmenter.segment(rgb, plan.instruction, mode=self.mode)
            return self.segmenter.segment_with_prompt(rgb, plan.prompt_embedding)
        except Exception as error:  # noqa: BLE001 - any model failure (e.g. CUDA out of memory) skips one frame
            raise BadInput(kinds.MODEL_ERROR, f"model error: {type(error).__name__}: {error}") from None

    def _geometry(self, frame: DecodedFrame, mask: np.ndarray, no_depth_reason: str, laps: Laps):
        if frame.depth is None:
            return NO_POINTS, None, None, f"2D only: {no_depth_reason or 'no depth or camera info'}"
        try:
            part = extract_part_points(frame.depth, frame.intrinsics, mask, self.part_filter)
            laps.lap("points")
            geometry = part_geometry(part.points, self.pose_voxel_size, self.pose_min_points)
            laps.lap("pose")
        except ValueError as error:
            raise BadInput(kinds.GEOMETRY_ERROR, f"part geometry: {error}") from None
        colors = np.take(frame.rgb.reshape(-1, 3), part.pixels, axis=0)  # 4x faster than [part.pixels]
        laps.lap("colours")
        status = OK if geometry.ok else f"no pose: {geometry.reason}"
        return part.points, colors, geometry, status
