"""The grasp filter node: a planner's grasp candidates in, the ones that close on the instructed part out.

A thin adapter: parameters (``grasp_filter_parameters``) in; the part segmentation paired
with its depth and camera info by ``frame_sync``, and the candidates with that by
``grasp_matching``; the work done by ``grasp_pipeline`` (the ``instructpart_ros.grasping``
library); messages out. Bad input is counted and throttled by ``node_health`` and never
stops it. See docs/grasping.md for the topics, parameters and service.
"""
from __future__ import annotations

import sys

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseArray
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from instructpart_ros.msg import GraspCandidates, PartSegmentation
from instructpart_ros.srv import FilterGrasps

from . import topics
from .allocator import keep_freed_memory
from .frame_decoding import BadInput
from .frame_sync import FrameSynchronizer
from .grasp_filter_parameters import GRASP_FILTER_PARAMETERS, POSE_ARRAY_INPUT, GraspFilterNodeConfig
from .grasp_matching import CandidateMatcher
from .grasp_messages import grasp_markers
from .grasp_pipeline import BAD_INPUT_KINDS, UNMATCHED, FilterOutcome, SceneCache, filter_candidates
from .node_health import NodeHealth
from .perception_node import stamp_ns

NODE_NAME = "grasp_filter_node"
SYNC_POLL_PERIOD_S = 0.05
RESULT_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


