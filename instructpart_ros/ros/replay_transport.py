"""The replay's two ways of reaching the perception node over DDS (see docs/replay_evaluation.md).

- :class:`ServiceTransport` (InstructPart, task sets): one ``segment_part`` request per
  sample, carrying its image (and depth + camera info): exactly one answer per sample,
  paired by the call itself, through the node's decoding, model, geometry and statuses.
- :class:`TopicTransport` (recordings): frames on ``color/image``, ``depth/image``,
  ``color/camera_info`` and the instruction on ``instruction``, as a camera and an
  operator would; results from ``part_segmentation``, matched by stamp and instruction.
  This path also goes through the node's synchroniser and instruction policy.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
from rclpy.serialization import serialize_message

from instructpart_ros.datasets.rgbd_images import RgbdImages
from instructpart_ros.evaluation.replay_scoring import NodeAnswer
from instructpart_ros.srv import SegmentPart

from .conversions import image_to_numpy, pointcloud2_to_points
from .perception_client import PerceptionClient
from .perception_node import stamp_ns
from .rgbd_frame import images_to_messages

NO_POINTS = np.zeros((0, 3), np.float32)


def answer_from_result(result, shape: Tuple[int, int], round_trip_ms: float = 0.0,
                       keep_message: bool = False) -> NodeAnswer:
    """A ``PartSegmentation`` as arrays; an empty mask (a rejection) becomes all False of ``shape``."""
    if result.mask.width and result.mask.height:
        mask = image_to_numpy(result.mask) > 0
    else:
        mask = np.zeros(shape, dtype=bool)
    points = pointcloud2_to_points(result.points)[0] if result.points.width * result.points.height else NO_POINTS
    return NodeAnswer(
        mask=mask, status=result.status, answer=result.answer, score=float(result.score),
        total_ms=float(result.total_ms), inference_ms=float(result.inference_ms), round_trip_ms=round_trip_ms,
        points=points, object_name=result.object_name, part_name=result.part_name, stamp_ns=stamp_ns(result.header),
        instruction=result.instruction, result_cdr=serialize_message(result) if keep_message else None)


def process_failure(alive: Optional[Callable[[], Optional[str]]]) -> Optional[str]:
    return alive() if alive is not None else None


class ServiceTransport:
    """``segment_part`` with the sample's images (``use_latest_frame`` false)."""

    def __init__(self, client: PerceptionClient, node_failure: Optional[Callable[[], Optional[str]]] = None) -> None:
        self.client = client
        self._node_failure = node_failure

    def segment(self, images: RgbdImages, instruction: str, timeout: float) -> NodeAnswer:
        color, depth, camera_info = images_to_messages(images)
        request = SegmentPart.Request(instruction=instruction, use_latest_frame=False, color=color)
        if depth is not None:
            request.depth, request.camera_info = depth, camera_info
        started = time.perf_counter()
        response = self.client.segment(request, timeout)
        return answer_from_result(response.result, images.rgb.shape[:2], (time.perf_counter() - started) * 1e3)

    def failure(self) -> Optional[str]:
        return process_failure(self._node_failure)


class TopicTransport:
    """Frames and instructions on the node's input topics; results collected by stamp.

    Build the :class:`PerceptionClient` with ``on_result=transport.on_result``.
    """

    def __init__(self, node_failure: Optional[Callable[[], Optional[str]]] = None,
                 keep_messages: bool = True) -> None:
        self.client: Optional[PerceptionClient] = None
        self._node_failure = node_failure
        self._keep_messages = keep_messages
        self._condition = threading.Condition()
        self._results: Dict[Tuple[int, str], Tuple[object, float]] = {}
        self._arrived: List[Tuple[object, float]] = []
        self._shapes: Dict[int, Tuple[int, int]] = {}

    def on_result(self, msg) -> None:
        with self._condition:
            arrival = (msg, time.monotonic())
            self._results[(stamp_ns(msg.header), msg.instruction)] = arrival
            self._arrived.append(arrival)
            self._condition.notify_all()

    def send_instruction(self, text: str) -> None:
        self.client.publish_instruction(text)

    def send_frame(self, images: RgbdImages) -> None:
        with self._condition:
            self._shapes[images.stamp_ns] = images.rgb.shape[:2]
        messages = images_to_messages(images)
        self.client.publish_frame(messages, depth=messages[1] is not None)

    def wait_result(self, stamp: int, instruction: str, timeout: float) -> NodeAnswer:
        started = time.monotonic()
        deadline = started + timeout
        with self._condition:
            while (stamp, instruction) not in self._results:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no part_segmentation for the frame stamped {stamp / 1e9:.6f} s within "
                                       f"{timeout:g} s")
                self._condition.wait(remaining)
            msg, arrived = self._results.pop((stamp, instruction))
            # Older results (other frames, or this frame under an earlier instruction) are of no further use.
            for key in [key for key in self._results if key[0] <= stamp]:
                del self._results[key]
            self._arrived.clear()
            shape = self._shapes.pop(stamp, (msg.mask.height, msg.mask.width))
        return answer_from_result(msg, shape, (arrived - started) * 1e3, self._keep_messages)

    def drain(self) -> List[NodeAnswer]:
        with self._condition:
            arrived, self._arrived = self._arrived, []
            self._results.clear()
            shapes = [self._shapes.pop(stamp_ns(msg.header), (msg.mask.height, msg.mask.width)) for msg, _ in arrived]
        return [answer_from_result(msg, shape, 0.0, self._keep_messages) for (msg, _), shape in zip(arrived, shapes)]

    def failure(self) -> Optional[str]:
        return process_failure(self._node_failure)
