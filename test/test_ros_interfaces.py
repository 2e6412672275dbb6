"""The package's interfaces between two processes over real DDS, every field compared.

This file is also the other process: ``python test_ros_interfaces.py`` runs a peer node
that publishes ``build_part_segmentation()`` (a 640x480 mask and 50k points) on
``part_segmentation`` and serves ``segment_part`` with ``respond(request)``. The test
builds the same values in its own process and compares them field by field with what
arrived.
"""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import rclpy
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.task import Future
from sensor_msgs.msg import CameraInfo, RegionOfInterest
from std_msgs.msg import Header

from instructpart_ros.msg import PartSegmentation
from instructpart_ros.ros.conversions import (
    camera_info_to_intrinsics, depth_to_numpy, image_to_numpy, image_to_rgb,
    mask_to_image, numpy_to_image, pointcloud2_to_points, points_to_pointcloud2)
from instructpart_ros.srv import SegmentPart

TOPIC, SERVICE = "part_segmentation", "segment_part"
HEIGHT, WIDTH, NUM_POINTS = 480, 640, 50_000
# A late subscriber still gets the last result; large messages need reliable delivery.
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
TIMEOUT_S = 30.0


def stamped(frame_id: str, sec: int, nanosec: int) -> Header:
    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = sec, nanosec
    return header


def build_part_segmentation() -> PartSegmentation:
    """A result with every field set to a distinct value (floats exact in float32)."""
    rng = np.random.default_rng(2)
    header = stamped("camera_color_optical_frame", 1_700_000_000, 123_456_789)
    mask = np.zeros((HEIGHT, WIDTH), bool)
    mask[100:300, 200:450] = rng.random((200, 250)) < 0.9
    points = rng.uniform([-0.5, -0.5, 0.2], [0.5, 0.5, 1.5], (NUM_POINTS, 3)).astype(np.float32)
    return PartSegmentation(
        header=header, instruction="cut the bread", answer="It is the handle [SEG].",
        object_name="knife", part_name="handle", score=0.875,
        mask=mask_to_image(mask, header),
        roi=RegionOfInterest(x_offset=200, y_offset=100, width=250, height=200),
        points=points_to_pointcloud2(points, header),
        pose=Pose(position=Point(x=0.125, y=-0.25, z=0.5),
                  orientation=Quaternion(x=0.5, y=0.5, z=0.5, w=0.5)),
        extent=Vector3(x=0.1, y=0.02, z=0.015), num_points=NUM_POINTS,
        inference_ms=512.5, total_ms=530.25, status="ok")


def build_request() -> SegmentPart.Request:
    rng = np.random.default_rng(3)
    header = stamped("camera_color_optical_frame", 42, 7)
    bgr = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    depth_mm = rng.integers(300, 1500, (HEIGHT, WIDTH), dtype=np.uint16)
    depth_mm[::7, ::5] = 0  # no reading
    info = CameraInfo(header=header, height=HEIGHT, width=WIDTH, distortion_model="plumb_bob",
                      k=[600.0, 0, 320, 0, 600, 240, 0, 0, 1],
                      p=[610.0, 0, 318, 0, 0, 612, 236, 0, 0, 0, 1, 0])
    return SegmentPart.Request(
        instruction="pour some water", use_latest_frame=False,
        color=numpy_to_image(bgr, "bgr8", header),
        depth=numpy_to_image(depth_mm, "16UC1", header), camera_info=info)


def respond(request: SegmentPart.Request) -> SegmentPart.Response:
    """The peer's answer: a function of every input, so a changed request shows up here."""
    rgb = image_to_rgb(request.color)
    depth_m = depth_to_numpy(request.depth).astype(np.float32) / 1000.0
    intrinsics = camera_info_to_intrinsics(request.camera_info)
    fx, fy, cx, cy = intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy
    mask = (rgb[:, :, 0] > 128) & (rgb[:, :, 2] < 128)
    rows, cols = np.nonzero(mask & (depth_m > 0))
    z = depth_m[rows, cols]
    points = np.column_stack([(cols - cx) / fx * z, (rows - cy) / fy * z, z]).astype(np.float32)
    result = PartSegmentation(
        header=request.color.header, instruction=request.instruction,
        answer=f"[SEG] for {request.instruction}", score=float(mask.mean()),
        mask=mask_to_image(mask, request.color.header),
        roi=RegionOfInterest(x_offset=int(cols.min()), y_offset=int(rows.min()),
                             width=int(cols.max() - cols.min() + 1),
                             height=int(rows.max() - rows.min() + 1)),
        points=points_to_pointcloud2(points, request.depth.header),
        num_points=len(points), status="ok")
    return SegmentPart.Response(success=True, message="ok", result=result)


