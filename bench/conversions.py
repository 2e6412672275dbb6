"""Conversion benchmark: Image -> numpy (1280x720) and numpy -> PointCloud2 (300k points).

Each conversion is timed next to a naive baseline in the same run (median of many
runs, milliseconds) and printed as JSON; ``--out`` also writes it to a file. Target:
instructpart_ros's conversions under 2 ms each.

The baselines are what a first attempt usually looks like: a Python list of the bytes
(``np.array(list(msg.data))``), or ``msg.data = array.tobytes()``, which rclpy turns
into an ``array.array`` element by element (and, with ``ROS_PYTHON_CHECK_FIELDS=1`` or
``check_fields=True``, also type-checks every byte in Python).

    python bench/conversions.py [--out bench/results/conversions.json] [--runs 200]
"""
from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import Image, PointCloud2

from instructpart_ros.ros.conversions import (
    depth_to_numpy, image_to_numpy, image_to_rgb, numpy_to_image, pointcloud2_to_points,
    points_to_pointcloud2)
from _common import emit, machine, median_ms

TARGET_MS = 2.0
HEIGHT, WIDTH, NUM_POINTS = 720, 1280, 300_000


def received(msg):
    """``msg`` as a subscriber gets it: through CDR, ``data`` an ``array.array``."""
    return deserialize_message(serialize_message(msg), type(msg))


def list_image_to_numpy(msg: Image) -> np.ndarray:
    return np.array(list(msg.data), dtype=np.uint8).reshape(msg.height, msg.width, 3)


def copied_image_to_numpy(msg: Image) -> np.ndarray:
    return np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3)


def bytes_pointcloud2(points: np.ndarray, check_fields: bool) -> PointCloud2:
    msg = PointCloud2(check_fields=check_fields)
    msg.data = points.tobytes()
    return msg


def list_pointcloud2(points: np.ndarray) -> PointCloud2:
    msg = PointCloud2()
    msg.data = points.reshape(-1).view(np.uint8).tolist()
    return msg


def run(runs: int) -> dict:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    depth = rng.integers(0, 10_000, (HEIGHT, WIDTH), dtype=np.uint16)
    points = rng.uniform(-2, 2, (NUM_POINTS, 3)).astype(np.float32)
    colors = rng.integers(0, 256, (NUM_POINTS, 3), dtype=np.uint8)
    rgb_msg = received(numpy_to_image(rgb, "rgb8"))
    bgr_msg = received(numpy_to_image(rgb, "bgr8"))
    depth_msg = received(numpy_to_image(depth, "16UC1"))
    cloud_msg = received(points_to_pointcloud2(points, colors=colors))

    # name -> (conversion, {baseline description: baseline})
    cases = {
        f"image_to_numpy rgb8 {WIDTH}x{HEIGHT}": (lambda: image_to_numpy(rgb_msg), {
            "np.array(list(msg.data))": lambda: list_image_to_numpy(rgb_msg),
            "np.frombuffer(bytes(msg.data))": lambda: copied_image_to_numpy(rgb_msg)}),
        f"points_to_pointcloud2 {NUM_POINTS} xyz": (lambda: points_to_pointcloud2(points), {
            "msg.data = points.tobytes()": lambda: bytes_pointcloud2(points, False),
            "msg.data = points.tobytes(), check_fields=True":
                lambda: bytes_pointcloud2(points, True),
            "msg.data = list of bytes": lambda: list_pointcloud2(points)}),
        f"points_to_pointcloud2 {NUM_POINTS} xyz+rgb": (
            lambda: points_to_pointcloud2(points, colors=colors), {}),
        f"pointcloud2_to_points {NUM_POINTS} xyz+rgb": (
            lambda: pointcloud2_to_points(cloud_msg), {}),
        f"image_to_rgb bgr8 {WIDTH}x{HEIGHT}": (lambda: image_to_rgb(bgr_msg), {}),
        f"depth_to_numpy 16UC1 {WIDTH}x{HEIGHT}": (lambda: depth_to_numpy(depth_msg), {}),
        f"numpy_to_image rgb8 {WIDTH}x{HEIGHT}": (lambda: numpy_to_image(rgb, "rgb8"), {}),
    }
    slow_runs = max(3, runs // 40)  # the slowest baselines take 10^4 times longer
    results = {}
    for name, (conversion, baselines) in cases.items():
        entry = {"median_ms": round(median_ms(conversion, runs), 4), "runs": runs}
        entry["under_target"] = entry["median_ms"] < TARGET_MS
        entry["baselines"] = {
            what: {"median_ms": round(median_ms(baseline, slow_runs), 4), "runs": slow_runs}
            for what, baseline in baselines.items()}
        results[name] = entry
        print(f"{name}: {entry['median_ms']:.3f} ms", file=sys.stderr, flush=True)
    return {
        "benchmark": "conversions",
        "target_ms": TARGET_MS,
        "machine": machine(),
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, help="also write the JSON here")
    parser.add_argument("--runs", type=int, default=200, help="timed runs per conversion")
    args = parser.parse_args()
    emit(run(args.runs), args.out)


if __name__ == "__main__":
    main()
