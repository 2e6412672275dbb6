"""The grasp filter node's parts in-process: messages -> filtered grasps, bad input, markers, stamp matching."""
import numpy as np
import pytest
from geometry_msgs.msg import Pose, PoseArray
from scipy.spatial.transform import Rotation
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from instructpart_ros.geometry import extract_part_points, part_geometry
from instructpart_ros.grasping import CONVENTIONS
from instructpart_ros.msg import GraspCandidates
from instructpart_ros.ros.conversions import numpy_to_image
from instructpart_ros.ros.frame_decoding import BadInput
from instructpart_ros.ros.grasp_filter_parameters import GraspFilterNodeConfig
from instructpart_ros.ros.grasp_matching import CandidateMatcher
from instructpart_ros.ros.grasp_messages import grasp_markers, pose_arrays
from instructpart_ros.ros.grasp_pipeline import filter_candidates
from instructpart_ros.ros.result_message import part_result
from instructpart_ros.ros.rgbd_frame import camera_info_from_yaml

from knife_grasps import EXPECTED, poses

FRAME = "camera_color_optical_frame"
NAMES = list(EXPECTED)


@pytest.fixture(scope="module")
def frame_messages(knife_parts, knife_dir):
    """A part segmentation of the handle as the perception node builds it, the depth and the camera info."""
    header = Header(frame_id=FRAME)
    header.stamp.sec = 42
    part = extract_part_points(knife_parts.depth, knife_parts.intrinsics, knife_parts.handle)
    geometry = part_geometry(part.points)
    segmentation = part_result(header, "cut the bread", "[SEG]", 0.9, knife_parts.handle, part.points, None, geometry,
                               "ok")
    info = camera_info_from_yaml(knife_dir / "camera_info.yaml")
    info.header = header
    return segmentation, numpy_to_image(knife_parts.depth, "16UC1", header), info


def candidates_message(knife_named_grasps, names, convention, scores=None, frame=FRAME):
    rotations, translations, widths = poses([knife_named_grasps[name] for name in names], convention)
    quaternions = Rotation.from_matrix(rotations).as_quat()
    msg = GraspCandidates(header=Header(frame_id=frame), convention=convention, widths=widths.tolist(),
                          scores=list(scores) if scores is not None else [0.5] * len(names))
    for translation, quaternion in zip(translations, quaternions):
        pose = Pose()
        pose.position.x, pose.position.y, pose.position.z = map(float, translation)
        pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = map(float, quaternion)
        msg.poses.append(pose)
    return msg


CONFIG = GraspFilterNodeConfig.from_values({})


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_the_handle_grasp_comes_out_as_received_with_its_new_score(knife_named_grasps, frame_messages, convention):
    msg = candidates_message(knife_named_grasps, NAMES, convention, scores=[0.7, 0.9, 0.9, 0.9, 0.9, 0.9])
    outcome = filter_candidates(msg, *frame_messages, CONFIG)
    assert dict(zip(NAMES, outcome.result.rejected_by)) == EXPECTED
    out = outcome.message
    assert out.header == msg.header and out.convention == convention
    assert out.poses == [msg.poses[0]]  # the pose exactly as received
    assert out.scores[0] == pytest.approx(0.7 * outcome.result.part_share[0], rel=1e-6)
    assert out.widths == pytest.approx([0.04])
    assert outcome.reason == "" and outcome.filter_ms > 0


def test_a_pose_array_uses_the_convention_parameter_and_the_default_width(knife_named_grasps, frame_messages):
    graspnet = candidates_message(knife_named_grasps, ["across_handle", "on_blade"], "moveit")
    pose_array = PoseArray(header=graspnet.header, poses=graspnet.poses)
    config = GraspFilterNodeConfig.from_values({"input_type": "pose_array", "convention": "moveit",
                                                "default_width": 0.05})
    outcome = filter_candidates(pose_array, *frame_messages, config)
    assert outcome.result.rejected_by == [None, "G1_anchor"]
    assert outcome.message.convention == "moveit" and outcome.message.widths == pytest.approx([0.05])
    wrong = GraspFilterNodeConfig.from_values({"input_type": "pose_array", "convention": "graspnet"})
    assert filter_candidates(pose_array, *frame_messages, wrong).result.rejected_by[0] is not None


def bad(knife_named_grasps, change):
    msg = candidates_message(knife_named_grasps, NAMES, "graspnet")
    change(msg)
    return msg


