"""The other side of the perception node, over DDS: publish frames and instructions, collect results.

Used by the demo, the latency benchmark and the integration tests. It runs its own rclpy
context and executor thread, so it can live next to anything else in a process.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter, parameter_value_to_python
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String

from instructpart_ros.msg import PartSegmentation
from instructpart_ros.srv import SegmentPart

from . import topics
from .perception_node import NODE_NAME

FRAME_QOS = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)  # matches either subscriber QoS
RESULT_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
SPIN_PERIOD_S = 0.1  # how often the spin thread checks whether the client is closing


@dataclass(frozen=True)
class Received:
    msg: object
    at: float  # time.monotonic() on arrival


class PerceptionClient:
    """Publishes to and listens to one perception node (``node_name``, relative topic names)."""

    def __init__(self, name: str = "perception_client", node_name: str = NODE_NAME, args: Optional[list] = None,
                 on_result: Optional[Callable[[PartSegmentation], None]] = None) -> None:
        """``args``: command-line arguments with ROS arguments (remappings, parameters) for this node;
        ``on_result``: called with each result instead of keeping them all in ``results``."""
        self.context = Context()
        rclpy.init(args=args or [], context=self.context)
        self.node = Node(name, context=self.context)
        self._condition = threading.Condition()
        self.results: List[Received] = []
        self.diagnostics: List[Received] = []
        node = self.node
        self.color_pub = node.create_publisher(Image, topics.COLOR_IMAGE, FRAME_QOS)
        self.depth_pub = node.create_publisher(Image, topics.DEPTH_IMAGE, FRAME_QOS)
        self.info_pub = node.create_publisher(CameraInfo, topics.CAMERA_INFO, FRAME_QOS)
        self.instruction_pub = node.create_publisher(String, topics.INSTRUCTION, RESULT_QOS)
        self._result_sub = node.create_subscription(
            PartSegmentation, topics.PART_SEGMENTATION, on_result or self._store(self.results), RESULT_QOS)
        node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._store(self.diagnostics), 10)
        self._node_services: list = []
        self.use_node_name(node_name)
        self.segment_client = node.create_client(SegmentPart, topics.SEGMENT_PART)
        self._executor = SingleThreadedExecutor(context=self.context)
        self._executor.add_node(node)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._spin, name=f"{name}_spin", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._closing.is_set():
            self._executor.spin_once(timeout_sec=SPIN_PERIOD_S)

    def _store(self, target: list) -> Callable:
        def callback(msg) -> None:
            with self._condition:
                target.append(Received(msg, time.monotonic()))
                self._condition.notify_all()
        return callback

    # ------------------------------------------------------------------ node state
    def use_node_name(self, node_name: str) -> None:
        """Talk to the perception node called ``node_name`` (its lifecycle and parameter services)."""
        for client in self._node_services:
            self.node.destroy_client(client)
        self.node_name = node_name
        self._get_state = self.node.create_client(GetState, f"/{node_name}/get_state")
        self._change_state = self.node.create_client(ChangeState, f"/{node_name}/change_state")
        self._get_parameters = self.node.create_client(GetParameters, f"/{node_name}/get_parameters")
        self._set_parameters = self.node.create_client(SetParameters, f"/{node_name}/set_parameters")
        self._node_services = [self._get_state, self._change_state, self._get_parameters, self._set_parameters]

    def _call(self, client, request, timeout: float):
        deadline = time.monotonic() + timeout
        if not client.wait_for_service(timeout_sec=timeout):
            return None
        future = client.call_async(request)
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.002)
        if not future.done():
            client.remove_pending_request(future)  # a late answer must not pile up
            return None
        return future.result()

    def lifecycle_state(self, timeout: float = 2.0) -> Optional[str]:
        """The node's lifecycle state label, or None when its get_state service does not answer."""
        response = self._call(self._get_state, GetState.Request(), timeout)
        return response.current_state.label if response is not None else None

    def change_state(self, transition: str, timeout: float = 60.0) -> bool:
        """Trigger a lifecycle transition by label (configure, activate, deactivate, cleanup)."""
        transition_id = getattr(Transition, f"TRANSITION_{transition.upper()}")
        response = self._call(self._change_state, ChangeState.Request(transition=Transition(id=transition_id)),
                              timeout)
        return bool(response and response.success)

    def get_parameters(self, names: List[str], timeout: float = 5.0) -> Dict[str, object]:
        """The node's values of ``names`` (``None`` for a parameter it does not have)."""
        response = self._call(self._get_parameters, GetParameters.Request(names=list(names)), timeout)
        if response is None:
            raise TimeoutError(f"/{self.node_name}/get_parameters did not answer within {timeout:g} s")
        return {name: parameter_value_to_python(value) for name, value in zip(names, response.values)}

    def set_parameters(self, values: Dict[str, object], timeout: float = 5.0) -> List[str]:
        """Set node parameters; returns the failure reasons (empty when all were set)."""
        request = SetParameters.Request(
            parameters=[Parameter(name, value=value).to_parameter_msg() for name, value in values.items()])
        response = self._call(self._set_parameters, request, timeout)
        if response is None:
            return ["set_parameters service did not answer"]
        return [result.reason for result in response.results if not result.successful]

    def connected(self) -> bool:
        """Whether every input has the node as a subscriber and its results reach us."""
        publishers = (self.color_pub, self.depth_pub, self.info_pub, self.instruction_pub)
        return all(pub.get_subscription_count() > 0 for pub in publishers) and \
            self._result_sub.get_publisher_count() > 0

    # ------------------------------------------------------------------ inputs
    def publish_frame(self, messages: Sequence, depth: bool = True) -> None:
        """Publish ``(color, depth, camera_info)``; colour last (the synchroniser's pivot)."""
        color, depth_msg, camera_info = messages
        if depth and depth_msg is not None:
            self.depth_pub.publish(depth_msg)
        if camera_info is not None:
            self.info_pub.publish(camera_info)
        self.color_pub.publish(color)

    def publish_instruction(self, text: str) -> None:
        self.instruction_pub.publish(String(data=text))

    # ------------------------------------------------------------------ outputs
    def listen(self, msg_type, topic: str) -> List[Received]:
        """Collect every message on another output (part_mask, part_points, markers, debug/overlay)."""
        received: List[Received] = []
        self.node.create_subscription(msg_type, topic, self._store(received), RESULT_QOS)
        return received

    def result_count(self) -> int:
        with self._condition:
            return len(self.results)

    def wait_for_result(
        self,
        predicate: Callable[[PartSegmentation], bool] = lambda msg: True,
        timeout: float = 30.0,
        start: int = 0,
    ) -> Received:
        """The first result at index >= ``start`` that satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        index = start
        with self._condition:
            while True:
                for item in self.results[index:]:
                    if predicate(item.msg):
                        return item
                index = len(self.results)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    statuses = [item.msg.status for item in self.results[start:]][-5:]
                    raise TimeoutError(f"no matching part_segmentation within {timeout:g} s (last statuses {statuses})")
                self._condition.wait(remaining)

    def latest_diagnostics(self) -> Dict[str, str]:
        """Key/values of the node's latest diagnostic status (empty before the first)."""
        with self._condition:
            arrays = list(self.diagnostics)
        for item in reversed(arrays):
            for status in item.msg.status:
                if status.name.endswith(self.node_name):
                    values = {value.key: value.value for value in status.values}
                    values["level"] = str(int.from_bytes(status.level, "little") if isinstance(status.level, bytes)
                                          else status.level)
                    values["message"] = status.message
                    return values
        return {}

    def segment(self, request: SegmentPart.Request, timeout: float = 60.0) -> SegmentPart.Response:
        """Call ``segment_part``; TimeoutError when the service is missing or does not answer in time."""
        response = self._call(self.segment_client, request, timeout)
        if response is None:
            raise TimeoutError(f"service {topics.SEGMENT_PART} did not answer within {timeout:g} s")
        return response

    def close(self) -> None:
        # The spin thread stops first: shutting the executor down under a running callback
        # raised InvalidHandle in that thread now and then.
        self._closing.set()
        self._thread.join(5)
        self._executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)

    def __enter__(self) -> "PerceptionClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
