"""The perception node: colour + registered depth + a task instruction in, the part to grasp out.

A lifecycle node and a thin adapter: parameters (``node_parameters``) in, frames paired by
``frame_sync``, instructions planned by ``instruction_policy``, the work done by
``part_pipeline`` on a background thread (``latest_worker``: the latest frame wins),
messages out. Bad input is counted and throttled by ``node_health`` and never stops it.
See docs/perception_node.md for the topics, parameters and services.
"""
from __future__ import annotations

import threading
import time
from typing import Optional

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecyclePublisher, LifecycleState, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.subscription import Subscription
from rclpy.task import Future
from rclpy.timer import Timer
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header, String
from visualization_msgs.msg import MarkerArray

from instructpart_ros.msg import PartSegmentation
from instructpart_ros.srv import SegmentPart

from . import node_health as kinds
from . import topics
from .allocator import keep_freed_memory
from .colour_silence import ColourSilence
from .conversions import numpy_to_image
from .frame_decoding import BadInput
from .frame_sync import CAMERA_INFO, DEPTH, FrameSynchronizer, SyncedFrame
from .instruction_policy import InferencePlan, InstructionPolicy
from .latest_worker import LatestWorker
from .markers import part_markers
from .node_health import NodeHealth
from .node_parameters import PARAMETERS, NodeConfig
from .overlay import overlay_mask
from .part_pipeline import PartPipeline, PipelineOutput
from .result_message import empty_result

NODE_NAME = "perception_node"
RELIABILITY = {"reliable": ReliabilityPolicy.RELIABLE, "best_effort": ReliabilityPolicy.BEST_EFFORT}
SYNC_POLL_PERIOD_S = 0.05
WAITING_STATUS_PERIOD_S = 1.0  # at most one "waiting for synchronised frames" result per this time
DIAGNOSTICS_PERIOD_S = 1.0  # until configure reads diagnostics_period
INSTRUCTION_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def stamp_ns(header: Header) -> int:
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def _qos(reliability: str, depth: int) -> QoSProfile:
    return QoSProfile(
        depth=depth, history=HistoryPolicy.KEEP_LAST, reliability=RELIABILITY[reliability],
        durability=DurabilityPolicy.VOLATILE,
    )