@pytest.mark.parametrize("change, kind, message", [
    (lambda m: setattr(m.poses[3].orientation, "x", float("nan")), "grasp_candidates",
     "grasp candidates: candidate 3: orientation [nan, "),
    (lambda m: setattr(m.poses[2].orientation, "w", 3.0), "grasp_candidates",
     "grasp candidates: candidate 2: orientation"),
    (lambda m: setattr(m.poses[1].position, "z", float("inf")), "grasp_candidates",
     "grasp candidates: candidate 1: translations contain NaN or inf"),
    (lambda m: m.widths.__setitem__(4, 0.0), "grasp_candidates", "grasp candidates: candidate 4: width is 0"),
    (lambda m: m.scores.pop(), "grasp_candidates",
     "grasp candidates: GraspCandidates has 6 poses but 5 scores: give one per pose (or none)"),
    (lambda m: setattr(m, "poses", []) or setattr(m, "scores", []) or setattr(m, "widths", []), "grasp_candidates",
     "grasp candidates: no grasp candidates: the message holds 0 poses"),
    (lambda m: setattr(m, "convention", ""), "grasp_candidates",
     "grasp candidates: GraspCandidates convention is '': set it to one of ['graspnet', 'contact_graspnet', "
     "'moveit']"),
    (lambda m: setattr(m.header, "frame_id", "base_link"), "frame_mismatch",
     "grasp candidates are in frame 'base_link' but the part is in 'camera_color_optical_frame': publish them in "
     "'camera_color_optical_frame'"),
])
def test_bad_candidates_are_bad_input_naming_the_candidate(knife_named_grasps, frame_messages, change, kind, message):
    with pytest.raises(BadInput) as error:
        filter_candidates(bad(knife_named_grasps, change), *frame_messages, CONFIG)
    assert error.value.kind == kind
    assert error.value.message.startswith(message)


def test_missing_or_mismatched_depth_is_bad_input(knife_named_grasps, frame_messages, knife_parts):
    part, depth, info = frame_messages
    msg = candidates_message(knife_named_grasps, NAMES, "graspnet")
    with pytest.raises(BadInput) as error:
        filter_candidates(msg, part, None, info, CONFIG)
    assert error.value.kind == "depth_image" and error.value.message.startswith(
        "no depth image within sync_slop of the part segmentation's stamp: G2 needs the scene around the part")
    small = numpy_to_image(knife_parts.depth[:400, :640].copy(), "16UC1", depth.header)
    with pytest.raises(BadInput) as error:
        filter_candidates(msg, part, small, info, CONFIG)
    assert error.value.message.startswith("depth image is 640x400 but the part mask is 1280x800")


def test_a_part_without_points_keeps_nothing_and_says_why(knife_named_grasps, frame_messages):
    part, depth, info = frame_messages
    empty = type(part)(header=part.header, mask=part.mask, points=part.points, status="no part found: empty mask")
    outcome = filter_candidates(candidates_message(knife_named_grasps, NAMES, "graspnet"), empty, depth, info, CONFIG)
    assert outcome.message.poses == [] and outcome.result is None
    assert outcome.reason == ("no part to grasp: the part segmentation has no 3D points (its status: no part found: "
                              "empty mask)")


def test_markers_outline_kept_grasps_best_first_and_grey_rejected_ones(knife_named_grasps, frame_messages):
    outcome = filter_candidates(candidates_message(knife_named_grasps, NAMES, "graspnet"), *frame_messages, CONFIG)
    kept = outcome.grasps.take(outcome.result.kept)
    rejected = outcome.grasps.take([1, 2])
    markers = grasp_markers(outcome.message.header, kept, outcome.result.scores[outcome.result.kept], rejected)
    first, *outlines = markers.markers
    assert first.action == Marker.DELETEALL
    assert [(m.ns, m.type, len(m.points)) for m in outlines] == [("kept_grasps", Marker.LINE_LIST, 8)] + \
        [("rejected_grasps", Marker.LINE_LIST, 8)] * 2
    tips = np.array([[p.x, p.y, p.z] for p in outlines[0].points[:4:2]])
    np.testing.assert_allclose(np.linalg.norm(tips[0] - tips[1]), 0.04, atol=1e-9)  # the fingertips, 4 cm apart
    assert outlines[1].color.a == 0.5 and outlines[1].color.r == outlines[1].color.g


def test_pose_arrays_check_their_quaternions():
    rotations, translations = pose_arrays([Pose()])
    np.testing.assert_array_equal(rotations[0], np.eye(3))
    broken = Pose()
    broken.orientation.w = 0.0
    with pytest.raises(ValueError, match="candidate 1: orientation .* is not a unit quaternion"):
        pose_arrays([Pose(), broken])


def test_candidates_wait_for_their_part_frame_in_either_order():
    matcher = CandidateMatcher(slop_s=0.01, queue_size=2)
    assert matcher.add_part(1_000_000_000, "part A") == []
    assert matcher.add_candidates(1_005_000_000, "grasps A") == [("grasps A", "part A")]  # 5 ms: within the slop
    assert matcher.add_candidates(2_000_000_000, "grasps B") == []  # its part is not there yet
    assert matcher.waiting == 1
    assert matcher.add_part(2_000_000_000, "part B") == [("grasps B", "part B")]
    assert matcher.waiting == 0
    for stamp in (3, 4, 5):  # never matched: the oldest is dropped once the queue is full
        matcher.add_candidates(stamp * 1_000_000_000, f"grasps {stamp}")
    assert matcher.dropped == 1
    assert matcher.last_drop_reason == (
        "grasp candidates stamped 3.000 s never matched a part segmentation: the nearest part segmentation is "
        "1000.0 ms away (sync_slop is 10.0 ms; stamp the candidates with the camera frame they were planned on, "
        "or raise sync_slop)")
