"""Perception node latency: publish an RGB-D frame -> receive its PartSegmentation, over DDS.

The node runs in its own process with the tiny PISA model (CPU); frames are published
one at a time (each after the previous result, so nothing queues). Each latency is
split into the model's time (``inference_ms`` in the result) and everything else:
inside the node (decoding, sync, geometry, message building: ``total_ms - inference_ms``)
and transport (DDS both ways: latency - ``total_ms``).

Scenarios, on the real 1280x800 knife frame (synthetic 640x480 frame without the data):

- ``part_mask``: the model's mask replaced by the knife handle's real mask (~1% of the
  frame), the size of part a real model returns;
- ``tiny_model_mask``: the tiny random model's own mask (57% of the frame, 284k points:
  the worst case for geometry and the result's size);
- ``large_mask_no_model``: no model run at all, a mask of the middle 60% of the frame in
  each direction (266k points) returned at once: "everything else" alone, with as
  little host memory allocated per frame as a model on a GPU;
- ``large_mask_no_model_default_malloc``: the same with glibc's default malloc
  thresholds (``allocator.keep_freed_memory`` disabled), the side-by-side baseline of
  that setting.

Baseline, in the same run: the same three input messages to an echo node that answers
with an empty PartSegmentation once colour, depth and camera info of a stamp arrived
(the DDS floor of the inputs; it keeps freed memory as the node does). Target:
everything else under 15 ms.

Where the floor of a large part is (``floor_large_mask``): the echo node answering with
a result of the large-mask scenario's size (1 MB mask + 266k coloured points, built
once, no work per frame: the DDS floor of inputs and result), plus the node's own
stages for that mask timed in this process (``PartPipeline.run``'s ``stage_ms``:
decoding, mask, points, pose, colours, message), each of which touches every point.

    python bench/node_latency.py [--out bench/results/node_latency.json] [--frames 40]
"""
from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time
import types

import numpy as np

from instructpart_ros.ros.allocator import keep_freed_memory
from instructpart_ros.ros.instruction_policy import InferencePlan
from instructpart_ros.ros.node_parameters import NodeConfig
from instructpart_ros.ros.node_process import NodeProcess, tiny_model_parameters, wait_until
from instructpart_ros.ros.part_pipeline import PartPipeline
from instructpart_ros.ros.perception_client import PerceptionClient
from instructpart_ros.ros.perception_node import stamp_ns
from instructpart_ros.ros.rgbd_frame import find_knife_dir, knife_frame
from instructpart_ros.ros.synthetic_scene import synthetic_knife_frame
from _common import emit, machine

TARGET_MS = 15.0
INSTRUCTION = "If I want to cut the bread, which part of the knife should I hold?"
PART_MASK_PRELUDE = """
import cv2, numpy as np
from instructpart_ros.model.segmenter import PartSegmenter
HANDLE = cv2.imread({path!r}, cv2.IMREAD_GRAYSCALE) > 0

def with_handle_mask(method):
    def wrapped(self, rgb, *args, **kwargs):
        result = method(self, rgb, *args, **kwargs)
        result.mask = HANDLE.copy()
        return result
    return wrapped

PartSegmenter.segment = with_handle_mask(PartSegmenter.segment)
PartSegmenter.segment_with_prompt = with_handle_mask(PartSegmenter.segment_with_prompt)
"""
NO_MODEL_PRELUDE = """
import numpy as np
from instructpart_ros.model.segmenter import PartSegmenter, SegmentationResult

def large_mask(self, rgb, *args, **kwargs):
    height, width = rgb.shape[:2]
    mask = np.zeros((height, width), dtype=bool)
    mask[height // 5:height - height // 5, width // 5:width - width // 5] = True
    return SegmentationResult(mask, 1.0, "[SEG]", True)

PartSegmenter.segment = large_mask
PartSegmenter.segment_with_prompt = large_mask
"""
DEFAULT_MALLOC_PRELUDE = """
import instructpart_ros.ros.allocator
instructpart_ros.ros.allocator.keep_freed_memory = lambda: False
"""
ECHO_NODE = """
import collections, sys, rclpy
from instructpart_ros.ros.allocator import keep_freed_memory
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String
from instructpart_ros.msg import PartSegmentation

keep_freed_memory()
rclpy.init()
node = Node("perception_node")
answer = PartSegmentation(status="echo")
if len(sys.argv) > 1:  # a result of this many points (and a 1280x800 mask), built once
    import numpy as np
    from instructpart_ros.ros.result_message import part_result
    points = int(sys.argv[1])
    answer = part_result(answer.header, "", "", 1.0, np.ones((800, 1280), bool), np.zeros((points, 3), np.float32),
                         np.zeros((points, 3), np.uint8), None, "echo")
inputs = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
results = node.create_publisher(PartSegmentation, "part_segmentation", QoSProfile(depth=1))
seen = collections.Counter()

def arrived(msg):
    stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)
    seen[stamp] += 1
    if seen[stamp] == 3:  # colour, depth and camera info of this stamp are all here
        del seen[stamp]
        answer.header = msg.header
        results.publish(answer)

for msg_type, topic in ((Image, "color/image"), (Image, "depth/image"), (CameraInfo, "color/camera_info")):
    node.create_subscription(msg_type, topic, arrived, inputs)
node.create_subscription(String, "instruction", lambda msg: None, 10)
try:
    rclpy.spin(node)
except KeyboardInterrupt:
    pass
"""


