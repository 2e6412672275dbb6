"""The grasp filter on the real knife frame: gates, scores, NMS, conventions, and G2's box counting."""
import numpy as np
import pytest

from instructpart_ros.geometry import backproject, voxel_first_indices
from instructpart_ros.grasping import (
    CONVENTIONS,
    FilterConfig,
    PartScene,
    filter_grasps,
    grasps_from_poses,
    part_scene_from_depth,
)
from instructpart_ros.grasping.region_count import SceneGrid, count_in_boxes_naive

from knife_grasps import EXPECTED, PhysicalGrasp, poses, rotated_about


@pytest.fixture(scope="module")
def handle_scene(knife_parts):
    return part_scene_from_depth(knife_parts.depth, knife_parts.intrinsics, knife_parts.handle)


def run(grasp_list, scene, convention="graspnet", scores=None, config=FilterConfig()):
    rotations, translations, widths = poses(grasp_list, convention)
    scores = np.ones(len(grasp_list)) if scores is None else np.asarray(scores, dtype=float)
    return filter_grasps(grasps_from_poses(rotations, translations, widths, scores, convention), scene, config)


def test_the_handle_scene_is_the_handle_and_its_surroundings(handle_scene, knife_parts):
    assert len(handle_scene.part_points) == len(knife_parts.handle_points) > 10000
    assert handle_scene.elongation > 2.0  # G4 applies to the handle
    assert abs(handle_scene.major_axis @ knife_parts.major_axis) > 0.999
    assert 0.05 < handle_scene.scene_is_part.mean() < 0.5  # handle points among table and blade points


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_each_named_grasp_gets_its_gate_in_every_convention(convention, knife_named_grasps, handle_scene):
    result = run(list(knife_named_grasps.values()), handle_scene, convention)
    assert dict(zip(knife_named_grasps, result.rejected_by)) == EXPECTED
    assert result.kept.tolist() == [0]
    report = {name: entry for name, entry in zip(knife_named_grasps, result.report())}
    assert report["across_handle"]["part_share"] > 0.9 and report["across_handle"]["anchor_distance"] < 0.002
    assert report["on_blade"]["anchor_distance"] > 0.05
    assert 0.006 < report["blade_by_handle"]["anchor_distance"] < 0.01 and report["blade_by_handle"]["part_share"] < 0.5
    assert report["beside_handle"]["anchor_distance"] >= 0.02
    assert report["along_handle"]["axis_deviation"] > 85.0


def test_one_physical_grasp_gets_one_decision_and_the_same_numbers_whatever_its_convention(knife_named_grasps,
                                                                                          handle_scene):
    results = [run(list(knife_named_grasps.values()), handle_scene, convention) for convention in CONVENTIONS]
    for other in results[1:]:
        assert other.rejected_by == results[0].rejected_by
        for name in ("scores", "part_share", "part_points", "anchor_distance", "axis_deviation"):
            np.testing.assert_allclose(getattr(other, name), getattr(results[0], name), atol=1e-9, err_msg=name)


def test_a_contact_point_is_the_anchor_of_a_contact_graspnet_grasp(knife_named_grasps, handle_scene, knife_parts):
    grasp = knife_named_grasps["across_handle"]
    rotations, translations, widths = poses([grasp, grasp], "contact_graspnet")
    on_handle = knife_parts.handle_points[np.argmin(np.linalg.norm(knife_parts.handle_points - grasp.center, axis=1))]
    on_blade = knife_named_grasps["on_blade"].center
    grasps = grasps_from_poses(rotations, translations, widths, np.ones(2), "contact_graspnet",
                               np.stack([on_handle, on_blade]))
    result = filter_grasps(grasps, handle_scene)
    assert result.rejected_by == [None, "G1_anchor"]  # the same pose: only the contact point differs
    assert result.anchor_distance[0] == 0.0 and result.anchor_distance[1] > 0.05


def along_handle(grasp: PhysicalGrasp, knife_parts, offset: float) -> PhysicalGrasp:
    """The same grasp moved ``offset`` metres along the handle, onto its surface there."""
    target = grasp.center + offset * knife_parts.major_axis
    handle = knife_parts.handle_points
    surface = handle[np.argmin(np.linalg.norm(handle[:, :2] - target[:2], axis=1))]
    return PhysicalGrasp(surface, grasp.approach, grasp.closing, grasp.width)


def test_scores_are_the_planner_score_times_the_part_share_best_first(knife_named_grasps, handle_scene, knife_parts):
    grasps = [along_handle(knife_named_grasps["across_handle"], knife_parts, offset) for offset in (-0.05, 0.0, 0.05)]
    planner = [0.3, 0.9, 0.6]
    result = run(grasps, handle_scene, scores=planner)
    np.testing.assert_allclose(result.scores, np.array(planner) * result.part_share, rtol=1e-12)
    assert result.kept.tolist() == sorted(range(3), key=lambda i: -result.scores[i])
    tilted = [PhysicalGrasp(g.center, g.approach, rotated_about(g.approach, g.closing, 40.0), g.width) for g in grasps]
    with_axis = run(tilted, handle_scene, scores=planner, config=FilterConfig(axis_term=True))
    np.testing.assert_allclose(with_axis.axis_deviation, 40.0, atol=1.5)
    np.testing.assert_allclose(with_axis.scores, np.array(planner) * with_axis.part_share
                               * np.cos(np.radians(with_axis.axis_deviation)), rtol=1e-12)


