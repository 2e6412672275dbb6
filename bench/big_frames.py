"""Do big colour + depth frames reach the perception node's subscriptions? Per size, QoS and transport.

A publisher (reliable, depth 2, as camera drivers and ``perception_client`` publish) sends
frames of a size one at a time to a subscriber process that subscribes exactly as the
node does (``color/image`` and ``depth/image``, depth 1, ``input_reliability``) and
answers each message it receives. Counted: frames whose colour and depth both arrived
within 5 s; timed: publish -> colour received. Both processes get the transport setting
(``FASTDDS_BUILTIN_TRANSPORTS``) of the configuration, as every process of a pipeline must.

    python bench/big_frames.py [--frames 5] [--out bench/results/big_frames.json]

Fast DDS's ``LARGE_DATA`` carries data over shared memory between processes on one host;
its segment (about 2 MB by default) is smaller than a 3 MP frame, and a best-effort
sample whose fragments do not fit while the reader drains them is lost. ``sockets_size``
sets that segment's size (and the sockets' buffers).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import signal
import subprocess
import sys
import time

import numpy as np

from _common import emit, machine

SIZES = ((1280, 800), (1920, 1200), (2048, 1536), (4000, 3000))
CONFIGURATIONS = (  # (FASTDDS_BUILTIN_TRANSPORTS, input_reliability)
    ("LARGE_DATA", "best_effort"),
    ("LARGE_DATA", "reliable"),
    ("LARGE_DATA?sockets_size=64MB", "best_effort"),
    ("LARGE_DATA?sockets_size=64MB", "reliable"),
)
ARRIVAL_TIMEOUT_S = 5.0
SUBSCRIBER = """
import sys, rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import String
from instructpart_ros.ros.perception_node import RELIABILITY, _qos

rclpy.init()
node = Node("perception_node")
acks = node.create_publisher(String, "bench_ack", QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
qos = _qos(sys.argv[1], 1)  # the node's own input QoS
for topic in ("color/image", "depth/image"):
    node.create_subscription(Image, topic, lambda msg, topic=topic: acks.publish(
        String(data=f"{topic} {msg.header.stamp.sec}")), qos)
try:
    rclpy.spin(node)
except KeyboardInterrupt:
    pass
finally:
    node.destroy_node()
    rclpy.try_shutdown()
"""
PUBLISHER = """
import json, sys, threading, time
import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import String
from instructpart_ros.ros.conversions import numpy_to_image
from instructpart_ros.ros.perception_client import FRAME_QOS

width, height, frames, timeout = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
rclpy.init()
node = Node("bench_camera")
color_pub = node.create_publisher(Image, "color/image", FRAME_QOS)
depth_pub = node.create_publisher(Image, "depth/image", FRAME_QOS)
acks, lock = [], threading.Lock()
def on_ack(msg):
    with lock:
        acks.append((time.monotonic(), msg.data))
node.create_subscription(String, "bench_ack", on_ack, QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
executor = SingleThreadedExecutor()
executor.add_node(node)
stop = threading.Event()
def spin():
    while not stop.is_set():
        executor.spin_once(timeout_sec=0.05)
spinner = threading.Thread(target=spin, daemon=True)
spinner.start()
deadline = time.monotonic() + 30
while time.monotonic() < deadline and not (color_pub.get_subscription_count() and depth_pub.get_subscription_count()
                                           and node.count_publishers("bench_ack")):
    time.sleep(0.05)
time.sleep(1.0)  # let discovery settle both ways
rng = np.random.default_rng(0)
rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
depth = rng.integers(300, 2000, (height, width), dtype=np.uint16)
latencies = []
for index in range(1, frames + 1):
    color, depth_msg = numpy_to_image(rgb, "rgb8"), numpy_to_image(depth, "16UC1")
    color.header.stamp.sec = depth_msg.header.stamp.sec = index
    with lock:
        start = len(acks)
    sent = time.monotonic()
    depth_pub.publish(depth_msg)
    color_pub.publish(color)
    arrived = {}
    while time.monotonic() < sent + timeout and len(arrived) < 2:
        with lock:
            for at, data in acks[start:]:
                topic, sec = data.split()
                if int(sec) == index:
                    arrived.setdefault(topic, at)
        time.sleep(0.002)
    if len(arrived) == 2:
        latencies.append((arrived["color/image"] - sent) * 1e3)
    time.sleep(0.3)
print(json.dumps({"arrived": len(latencies), "latencies_ms": latencies}), flush=True)
stop.set()
spinner.join(5)
executor.shutdown()
node.destroy_node()
rclpy.try_shutdown()
"""


def run(width: int, height: int, transports: str, reliability: str, frames: int) -> dict:
    env = dict(os.environ, FASTDDS_BUILTIN_TRANSPORTS=transports)
    subscriber = subprocess.Popen([sys.executable, "-c", SUBSCRIBER, reliability], env=env)
    try:
        output = subprocess.run(
            [sys.executable, "-c", PUBLISHER, str(width), str(height), str(frames), str(ARRIVAL_TIMEOUT_S)],
            env=env, capture_output=True, text=True, timeout=60 + frames * (ARRIVAL_TIMEOUT_S + 1), check=True)
    finally:
        subscriber.send_signal(signal.SIGINT)
        try:
            subscriber.wait(10)
        except subprocess.TimeoutExpired:
            subscriber.kill()
    result = json.loads(output.stdout.strip().splitlines()[-1])
    latencies = result["latencies_ms"]
    return {
        "size": f"{width}x{height}", "megapixels": round(width * height / 1e6, 1),
        "bytes_colour_plus_depth": width * height * 5,
        "FASTDDS_BUILTIN_TRANSPORTS": transports, "input_reliability": reliability,
        "arrived": f"{result['arrived']}/{frames}",
        "colour_latency_ms_median": round(float(np.median(latencies)), 1) if latencies else None,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=5, help="frames per size and configuration")
    parser.add_argument("--out", type=pathlib.Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    started = time.monotonic()
    results = [run(width, height, transports, reliability, args.frames)
               for transports, reliability in CONFIGURATIONS for width, height in SIZES]
    emit({
        "benchmark": "big colour + depth frames: arrivals at the node's input QoS, per transport setting",
        "publisher": "reliable, depth 2; subscriber: the node's input QoS (depth 1)",
        "machine": machine(platform=platform.platform()),
        "seconds": round(time.monotonic() - started, 1),
        "results": results,
    }, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
