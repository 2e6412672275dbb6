"""The perception node and the grasp filter node, each in its own process, driven over real DDS.

The perception node loads the tiny PISA model through the real loading code; in its
process the segmenter is wrapped so that every answer is the knife-handle mask (the
stub) after the model ran. This process plays the real knife RGB-D frame with an
instruction, publishes grasp candidates stamped like the frame, and checks what
``filtered_grasps`` holds: exactly the grasps on the handle, best first.
"""
import os
import time

import numpy as np
import pytest
from geometry_msgs.msg import Pose
from scipy.spatial.transform import Rotation
from sensor_msgs.msg import Image
from visualization_msgs.msg import Marker, MarkerArray

from instructpart_ros.msg import GraspCandidates
from instructpart_ros.ros import topics
from instructpart_ros.ros.conversions import image_to_numpy
from instructpart_ros.ros.node_process import NodeProcess, tiny_model_parameters, wait_until
from instructpart_ros.ros.perception_client import RESULT_QOS, PerceptionClient
from instructpart_ros.ros.perception_node import stamp_ns
from instructpart_ros.ros.rgbd_frame import knife_frame
from instructpart_ros.srv import FilterGrasps

from knife_grasps import knife_grasps, poses, rotated_about

INSTRUCTION = "If I want to cut the bread, which part of the knife should I hold?"
HANDLE_MASK_STUB = """
import dataclasses, cv2
from instructpart_ros.model.segmenter import PartSegmenter

HANDLE = cv2.imread({mask!r}, cv2.IMREAD_UNCHANGED) > 0
segment = PartSegmenter.segment

def handle_only(self, rgb, instruction, mode="generate"):
    result = segment(self, rgb, instruction, mode=mode)  # the tiny model really runs
    return dataclasses.replace(result, mask=HANDLE.copy(), found=True, reason="", score=0.9)

PartSegmenter.segment = handle_only
"""
PERCEPTION_PARAMETERS = dict(model_device="cpu", model_dtype="float32", instruction_mode="once", max_depth=1.0,
                             publish_segmap=True, publish_markers=False, diagnostics_period=0.2)
GRASP_FILTER_PARAMETERS = dict(input_reliability="reliable", show_rejected=True, diagnostics_period=0.2,
                               sync_slop=0.01)
# name, planner score; the three on the handle are kept, by score (their part shares are ~1)
CANDIDATES = [("on_blade", 0.95), ("across_handle", 0.6), ("along_handle", 0.9), ("too_wide", 0.85),
              ("beside_handle", 0.9), ("handle_end", 0.8), ("near_duplicate", 0.5), ("blade_by_handle", 0.9),
              ("handle_tilted", 0.7)]
KEPT = ["handle_end", "handle_tilted", "across_handle"]


@pytest.fixture(scope="module")
def grasps(knife_parts):
    named = knife_grasps(knife_parts)  # a copy of its own: three more grasps join it
    base = named["across_handle"]
    shifted = base.center - 0.05 * knife_parts.major_axis
    handle = knife_parts.handle_points
    end = handle[np.argmin(np.linalg.norm(handle[:, :2] - shifted[:2], axis=1))]
    named["handle_end"] = type(base)(end, base.approach, base.closing, base.width)
    named["near_duplicate"] = type(base)(base.center + 0.003 * knife_parts.major_axis, base.approach, base.closing,
                                         0.035)
    named["handle_tilted"] = type(base)(base.center, base.approach, rotated_about(base.approach, base.closing, 45.0),
                                        base.width)
    return named


def candidates_message(grasps, stamp, frame_id, convention="contact_graspnet"):
    names = [name for name, _ in CANDIDATES]
    rotations, translations, widths = poses([grasps[name] for name in names], convention)
    msg = GraspCandidates(convention=convention, scores=[score for _, score in CANDIDATES], widths=widths.tolist())
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp // 1_000_000_000, stamp % 1_000_000_000
    msg.header.frame_id = frame_id
    for translation, quaternion in zip(translations, Rotation.from_matrix(rotations).as_quat()):
        pose = Pose()
        pose.position.x, pose.position.y, pose.position.z = map(float, translation)
        pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = map(float, quaternion)
        msg.poses.append(pose)
    return msg