class GraspFilterNode(Node):
    """Reads its parameters on start (a bad one stops it with the reason), then filters every
    candidates message once its part segmentation is there."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        for spec in GRASP_FILTER_PARAMETERS:
            constraints = f"one of {list(spec.choices)}" if spec.choices else ""
            descriptor = ParameterDescriptor(description=spec.description, additional_constraints=constraints,
                                             dynamic_typing=True, read_only=True)
            self.declare_parameter(spec.name, spec.default, descriptor)
        self.config = GraspFilterNodeConfig.from_values(
            {spec.name: self.get_parameter(spec.name).value for spec in GRASP_FILTER_PARAMETERS})
        config = self.config
        self.health = NodeHealth(log_period_s=config.bad_input_log_period, kinds=BAD_INPUT_KINDS)
        self.last_status = "waiting for grasp candidates"
        self._sync = FrameSynchronizer(config.sync_slop, config.sync_queue_size, config.depth_timeout)
        self._matcher = CandidateMatcher(config.sync_slop, config.sync_queue_size)
        self._latest_part = None
        self._scenes = SceneCache()
        self._filtered_pub = self.create_publisher(GraspCandidates, topics.FILTERED_GRASPS, RESULT_QOS)
        self._markers_pub = self.create_publisher(MarkerArray, topics.GRASP_MARKERS, RESULT_QOS)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        reliability = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}
        camera_qos = QoSProfile(depth=5, history=HistoryPolicy.KEEP_LAST,
                                reliability=reliability[config.input_reliability])
        candidate_type = PoseArray if config.input_type == POSE_ARRAY_INPUT else GraspCandidates
        self.create_subscription(PartSegmentation, topics.PART_SEGMENTATION, self._on_part, RESULT_QOS)
        self.create_subscription(Image, topics.DEPTH_IMAGE, self._on_depth, camera_qos)
        self.create_subscription(CameraInfo, topics.CAMERA_INFO, self._on_camera_info, camera_qos)
        self.create_subscription(candidate_type, topics.GRASP_CANDIDATES, self._on_candidates, RESULT_QOS)
        self.create_service(FilterGrasps, topics.FILTER_GRASPS, self._on_filter_grasps)
        self.create_timer(SYNC_POLL_PERIOD_S, lambda: self._on_part_frame(self._sync.poll()))
        self.create_timer(config.diagnostics_period, self._publish_diagnostics)
        self.get_logger().info(
            f"filtering {candidate_type.__name__} on '{self.resolve_topic_name(topics.GRASP_CANDIDATES)}' to the part "
            f"on '{self.resolve_topic_name(topics.PART_SEGMENTATION)}'")

    # ------------------------------------------------------------------ inputs
    def _on_part(self, msg: PartSegmentation) -> None:
        self.health.count("parts_received")
        self._on_part_frame(self._sync.add_color(msg, stamp_ns(msg.header)))

    def _on_depth(self, msg: Image) -> None:
        self._on_part_frame(self._sync.add_depth(msg, stamp_ns(msg.header)))

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._on_part_frame(self._sync.add_camera_info(msg, stamp_ns(msg.header)))

    def _on_part_frame(self, frame) -> None:
        if frame is None:
            return
        self._latest_part = frame
        for candidates, part in self._matcher.add_part(frame.stamp_ns, frame):
            self._filter_and_publish(candidates, part)

    def _on_candidates(self, msg) -> None:
        self.health.count("candidates_received")
        dropped = self._matcher.dropped
        for candidates, part in self._matcher.add_candidates(stamp_ns(msg.header), msg):
            self._filter_and_publish(candidates, part)
        if self._matcher.dropped > dropped:
            self._count_bad_input(UNMATCHED, self._matcher.last_drop_reason)

    # ------------------------------------------------------------------ work
    def _run(self, candidates, part, depth, camera_info) -> FilterOutcome:
        """The outcome, or a BadInput (counted and logged) with an empty message in its place."""
        try:
            outcome = filter_candidates(candidates, part, depth, camera_info, self.config, self._scenes)
        except BadInput as bad:
            self._count_bad_input(bad.kind, bad.message)
            empty = GraspCandidates(header=candidates.header, convention=getattr(candidates, "convention", ""))
            self.last_status = bad.message
            return FilterOutcome(empty, None, None, bad.message, 0.0)
        self.health.count("candidates_filtered")
        self.health.count("grasps_kept", len(outcome.message.poses))
        self.health.record_latency("filter", outcome.filter_ms)
        self.last_status = outcome.reason or f"kept {len(outcome.message.poses)} of {len(outcome.grasps)} candidates"
        return outcome

    def _filter_and_publish(self, candidates, frame) -> None:
        outcome = self._run(candidates, frame.color, frame.depth, frame.camera_info)
        self._filtered_pub.publish(outcome.message)
        if outcome.grasps is not None and outcome.reason:  # bad input was logged as such
            self.get_logger().info(f"no grasp kept: {outcome.reason}", throttle_duration_sec=5.0)
        if self.config.publish_markers and outcome.grasps is not None and self._markers_pub.get_subscription_count():
            self._markers_pub.publish(self._markers(candidates.header, outcome))

    def _markers(self, header: Header, outcome: FilterOutcome) -> MarkerArray:
        result = outcome.result
        kept = np.zeros(0, np.int64) if result is None else result.kept
        rejected = None
        if self.config.show_rejected:
            rejected = outcome.grasps.take(np.setdiff1d(np.arange(len(outcome.grasps)), kept))
        scores = np.zeros(0) if result is None else result.scores[kept]
        return grasp_markers(header, outcome.grasps.take(kept), scores, rejected)

    def _count_bad_input(self, kind: str, message: str) -> None:
        line = self.health.bad_input(kind, message)
        if line is not None:
            self.get_logger().warning(line)

    # ------------------------------------------------------------------ service
    def _on_filter_grasps(self, request, response):
        if request.use_latest_part:
            frame = self._latest_part
            if frame is None:
                response.success = False
                response.message = (f"no part segmentation received yet on "
                                    f"'{self.resolve_topic_name(topics.PART_SEGMENTATION)}': publish one, or send "
                                    "it in the request with use_latest_part false")
                return response
            part, depth, camera_info = frame.color, frame.depth, frame.camera_info
        else:
            part = request.part
            has_depth = len(request.depth.data) > 0
            depth, camera_info = (request.depth, request.camera_info) if has_depth else (None, None)
        outcome = self._run(request.candidates, part, depth, camera_info)
        response.filtered = outcome.message
        response.success = len(outcome.message.poses) > 0
        response.message = outcome.reason or "ok"
        result = outcome.result
        if result is not None:
            response.kept_indices = [int(index) for index in result.kept]
            response.rejected_by = [gate or "" for gate in result.rejected_by]
            response.part_shares = [float(share) for share in result.part_share]
            response.anchor_distances = [float(distance) for distance in result.anchor_distance]
        return response

    # ------------------------------------------------------------------ diagnostics
    def _publish_diagnostics(self) -> None:
        values = {"last_status": self.last_status, "candidates_waiting": self._matcher.waiting,
                  "candidates_unmatched": self._matcher.dropped}
        values.update(self.health.snapshot())
        if self._matcher.last_drop_reason:
            values["last_unmatched"] = self._matcher.last_drop_reason
        level = DiagnosticStatus.OK if self.last_status.startswith(("kept", "waiting")) else DiagnosticStatus.WARN
        status = DiagnosticStatus(level=level, name=self.get_fully_qualified_name(), message=self.last_status,
                                  hardware_id="",
                                  values=[KeyValue(key=key, value=str(value)) for key, value in values.items()])
        self._diagnostics_pub.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()),
                                                      status=[status]))


def main(args=None) -> None:
    """Entry point of ``ros2 run instructpart_ros grasp_filter_node``."""
    keep_freed_memory()  # G2's large temporaries are reused, not page-faulted in again each call: allocator.py
    rclpy.init(args=args)
    try:
        node = GraspFilterNode()
    except ValueError as error:
        rclpy.logging.get_logger(NODE_NAME).fatal(f"bad parameter: {error}")
        rclpy.try_shutdown()
        sys.exit(2)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
