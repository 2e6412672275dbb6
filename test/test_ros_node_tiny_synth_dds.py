"""The perception node serving the committed tiny synth-trained PISA (models/pisa-tiny-synth), over real DDS.

Held-out ``instructpart synth`` scenes (seed 7; training used seed 1, validation seed 2) are played
to the node in its own process: the mask it returns for each part's task instruction must pick
that part (``select_part`` against the scene's part masks), and the 3D points and pose must lie
on that part too.
"""
import os
import pathlib

import numpy as np
import pytest

from instructpart_ros.datasets.synthetic_scenes import render_scene
from instructpart_ros.evaluation.part_selection import anchor_from_points, anchor_hits, select_part
from instructpart_ros.ros.conversions import image_to_numpy, pointcloud2_to_points
from instructpart_ros.ros.node_process import NodeProcess, wait_until
from instructpart_ros.ros.perception_client import PerceptionClient
from instructpart_ros.ros.synthetic_scene import synth_scene_frame
from instructpart_ros.srv import SegmentPart

MODEL = pathlib.Path(__file__).resolve().parents[1] / "models" / "pisa-tiny-synth"
SEED = 7
KNIFE, SCREWDRIVER = 0, 3  # scene indices of seed 7
NODE_PARAMETERS = dict(
    model_kind="pisa", model_checkpoint=str(MODEL / "checkpoint"), model_vision_tower=str(MODEL / "vision_tower"),
    model_dinov2=str(MODEL / "dinov2"), model_device="cpu", model_dtype="float32", model_mode="generate",
    instruction_mode="once", publish_markers=False, diagnostics_period=0.2,
)


@pytest.fixture(scope="module")
def node():
    if not (MODEL / "checkpoint" / "config.json").is_file():
        pytest.fail(f"{MODEL} is missing: it is committed (git checkout models/)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ROS_DOMAIN_ID", str(1 + (os.getpid() + 37) % 100))  # this module's own domain
        patch.setenv("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
        with NodeProcess(NODE_PARAMETERS) as process, PerceptionClient("tiny_synth_test") as client:
            wait_until(lambda: client.lifecycle_state() == "active", 120, process, "the node to become active")
            wait_until(client.connected, 20, process, "the node's topics to connect")
            yield process, client
            assert process.alive(), process.log_text()


def stamp_of(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def check_on_part(result, scene, part):
    """The result's mask selects ``part``; its points and pose lie on that part."""
    height, width = scene.rgb.shape[:2]
    assert result.status == "ok", result.status
    assert (result.mask.width, result.mask.height) == (width, height)
    mask = image_to_numpy(result.mask) == 255
    verdict = select_part(mask, part, scene.parts)
    assert verdict.correct, (part, verdict)
    other = next(name for name in scene.parts if name != part)
    assert verdict.part_pixels[part] >= 0.8 * verdict.returned_pixels
    assert verdict.part_pixels[other] <= 0.05 * verdict.returned_pixels

    points, _ = pointcloud2_to_points(result.points)
    assert len(points) == result.num_points >= 100
    pixels = np.round(points[:, :2] / points[:, 2:] * [scene.intrinsics.fx, scene.intrinsics.fy]
                      + [scene.intrinsics.cx, scene.intrinsics.cy]).astype(int)
    inside = np.mean(scene.parts[part][pixels[:, 1].clip(0, height - 1), pixels[:, 0].clip(0, width - 1)])
    assert inside >= 0.9, (part, inside)
    depth_m = scene.depth_mm[scene.parts[part] & (scene.depth_mm > 0)] / 1000.0
    assert depth_m.min() - 0.01 <= points[:, 2].min() and points[:, 2].max() <= depth_m.max() + 0.01  # mask edge pixels: 1 cm

    position = np.array([result.pose.position.x, result.pose.position.y, result.pose.position.z])
    np.testing.assert_allclose(position, points.mean(axis=0), atol=0.01)
    assert anchor_hits(anchor_from_points(position[None], scene.intrinsics), scene.parts[part])
    q = result.pose.orientation
    assert abs(np.linalg.norm([q.x, q.y, q.z, q.w]) - 1.0) < 1e-3
    extent = [result.extent.x, result.extent.y, result.extent.z]
    assert 0.0 < extent[0] <= 0.4 and all(value >= 0.0 for value in extent)
    assert extent[0] >= extent[1]  # x is the major axis


def test_on_the_camera_topics_each_task_instruction_gets_its_own_part_of_a_held_out_knife(node):
    process, client = node
    scene = render_scene(SEED, KNIFE)
    assert scene.object_name == "knife" and list(scene.parts) == ["handle", "blade"]
    frame = synth_scene_frame(scene)
    stamps = set()

    def synchronised():
        stamps.add(stamp := 1_000_000_000 * (len(stamps) + 1))
        client.publish_frame(frame.messages(stamp))
        return int(client.latest_diagnostics().get("frames_synchronised", 0)) > 0

    wait_until(synchronised, 30, process, "the node to receive the frame", period=0.3)
    diagnostics = client.latest_diagnostics()
    assert diagnostics["model_kind"] == "pisa" and diagnostics["model_warning"] == ""  # provenance: trained
    for part, annotation in scene.annotations.items():
        instruction = annotation.instructions[0]  # the task wording, which does not name the part
        assert part not in instruction
        start = client.result_count()
        client.publish_instruction(instruction)
        result = client.wait_for_result(lambda msg: msg.instruction == instruction, 60, start=start).msg
        assert stamp_of(result) in stamps and result.header.frame_id == frame.frame_id
        check_on_part(result, scene, part)


def test_the_service_segments_the_part_asked_for_on_a_held_out_screwdriver_it_is_sent(node):
    _, client = node
    scene = render_scene(SEED, SCREWDRIVER)
    assert scene.object_name == "screwdriver" and list(scene.parts) == ["handle", "shaft"]
    color, depth, info = synth_scene_frame(scene).messages(42_000_000_000)
    for part, annotation in scene.annotations.items():
        instruction = annotation.instructions[0]
        response = client.segment(SegmentPart.Request(instruction=instruction, use_latest_frame=False, color=color,
                                                      depth=depth, camera_info=info), timeout=60)
        assert (response.success, response.message) == (True, "ok")
        assert response.result.instruction == instruction and stamp_of(response.result) == 42_000_000_000
        check_on_part(response.result, scene, part)