def measure(client: PerceptionClient, frame, frames: int, warmup: int = 3) -> dict:
    """Publish ``frames`` frames one by one; latency and its split, in ms (medians and p90)."""
    latency, model, in_node = [], [], []
    for index in range(warmup + frames):
        stamp = time.time_ns()
        messages = frame.messages(stamp)  # ready before the clock starts, as a camera driver's would be
        start = client.result_count()
        sent = time.monotonic()
        client.publish_frame(messages)
        received = client.wait_for_result(lambda msg: stamp_ns(msg.header) == stamp, timeout=60, start=start)
        if index >= warmup:
            latency.append((received.at - sent) * 1e3)
            model.append(received.msg.inference_ms)
            in_node.append(received.msg.total_ms - received.msg.inference_ms)
    latency, model, in_node = map(np.asarray, (latency, model, in_node))
    everything_else = latency - model

    def stats(values):
        return {"p50": round(float(np.median(values)), 2), "p90": round(float(np.percentile(values, 90)), 2)}

    return {
        "frames": frames,
        "num_points_last": int(received.msg.num_points),
        "latency_ms": stats(latency),
        "model_ms": stats(model),
        "everything_else_ms": stats(everything_else),
        "in_node_ms": stats(in_node),
        "transport_ms": stats(everything_else - in_node),
    }


def run_node(parameters: dict, frame, frames: int, prelude: str | None = None) -> dict:
    with NodeProcess(parameters, python_prelude=prelude) as process, PerceptionClient("bench_player") as client:
        wait_until(lambda: client.lifecycle_state() == "active", 120, process, "the node to become active")
        wait_until(client.connected, 30, process, "the node's topics to connect")
        client.publish_frame(frame.messages(time.time_ns()))
        time.sleep(0.5)
        client.publish_instruction(INSTRUCTION)
        client.wait_for_result(lambda msg: msg.instruction == INSTRUCTION, timeout=60)
        return measure(client, frame, frames)


def echo_answers(client: PerceptionClient, frame) -> bool:
    """Publish one frame and report whether the echo node answered it (best effort may drop the first)."""
    start = client.result_count()
    client.publish_frame(frame.messages(time.time_ns()))
    try:
        client.wait_for_result(timeout=0.5, start=start)
        return True
    except TimeoutError:
        return False


def run_echo(frame, frames: int, result_points: int | None = None) -> dict:
    arguments = [] if result_points is None else [str(result_points)]
    echo = subprocess.Popen([sys.executable, "-c", ECHO_NODE, *arguments])
    try:
        with PerceptionClient("bench_player") as client:
            wait_until(client.connected, 30, what="the echo node's topics to connect")
            wait_until(lambda: echo_answers(client, frame), 30, what="the echo node to answer")
            result = measure(client, frame, frames)
        return {"frames": frames, "latency_ms": result["latency_ms"]}
    finally:
        echo.send_signal(subprocess.signal.SIGINT)
        try:
            echo.wait(10)
        except subprocess.TimeoutExpired:
            echo.kill()