def differences(expected, actual, path: str) -> list[str]:
    """Every leaf field where ``actual`` differs from ``expected``, as readable lines."""
    if hasattr(expected, "get_fields_and_field_types"):
        return [line for name in expected.get_fields_and_field_types()
                for line in differences(getattr(expected, name), getattr(actual, name),
                                        f"{path}.{name}")]
    if isinstance(expected, list):  # sequences of messages (PointCloud2.fields)
        if len(expected) != len(actual):
            return [f"{path}: expected {len(expected)} items, got {len(actual)}"]
        return [line for i, (e, a) in enumerate(zip(expected, actual))
                for line in differences(e, a, f"{path}[{i}]")]
    if isinstance(expected, float):  # float32 fields come back rounded
        equal = np.float32(expected) == np.float32(actual)
    else:
        equal = np.array_equal(np.asarray(expected), np.asarray(actual))
    return [] if equal else [f"{path}: expected {str(expected)[:80]}, got {str(actual)[:80]}"]


# --- the peer process ---------------------------------------------------------------------

def run_peer() -> None:
    rclpy.init()
    node = rclpy.create_node("interfaces_peer")
    publisher = node.create_publisher(PartSegmentation, TOPIC, LATCHED)
    node.create_service(SegmentPart, SERVICE, lambda request, _: respond(request))
    publisher.publish(build_part_segmentation())
    print("peer ready", flush=True)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


# --- the tests ----------------------------------------------------------------------------

@pytest.fixture()
def peer(ros_domain):
    """The peer node in its own process, in this test's ROS domain; stopped with SIGINT."""
    process = subprocess.Popen([sys.executable, __file__], env=dict(os.environ),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    yield process
    process.send_signal(signal.SIGINT)
    try:
        process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


@pytest.fixture()
def ros_node(ros_domain):
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain)
    node = rclpy.create_node("interfaces_test", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    yield node, executor
    executor.shutdown()
    node.destroy_node()
    rclpy.shutdown(context=context)


def peer_output(process) -> str:
    if process.poll() is None:
        return "(peer still running)"
    return process.stdout.read()


@pytest.mark.timeout(90)
def test_part_segmentation_arrives_from_another_process(peer, ros_node):
    node, executor = ros_node
    received = Future(executor=executor)

    def keep_first(msg):
        if not received.done():
            received.set_result(msg)

    node.create_subscription(PartSegmentation, TOPIC, keep_first, LATCHED)

    executor.spin_until_future_complete(received, timeout_sec=TIMEOUT_S)

    assert received.done(), f"no PartSegmentation within {TIMEOUT_S} s; {peer_output(peer)}"
    msg, expected = received.result(), build_part_segmentation()
    mismatches = differences(expected, msg, "PartSegmentation")
    assert not mismatches, "\n".join(mismatches)
    assert msg == expected
    np.testing.assert_array_equal(image_to_numpy(msg.mask), image_to_numpy(expected.mask))
    points, colors = pointcloud2_to_points(msg.points)
    assert points.shape == (NUM_POINTS, 3) and colors is None
    np.testing.assert_array_equal(points, pointcloud2_to_points(expected.points)[0])


@pytest.mark.timeout(90)
def test_segment_part_call_to_another_process(peer, ros_node):
    node, executor = ros_node
    client = node.create_client(SegmentPart, SERVICE)
    assert client.wait_for_service(timeout_sec=TIMEOUT_S), \
        f"segment_part not offered within {TIMEOUT_S} s; {peer_output(peer)}"
    request = build_request()

    future = client.call_async(request)
    executor.spin_until_future_complete(future, timeout_sec=TIMEOUT_S)

    assert future.done(), f"no SegmentPart response within {TIMEOUT_S} s; {peer_output(peer)}"
    response, expected = future.result(), respond(request)
    assert expected.result.num_points > 10_000  # the answer carries real content
    mismatches = differences(expected, response, "SegmentPart.Response")
    assert not mismatches, "\n".join(mismatches)
    assert response.result.header == request.color.header
    assert response.result.instruction == "pour some water"


if __name__ == "__main__":
    run_peer()