def test_nms_drops_near_duplicates_of_the_best_and_keeps_distinct_grasps(knife_named_grasps, handle_scene, knife_parts):
    base = knife_named_grasps["across_handle"]
    near = along_handle(base, knife_parts, 0.01)
    grasps = [
        near,                                                                              # 0: a near-duplicate
        base,                                                                              # 1: the best
        PhysicalGrasp(base.center, base.approach, rotated_about(base.approach, base.closing, 10.0), base.width),
        PhysicalGrasp(base.center, base.approach, rotated_about(base.approach, base.closing, 45.0), base.width),
        along_handle(base, knife_parts, 0.045),                                                  # 4: 4.5 cm away
    ]
    result = run(grasps, handle_scene, scores=[0.8, 0.9, 0.85, 0.7, 0.5])
    assert result.rejected_by == ["nms", None, "nms", None, None]
    assert result.kept.tolist() == [1, 3, 4]
    top_one = run(grasps, handle_scene, scores=[0.8, 0.9, 0.85, 0.7, 0.5], config=FilterConfig(top_k=1))
    assert top_one.rejected_by == ["nms", None, "nms", "top_k", "top_k"] and top_one.kept.tolist() == [1]
    no_nms = run(grasps, handle_scene, scores=[0.8, 0.9, 0.85, 0.7, 0.5], config=FilterConfig(nms_translation=0.0))
    assert no_nms.kept.tolist() == [1, 2, 0, 3, 4]


def test_nothing_on_the_part_gives_an_empty_result_with_the_reason_never_a_fallback(knife_named_grasps, handle_scene):
    off_part = [knife_named_grasps[name] for name in ("on_blade", "blade_by_handle", "beside_handle", "too_wide")]
    result = run(off_part, handle_scene)
    assert result.kept.tolist() == []
    assert result.reason == (
        "no grasp on the part: all 4 candidates were rejected: 2 by G1_anchor (anchor too far from the part), "
        "1 by G3_width (wider than the gripper opens), 1 by G2_part_share (too little of the part between the jaws)")
    strict = run([knife_named_grasps["across_handle"]], handle_scene, config=FilterConfig(min_part_points=100000))
    assert strict.rejected_by == ["G2_part_share"] and strict.part_points[0] > 50


def test_a_part_without_points_rejects_everything_and_says_why(knife_named_grasps, knife_parts):
    empty = part_scene_from_depth(knife_parts.depth, knife_parts.intrinsics, np.zeros_like(knife_parts.handle))
    result = run([knife_named_grasps["across_handle"]], empty)
    assert result.rejected_by == ["G1_anchor"] and np.isinf(result.anchor_distance[0])
    assert result.reason == "the part has no 3D points, so no grasp can be on it (1 candidates rejected)"


def random_boxes(centres, count, seed):
    rng = np.random.default_rng(seed)
    centres = centres[rng.integers(0, len(centres), count)] + rng.normal(0, 0.01, (count, 3))
    axes = np.linalg.qr(rng.normal(size=(count, 3, 3)))[0]
    half = np.stack([np.full(count, 0.01), rng.uniform(0.01, 0.05, count), np.full(count, 0.01)], axis=1)
    return centres, axes, half


def test_the_grid_counts_exactly_what_a_loop_over_every_scene_point_counts(handle_scene):
    centres, axes, half = random_boxes(handle_scene.part_points.astype(float), 300, seed=1)
    grid = handle_scene.scene_grid(0.01)
    total, part = grid.count_in_boxes(centres, axes, half)
    expected_total, expected_part = count_in_boxes_naive(handle_scene.scene_points, handle_scene.scene_is_part,
                                                         centres, axes, half)
    np.testing.assert_array_equal(total, expected_total)
    np.testing.assert_array_equal(part, expected_part)
    assert total.min() == 0 and total.max() > 100 and (part > 0).sum() > 100  # empty, full and mixed boxes


def test_points_on_a_box_face_count_as_inside():
    points = np.array([[0.01, 0, 0], [0, -0.03, 0], [0, 0, 0.01], [0.0100001, 0, 0], [0, 0, 0]])
    grid = SceneGrid(points, np.array([True, False, True, True, False]), 0.01)
    total, part = grid.count_in_boxes(np.zeros((1, 3)), np.eye(3)[None], np.array([[0.01, 0.03, 0.01]]))
    assert (total.tolist(), part.tolist()) == ([4], [2])


def test_the_scene_near_the_part_holds_every_scene_point_a_gate_can_count(knife_parts, handle_scene):
    config = FilterConfig()
    everything, pixels = backproject(knife_parts.depth, knife_parts.intrinsics, return_pixels=True)
    keep = voxel_first_indices(everything, config.scene_voxel_size)
    full = PartScene(handle_scene.part_points, handle_scene.major_axis, handle_scene.elongation,
                     everything[keep], knife_parts.handle.reshape(-1)[pixels[keep]])
    # Boxes as far out as G1 and G3 allow: centres up to the reach's anchor distance plus half the widest grasp.
    rng = np.random.default_rng(4)
    centres = handle_scene.part_points[rng.integers(0, len(handle_scene.part_points), 400)].astype(float)
    directions = rng.normal(size=(400, 3))
    centres += directions / np.linalg.norm(directions, axis=1)[:, None] * (config.max_anchor_distance + 0.04)
    axes = np.linalg.qr(rng.normal(size=(400, 3, 3)))[0]
    half = config.region_half_extents(np.full(400, config.max_width))
    cell = config.grid_cell_size()
    near = handle_scene.scene_grid(cell).count_in_boxes(centres, axes, half)
    whole = full.scene_grid(cell).count_in_boxes(centres, axes, half)
    np.testing.assert_array_equal(near[0], whole[0])
    np.testing.assert_array_equal(near[1], whole[1])
    assert len(full.scene_points) > 5 * len(handle_scene.scene_points) and near[0].max() > 0