class PerceptionNode(LifecycleNode):
    """Lifecycle: configure reads parameters and creates the interfaces, activate loads the
    model and starts the inference thread, deactivate stops it and frees the model."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        for spec in PARAMETERS:
            constraints = f"one of {list(spec.choices)}" if spec.choices else ""
            # dynamic typing: NodeConfig checks the types with messages that name the parameter
            descriptor = ParameterDescriptor(
                description=spec.description, additional_constraints=constraints, dynamic_typing=True)
            self.declare_parameter(spec.name, spec.default, descriptor)
        self.lifecycle_state = "unconfigured"
        self.model_state = "not loaded"
        self.error = ""  # why the last configure or activate failed, reported on /diagnostics
        self.config: Optional[NodeConfig] = None
        self.health = NodeHealth()
        self._model_lock = threading.Lock()
        self._segmenter = None
        self._pipeline: Optional[PartPipeline] = None
        self._worker: Optional[LatestWorker] = None
        self._sync: Optional[FrameSynchronizer] = None
        self._policy: Optional[InstructionPolicy] = None
        self._latest_frame: Optional[SyncedFrame] = None
        self._unsynchronised = ""  # why colour frames stopped pairing; "" once one pairs again
        self._colour_silence: Optional[ColourSilence] = None
        self._missing_colour = ""  # why no colour frame arrives while camera info does
        self._waiting_published_at = -WAITING_STATUS_PERIOD_S
        self._interfaces: list = []
        self._diagnostics = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        # Diagnostics run from the start, so a configuration that fails is reported too.
        self._diagnostics_timer = self.create_timer(DIAGNOSTICS_PERIOD_S, self._publish_diagnostics)

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        values = {spec.name: self.get_parameter(spec.name).value for spec in PARAMETERS}
        try:
            config = NodeConfig.from_values(values)
            # Their own checks (finite sync times, ...) are configuration errors too.
            sync = FrameSynchronizer(config.sync_slop, config.sync_queue_size, config.depth_timeout)
            policy = InstructionPolicy(config.instruction_mode, config.reason_every_n)
        except ValueError as error:
            self.error = f"configuration failed: {error}"
            self.get_logger().error(self.error)
            return TransitionCallbackReturn.FAILURE
        self.error = ""
        self.config = config
        self.health = NodeHealth(log_period_s=config.bad_input_log_period)
        self._sync, self._policy = sync, policy
        self._unsynchronised = self._missing_colour = ""
        self._colour_silence = ColourSilence(config.depth_timeout)
        self._create_interfaces(config)
        self.lifecycle_state = "inactive"
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.model_state = "loading"
        started = time.perf_counter()
        try:
            arguments = self.config.model_arguments()
            # Imported here: torch and transformers take seconds to import and are only
            # needed once the node is activated.
            from instructpart_ros.model import load_segmenter

            segmenter = load_segmenter(**arguments)
        except Exception as error:  # noqa: BLE001 - any load failure leaves the node inactive, reported
            self.model_state = "failed to load"
            self.error = f"activation failed: the model did not load: {type(error).__name__}: {error}"
            self.get_logger().error(self.error)
            return TransitionCallbackReturn.FAILURE
        self.error = ""
        if segmenter.warning:  # e.g. an untrained PISA: once per load, and on /diagnostics while loaded
            self.get_logger().warning(segmenter.warning)
        with self._model_lock:
            self._segmenter = segmenter
            self._pipeline = PartPipeline(segmenter, self.config)
        self.model_state = "ready"
        self._worker = LatestWorker(self._process_frame, self._on_worker_error)
        result = super().on_activate(state)
        self.lifecycle_state = "active"
        if self.config.initial_instruction:
            self._policy.set_instruction(self.config.initial_instruction)
        if self._policy.has_work and self._latest_frame is not None:  # an instruction came while inactive
            self._worker.submit(self._latest_frame)
        self.get_logger().info(
            f"active: {self.config.model_kind} model loaded in {time.perf_counter() - started:.1f} s on "
            f"{self.config.model_device}; {self.config.instruction_mode} instructions on "
            f"'{self.resolve_topic_name(topics.INSTRUCTION)}', frames on "
            f"'{self.resolve_topic_name(topics.COLOR_IMAGE)}'")
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release_model()
        self.lifecycle_state = "inactive"
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._destroy_interfaces()
        self._latest_frame = None
        self.lifecycle_state = "unconfigured"
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release_model()
        self._destroy_interfaces()
        self.lifecycle_state = "finalized"
        return super().on_shutdown(state)

    def start(self) -> bool:
        """Configure and activate (the ``autostart`` path); False when a transition failed."""
        if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            return False
        return self.trigger_activate() == TransitionCallbackReturn.SUCCESS

    def _release_model(self) -> None:
        """Stop the inference thread, then free the model and its GPU memory."""
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        with self._model_lock:
            if self._segmenter is not None:
                self._segmenter.release()
                self.model_state = "released"
            self._segmenter = None
            self._pipeline = None

    def _create_interfaces(self, config: NodeConfig) -> None:
        image_qos = _qos(config.input_reliability, config.input_queue_size)
        output_qos = _qos(config.output_reliability, config.output_queue_size)
        self._segmentation_pub = self.create_lifecycle_publisher(PartSegmentation, topics.PART_SEGMENTATION, output_qos)
        self._mask_pub = self.create_lifecycle_publisher(Image, topics.PART_MASK, output_qos)
        self._points_pub = self.create_lifecycle_publisher(PointCloud2, topics.PART_POINTS, output_qos)
        self._markers_pub = self.create_lifecycle_publisher(MarkerArray, topics.MARKERS, output_qos)
        self._overlay_pub = self.create_lifecycle_publisher(Image, topics.OVERLAY, output_qos)
        self._segmap_pub = self.create_lifecycle_publisher(Image, topics.PART_SEGMAP, output_qos)
        self._interfaces = [
            self._segmentation_pub, self._mask_pub, self._points_pub, self._markers_pub, self._overlay_pub,
            self._segmap_pub,
            self.create_subscription(Image, topics.COLOR_IMAGE, self._on_color, image_qos),
            self.create_subscription(Image, topics.DEPTH_IMAGE, self._on_depth, image_qos),
            self.create_subscription(CameraInfo, topics.CAMERA_INFO, self._on_camera_info, image_qos),
            self.create_subscription(String, topics.INSTRUCTION, self._on_instruction, INSTRUCTION_QOS),
            self.create_timer(SYNC_POLL_PERIOD_S, self._on_sync_poll),
            self.create_service(SegmentPart, topics.SEGMENT_PART, self._on_segment_part),
        ]
        self.destroy_timer(self._diagnostics_timer)
        self._diagnostics_timer = self.create_timer(config.diagnostics_period, self._publish_diagnostics)

    def _destroy_interfaces(self) -> None:
        for entity in self._interfaces:
            if isinstance(entity, LifecyclePublisher):
                self.destroy_lifecycle_publisher(entity)
            elif isinstance(entity, Subscription):
                self.destroy_subscription(entity)
            elif isinstance(entity, Timer):
                self.destroy_timer(entity)
            else:
                self.destroy_service(entity)
        self._interfaces = []

    # ------------------------------------------------------------------ inputs
    def _on_color(self, msg: Image) -> None:
        self.health.count("frames_received")
        self._colour_silence.color(time.monotonic())
        unmatched = self._sync.unmatched
        frame = self._sync.add_color(msg, stamp_ns(msg.header))
        if self._sync.unmatched != unmatched:
            self._on_unsynchronised(msg.header)
        self._on_synced(frame)

    def _on_unsynchronised(self, header: Header) -> None:
        """A colour frame left the queue unpaired: say why (log, diagnostics, a status while a task waits)."""
        reason = self._sync.last_drop_reason
        self._unsynchronised = reason
        self._count_bad_input(kinds.UNSYNCHRONISED, reason)
        now = time.monotonic()
        if (self.lifecycle_state == "active" and self._policy.has_work
                and now - self._waiting_published_at >= WAITING_STATUS_PERIOD_S):
            self._waiting_published_at = now
            self._segmentation_pub.publish(
                empty_result(header, self._policy.instruction, f"waiting for synchronised frames: {reason}"))

    def _on_depth(self, msg: Image) -> None:
        self._on_synced(self._sync.add_depth(msg, stamp_ns(msg.header)))

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._colour_silence.camera_info(time.monotonic(), msg.width, msg.height)
        self._on_synced(self._sync.add_camera_info(msg, stamp_ns(msg.header)))

    def _on_sync_poll(self) -> None:
        self._on_synced(self._sync.poll())
        self._missing_colour = self._colour_silence.reason(
            time.monotonic(), self.resolve_topic_name(topics.COLOR_IMAGE),
            self.resolve_topic_name(topics.CAMERA_INFO), self.config.input_reliability)
        if self._missing_colour:
            self.get_logger().warning(self._missing_colour, throttle_duration_sec=self.config.bad_input_log_period)

    def _on_synced(self, frame: Optional[SyncedFrame]) -> None:
        """Keep a newly synchronised frame as the latest and hand it to inference."""
        if frame is None:
            return
        self.health.count("frames_synchronised")
        self._unsynchronised = ""
        self._latest_frame = frame
        if self._worker is not None and self._policy.has_work:
            self._worker.submit(frame)

    def _on_instruction(self, msg: String) -> None:
        header = Header(stamp=self.get_clock().now().to_msg(),
                        frame_id=self._latest_frame.color.header.frame_id if self._latest_frame else "")
        problem = self._instruction_problem(msg.data)
        if problem is not None:
            self._reject(header, msg.data[: self.config.max_instruction_chars], *problem)
            return
        self._accept_instruction(msg.data, header)

    def _accept_instruction(self, text: str, header: Header) -> None:
        self._policy.set_instruction(text)
        frame = self._latest_frame
        if frame is None:
            self._reject(
                header, text, kinds.INSTRUCTION_BEFORE_FRAME,
                f"no synchronised frame yet on '{self.resolve_topic_name(topics.COLOR_IMAGE)}': the instruction "
                "is kept and applied to the first frame (check the camera topics and QoS)")
        elif self._worker is not None:
            self._worker.submit(frame)

    def _instruction_problem(self, text: str):
        """``(kind, message)`` when an instruction cannot be used, else None."""
        if not text.strip():
            return kinds.EMPTY_INSTRUCTION, "instruction is empty: send the task, e.g. 'pour some water'"
        limit = self.config.max_instruction_chars
        if len(text) > limit:
            return kinds.INSTRUCTION_TOO_LONG, (
                f"instruction is {len(text)} characters, more than max_instruction_chars={limit}: "
                "shorten it or raise the parameter")
        # The model layer's own check, shared with evaluation and training; imported here, not at start-up:
        # the model package imports torch, which activation loads anyway.
        from instructpart_ros.model.prompt import check_instruction

        try:
            check_instruction(text)
        except ValueError as error:
            return kinds.INSTRUCTION_CONTROL_TOKENS, str(error)
        return None

    def _count_bad_input(self, kind: str, message: str) -> None:
        line = self.health.bad_input(kind, message)
        if line is not None:
            self.get_logger().warning(line)

    def _reject(self, header: Header, instruction: str, kind: str, message: str) -> None:
        """Count and log (throttled) a bad input, and publish an empty result that says why."""
        self._count_bad_input(kind, message)
        self._segmentation_pub.publish(empty_result(header, instruction, message))

    # ------------------------------------------------------------------ inference thread
    def _process_frame(self, frame: SyncedFrame) -> None:
        plan = self._policy.plan()
        if plan is None:
            return
        output = self._run_pipeline(frame.color, frame.depth, frame.camera_info, plan, self._no_depth_reason(frame))
        if isinstance(output, BadInput):
            self._reject(frame.color.header, plan.instruction, output.kind, output.message)
            return
        if output is not None:
            self._policy.record(plan, output.prompt_embedding)
            self._publish(output, frame.received_at)

    def _run_pipeline(self, color, depth, camera_info, plan: InferencePlan, no_depth_reason: str):
        """The pipeline's output, the ``BadInput`` it raised, or None when the model is gone."""
        with self._model_lock:
            if self._pipeline is None:
                return None  # deactivated meanwhile
            try:
                return self._pipeline.run(color, depth, camera_info, plan, no_depth_reason)
            except BadInput as bad:
                return bad

    def _publish(self, output: PipelineOutput, received_at: float) -> None:
        result = output.result
        result.total_ms = (time.monotonic() - received_at) * 1e3
        self._segmentation_pub.publish(result)
        # The other outputs repeat parts of the result: skip the work when nobody listens.
        if self._mask_pub.get_subscription_count():
            self._mask_pub.publish(result.mask)
        if self._points_pub.get_subscription_count():
            self._points_pub.publish(result.points)
        if self.config.publish_markers and self._markers_pub.get_subscription_count():
            self._markers_pub.publish(part_markers(result.header, output.geometry))
        if self.config.publish_overlay and self._overlay_pub.get_subscription_count():
            self._overlay_pub.publish(numpy_to_image(overlay_mask(output.rgb, output.mask), "rgb8", result.header))
        if self.config.publish_segmap and self._segmap_pub.get_subscription_count():
            # Contact-GraspNet's segmap: mono16 segment ids (1 = the part) at the registered depth's size.
            self._segmap_pub.publish(numpy_to_image(output.mask.astype(np.uint16), "mono16", result.header))
        self.health.count("frames_processed")
        self.health.record_latency("total", result.total_ms)
        self.health.record_latency("model", output.model_ms)

    def _on_worker_error(self, error: Exception) -> None:
        self.get_logger().error(f"unexpected error in the inference thread (the node goes on): {error!r}")

    def _no_depth_reason(self, frame: SyncedFrame) -> str:
        reasons = {
            DEPTH: f"no depth image on '{self.resolve_topic_name(topics.DEPTH_IMAGE)}'",
            CAMERA_INFO: f"no camera info on '{self.resolve_topic_name(topics.CAMERA_INFO)}'",
        }
        missing = [reasons[name] for name in frame.absent]
        if not missing:
            return ""
        return (f"{' and '.join(missing)} for {self.config.depth_timeout:g} s "
                "(check the topic remapping and input_reliability)")

    # ------------------------------------------------------------------ service
    async def _on_segment_part(self, request, response):
        """Segment on the latest frame or the request's images; results are returned, not published.

        A coroutine: the model runs on a thread of its own while the executor keeps serving
        the inputs, and the response is sent once that thread is done.
        """
        received_at = time.monotonic()
        response.result = empty_result(request.color.header, request.instruction, "")
        if self.lifecycle_state != "active":
            response.message = (f"the node is {self.lifecycle_state} (model {self.model_state}): activate it "
                                "(autostart:=true or a lifecycle manager)")
            return self._fail(response)
        problem = self._instruction_problem(request.instruction)
        if problem is None and request.use_latest_frame and self._latest_frame is None:
            problem = kinds.INSTRUCTION_BEFORE_FRAME, (
                f"no synchronised frame yet on '{self.resolve_topic_name(topics.COLOR_IMAGE)}': publish frames "
                "or send the images with use_latest_frame false")
        if problem is not None:
            self._count_bad_input(*problem)
            response.message = problem[1]
            return self._fail(response)
        if request.use_latest_frame:
            frame = self._latest_frame
            color, depth, camera_info = frame.color, frame.depth, frame.camera_info
            no_depth_reason = self._no_depth_reason(frame)
        else:
            has_depth = len(request.depth.data) > 0
            color = request.color
            depth, camera_info = (request.depth, request.camera_info) if has_depth else (None, None)
            no_depth_reason = "" if has_depth else "the request has no depth image"
        output = await self._in_thread(
            self._run_pipeline, color, depth, camera_info, InferencePlan(request.instruction), no_depth_reason)
        if output is None:
            response.message = "the node was deactivated during the request"
            return self._fail(response)
        if isinstance(output, BadInput):
            self._count_bad_input(output.kind, output.message)
            response.message = output.message
            response.result.header = color.header
            return self._fail(response)
        response.result = output.result
        response.result.total_ms = (time.monotonic() - received_at) * 1e3  # request received -> answered
        response.success = bool(output.mask.any())
        response.message = output.result.status
        return response

    def _in_thread(self, function, *args) -> Future:
        """``function(*args)`` on a new thread, as a future a coroutine callback can await."""
        future = Future()

        def run() -> None:
            try:
                future.set_result(function(*args))
            except Exception as error:  # noqa: BLE001 - handed to the awaiting callback
                future.set_exception(error)
            self.executor.wake()  # resume the awaiting coroutine now, not at the next timer

        threading.Thread(target=run, name="segment_part", daemon=True).start()
        return future

    @staticmethod
    def _fail(response):
        response.success = False
        response.result.status = response.message
        return response

    # ------------------------------------------------------------------ diagnostics
    def _publish_diagnostics(self) -> None:
        frame = self._latest_frame
        no_depth_reason = self._no_depth_reason(frame) if frame is not None and self.config else ""
        level, message = self._summary(frame, no_depth_reason)
        status = DiagnosticStatus(
            level=level, name=self.get_fully_qualified_name(), message=message, hardware_id="",
            values=[KeyValue(key=key, value=str(value)) for key, value in self._status_values(no_depth_reason).items()],
        )
        self._diagnostics.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()),
                                                  status=[status]))

    def _status_values(self, no_depth_reason: str) -> dict:
        config, policy = self.config, self._policy
        counters = self.health.snapshot()
        unsynchronised = self._sync.dropped if self._sync is not None else 0
        busy = self._worker.dropped if self._worker is not None else 0
        values = {
            "lifecycle_state": self.lifecycle_state,
            "model_state": self.model_state,
            "error": self.error,
            "model_kind": config.model_kind if config else "",
            "model_warning": self._model_warning(),
            "instruction_mode": config.instruction_mode if config else "",
            "instruction": (policy.instruction or "") if policy else "",
            "depth": f"2D only: {no_depth_reason}" if no_depth_reason else "3D",
            "frames_received": counters.pop("frames_received", 0),
            "frames_synchronised": counters.pop("frames_synchronised", 0),
            "frames_processed": counters.pop("frames_processed", 0),
            "frames_dropped": unsynchronised + busy,
            "frames_dropped_unsynchronised": unsynchronised,
            "frames_dropped_busy": busy,
        }
        values.update(counters)
        if self._sync is not None and self._sync.last_drop_reason:
            values["last_unsynchronised"] = self._sync.last_drop_reason
        return values

    def _summary(self, frame: Optional[SyncedFrame], no_depth_reason: str):
        """Diagnostic level and one-line message."""
        if self.error:
            return DiagnosticStatus.ERROR, self.error
        if self.lifecycle_state != "active":
            return DiagnosticStatus.WARN, f"{self.lifecycle_state} (model {self.model_state})"
        if self._missing_colour:
            return DiagnosticStatus.WARN, self._missing_colour
        if self._unsynchronised:
            return DiagnosticStatus.WARN, self._unsynchronised
        if frame is None:
            return DiagnosticStatus.WARN, "active, no synchronised frame yet"
        if no_depth_reason:
            return DiagnosticStatus.WARN, f"2D only: {no_depth_reason}"
        if self._model_warning():
            return DiagnosticStatus.WARN, f"active; {self._model_warning()}"
        return DiagnosticStatus.OK, "active"

    def _model_warning(self) -> str:
        """What is wrong with the loaded model (``PartSegmenter.warning``), "" when nothing or none loaded."""
        segmenter = self._segmenter
        return (segmenter.warning or "") if segmenter is not None else ""


def main(args=None) -> None:
    """Entry point of ``ros2 run instructpart_ros perception_node``."""
    keep_freed_memory()  # before the first frame: see allocator.py
    rclpy.init(args=args)
    node = PerceptionNode()
    # One executor thread is enough (inference has its own threads) and much faster: rclpy's
    # MultiThreadedExecutor delivered colour frames 50-200 ms late here behind depth and camera info.
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        if node.get_parameter("autostart").value is True and not node.start():
            node.get_logger().error("autostart failed: see the error above; the node stays up for diagnostics")
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node._release_model()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