def pipeline_stages(frame, runs: int) -> dict:
    """Median ms of each ``PartPipeline.run`` stage for the large mask, in this process (no model)."""
    height, width = frame.depth_mm.shape
    mask = np.zeros((height, width), dtype=bool)
    mask[height // 5:height - height // 5, width // 5:width - width // 5] = True  # as NO_MODEL_PRELUDE
    stand_in = types.SimpleNamespace(segment=lambda rgb, instruction, mode: types.SimpleNamespace(
        mask=mask.copy(), score=1.0, answer="[SEG]", found=True, reason="", prompt_embedding=None))
    pipeline = PartPipeline(stand_in, NodeConfig.from_values({"model_checkpoint": "stand-in"}))
    messages = frame.messages(0)
    outputs = [pipeline.run(*messages, InferencePlan(INSTRUCTION)) for _ in range(runs + 3)][3:]
    stages = {name: round(float(np.median([output.stage_ms[name] for output in outputs])), 2)
              for name in outputs[0].stage_ms if name != "model"}
    return {"points": int(outputs[0].result.num_points), "stages_ms_p50": stages,
            "sum_ms": round(sum(stages.values()), 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=pathlib.Path, help="also write the JSON here")
    parser.add_argument("--frames", type=int, default=40, help="measured frames per scenario")
    args = parser.parse_args(argv)
    os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")

    knife = find_knife_dir(os.environ.get("INSTRUCTPART_DATA"))
    frame = knife_frame(knife) if knife else synthetic_knife_frame()
    height, width = frame.depth_mm.shape
    with tempfile.TemporaryDirectory(prefix="node_latency_") as workdir:
        parameters = dict(tiny_model_parameters(pathlib.Path(workdir)), model_device="cpu", model_dtype="float32")
        scenarios = {}
        if knife:
            prelude = PART_MASK_PRELUDE.format(path=str(knife / "mask_knife_handle.png"))
            scenarios["part_mask"] = run_node(parameters, frame, args.frames, prelude)
        scenarios["tiny_model_mask"] = run_node(parameters, frame, args.frames)
        scenarios["large_mask_no_model"] = run_node(parameters, frame, args.frames, NO_MODEL_PRELUDE)
        scenarios["large_mask_no_model_default_malloc"] = run_node(
            parameters, frame, args.frames, NO_MODEL_PRELUDE + DEFAULT_MALLOC_PRELUDE)
    baseline = run_echo(frame, args.frames)
    # In a process of its own that keeps freed memory as the node does (this one must not: its
    # client measured every scenario without it).
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=keep_freed_memory) as pool:
        stages = pool.submit(pipeline_stages, frame, args.frames).result()
    echo_large = run_echo(frame, args.frames, result_points=stages["points"])
    floor = {
        "echo_node_with_a_large_result_ms": echo_large["latency_ms"],
        "node_stages": stages,
        "floor_ms_p50": round(echo_large["latency_ms"]["p50"] + stages["sum_ms"], 2),
        "measured_large_mask_no_model_everything_else_ms": scenarios["large_mask_no_model"]["everything_else_ms"],
    }

    report = {
        "benchmark": "perception node: publish RGB-D frame -> PartSegmentation received",
        "frame": f"{'real knife' if knife else 'synthetic'} {width}x{height} rgb8 + 16UC1 + CameraInfo",
        "transport": os.environ.get("FASTDDS_BUILTIN_TRANSPORTS", "default"),
        "machine": machine(platform=platform.platform()),
        "target_everything_else_ms": TARGET_MS,
        "scenarios": scenarios,
        "baseline_echo_node": baseline,
        "floor_large_mask": floor,
    }
    for name, result in scenarios.items():
        result["meets_target"] = result["everything_else_ms"]["p50"] < TARGET_MS
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