@pytest.fixture(scope="module")
def pipeline(knife_dir, tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ROS_DOMAIN_ID", str(1 + (os.getpid() + 37) % 100))
        patch.setenv("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
        parameters = dict(PERCEPTION_PARAMETERS, **tiny_model_parameters(tmp_path_factory.mktemp("tiny_pisa")))
        prelude = HANDLE_MASK_STUB.format(mask=str(knife_dir / "mask_knife_handle.png"))
        with NodeProcess(parameters, python_prelude=prelude) as perception, \
                NodeProcess(GRASP_FILTER_PARAMETERS, module="grasp_filter_node", config_name="grasp_filter.yaml") \
                as grasp_filter, PerceptionClient() as client:
            client.filtered = client.listen(GraspCandidates, topics.FILTERED_GRASPS)
            client.grasp_markers = client.listen(MarkerArray, topics.GRASP_MARKERS)
            client.segmaps = client.listen(Image, topics.PART_SEGMAP)
            client.candidates_pub = client.node.create_publisher(GraspCandidates, topics.GRASP_CANDIDATES, RESULT_QOS)
            client.filter_service = client.node.create_client(FilterGrasps, topics.FILTER_GRASPS)
            wait_until(lambda: client.lifecycle_state() == "active", 150, perception,
                       "the perception node to activate")
            wait_until(lambda: _connected(client), 60, grasp_filter, "the grasp filter node's topics to connect")
            # Frames through the whole chain until the grasp filter node has a perception result: the two
            # node processes discover each other on their own, and a result published before that is lost.
            def chain_ready():
                segment_knife(client, knife_dir, time.time_ns())
                time.sleep(0.5)
                return int(grasp_filter_diagnostics(client).get("parts_received", 0)) >= 1

            wait_until(chain_ready, 120, grasp_filter, "the grasp filter node to receive a part segmentation")
            yield client, perception, grasp_filter
            assert perception.alive(), perception.log_text()
            assert grasp_filter.alive(), grasp_filter.log_text()


def _connected(client):
    """Both nodes take this process's frames (two subscribers each) and the grasp filter node its candidates."""
    return (client.connected() and client.depth_pub.get_subscription_count() >= 2
            and client.info_pub.get_subscription_count() >= 2 and client.candidates_pub.get_subscription_count() > 0
            and client.node.count_publishers(topics.FILTERED_GRASPS) > 0)


def filtered_for(client, stamp, node, timeout=60):
    return wait_until(lambda: next((item.msg for item in client.filtered if stamp_ns(item.msg.header) == stamp), None),
                      timeout, node, f"filtered_grasps stamped {stamp}")


def segment_knife(client, knife_dir, stamp):
    client.publish_frame(knife_frame(knife_dir).messages(stamp))
    time.sleep(0.3)
    start = client.result_count()
    client.publish_instruction(INSTRUCTION)
    return client.wait_for_result(lambda msg: stamp_ns(msg.header) == stamp, timeout=60, start=start).msg


def grasp_filter_diagnostics(client):
    for item in reversed(list(client.diagnostics)):
        for status in item.msg.status:
            if status.name.endswith("grasp_filter_node"):
                return {value.key: value.value for value in status.values}
    return {}


def test_the_filtered_message_holds_exactly_the_handle_grasps_best_first(pipeline, knife_dir, knife_parts, grasps):
    client, _, grasp_filter = pipeline
    stamp = time.time_ns()
    part = segment_knife(client, knife_dir, stamp)
    assert part.status == "ok" and part.num_points > 10000
    candidates = candidates_message(grasps, stamp, part.header.frame_id)
    client.candidates_pub.publish(candidates)
    filtered = filtered_for(client, stamp, grasp_filter)
    names = [name for name, _ in CANDIDATES]
    assert filtered.poses == [candidates.poses[names.index(name)] for name in KEPT]
    assert filtered.convention == "contact_graspnet" and filtered.header == candidates.header
    planner = dict(CANDIDATES)
    for name, score in zip(KEPT, filtered.scores):
        assert 0.95 * planner[name] < score <= planner[name] + 1e-6  # planner score x part share (~1)
    assert list(filtered.scores) == sorted(filtered.scores, reverse=True)

    markers = wait_until(lambda: next((item.msg for item in client.grasp_markers
                                       if item.msg.markers[0].header.stamp == candidates.header.stamp), None),
                         10, grasp_filter, "grasp_markers")
    namespaces = [marker.ns for marker in markers.markers[1:]]
    assert markers.markers[0].action == Marker.DELETEALL
    assert namespaces == ["kept_grasps"] * 3 + ["rejected_grasps"] * (len(CANDIDATES) - 3)

    segmap = wait_until(lambda: next((item.msg for item in client.segmaps if stamp_ns(item.msg.header) == stamp), None),
                        10, what="part_segmap")
    assert segmap.encoding == "mono16" and (segmap.width, segmap.height) == (1280, 800)
    np.testing.assert_array_equal(image_to_numpy(segmap), knife_parts.handle.astype(np.uint16))


def test_candidates_that_arrive_before_their_part_wait_for_it(pipeline, knife_dir, grasps):
    client, _, grasp_filter = pipeline
    stamp = time.time_ns()
    candidates = candidates_message(grasps, stamp, "camera_color_optical_frame", convention="moveit")
    client.candidates_pub.publish(candidates)
    time.sleep(0.5)
    assert not any(stamp_ns(item.msg.header) == stamp for item in client.filtered)
    segment_knife(client, knife_dir, stamp)
    filtered = filtered_for(client, stamp, grasp_filter)
    names = [name for name, _ in CANDIDATES]
    assert filtered.poses == [candidates.poses[names.index(name)] for name in KEPT]


def test_bad_candidates_give_an_empty_result_and_the_node_keeps_serving(pipeline, knife_dir, grasps):
    client, _, grasp_filter = pipeline
    stamp = time.time_ns()
    part = segment_knife(client, knife_dir, stamp)
    wrong_frame = candidates_message(grasps, stamp, "base_link")
    nan = candidates_message(grasps, stamp, part.header.frame_id)
    nan.poses[4].orientation.z = float("nan")
    for msg in (wrong_frame, nan):
        client.candidates_pub.publish(msg)
    wait_until(lambda: sum(stamp_ns(item.msg.header) == stamp for item in client.filtered) >= 2, 30, grasp_filter,
               "two filtered_grasps answers")
    answers = [item.msg for item in client.filtered if stamp_ns(item.msg.header) == stamp]
    assert [len(answer.poses) for answer in answers] == [0, 0]
    diagnostics = wait_until(lambda: (d := grasp_filter_diagnostics(client)).get("bad_input.grasp_candidates") == "1"
                             and d, 5, grasp_filter, "the bad input to be counted")
    assert diagnostics["bad_input.frame_mismatch"] == "1"
    log = grasp_filter.log_text()
    assert "grasp candidates are in frame 'base_link' but the part is in 'camera_color_optical_frame'" in log
    assert "grasp candidates: candidate 4: orientation" in log and "contains NaN or inf" in log

    good = candidates_message(grasps, stamp, part.header.frame_id)
    response = call(client, FilterGrasps.Request(candidates=good, use_latest_part=True))
    names = [name for name, _ in CANDIDATES]
    assert response.success and response.message == "ok"
    assert list(response.kept_indices) == [names.index(name) for name in KEPT]
    assert dict(zip(names, response.rejected_by)) == {
        "on_blade": "G1_anchor", "across_handle": "", "along_handle": "G4_axis", "too_wide": "G3_width",
        "beside_handle": "G1_anchor", "handle_end": "", "near_duplicate": "nms", "blade_by_handle": "G2_part_share",
        "handle_tilted": ""}
    assert response.filtered.poses == [good.poses[index] for index in response.kept_indices]


def call(client, request, timeout=30.0):
    assert client.filter_service.wait_for_service(timeout_sec=timeout)
    future = client.filter_service.call_async(request)
    deadline = time.monotonic() + timeout
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert future.done(), "filter_grasps did not answer"
    return future.result()
