"""Grasp conventions: the axes and anchors of each, conversions between them, and candidate checks."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from instructpart_ros.grasping import (
    CONVENTIONS,
    check_candidates,
    convert_poses,
    grasps_from_poses,
    poses_from_grasps,
    rotations_from_quaternions,
)

from knife_grasps import PhysicalGrasp, poses


def random_physical(count, seed=0):
    rng = np.random.default_rng(seed)
    rotations = Rotation.random(count, random_state=seed).as_matrix()
    return [PhysicalGrasp(rng.uniform(-0.3, 0.3, 3), rotation[:, 0], rotation[:, 1], rng.uniform(0.01, 0.08))
            for rotation in rotations]


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_each_convention_reads_approach_closing_and_centre_as_documented(convention):
    physical = random_physical(20)
    rotations, translations, widths = poses(physical, convention, tcp_offset=0.07)
    grasps = grasps_from_poses(rotations, translations, widths, np.linspace(0, 1, 20), convention, tcp_offset=0.07)
    np.testing.assert_allclose(grasps.approach, [g.approach for g in physical], atol=1e-12)
    np.testing.assert_allclose(grasps.closing, [g.closing for g in physical], atol=1e-12)
    np.testing.assert_allclose(grasps.center, [g.center for g in physical], atol=1e-12)
    np.testing.assert_array_equal(grasps.anchor, grasps.center)  # no contact points: the anchor is the centre
    np.testing.assert_array_equal(grasps.widths, widths)


def test_the_documented_axes_and_offsets_of_one_grasp():
    grasp = PhysicalGrasp(np.array([0.1, 0.2, 0.5]), np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0]), 0.05)
    rotation, translation = grasp.pose("graspnet")
    np.testing.assert_array_equal(rotation[:, 0], [0, 0, 1])  # approach = R[:,0]
    np.testing.assert_array_equal(rotation[:, 1], [1, 0, 0])  # closing = R[:,1]
    np.testing.assert_array_equal(translation, [0.1, 0.2, 0.5])
    rotation, translation = grasp.pose("contact_graspnet")
    np.testing.assert_array_equal(rotation[:, 0], [1, 0, 0])  # closing = R[:,0]
    np.testing.assert_array_equal(rotation[:, 2], [0, 0, 1])  # approach = R[:,2]
    np.testing.assert_allclose(translation, [0.1, 0.2, 0.5 - 0.1034])
    converted_r, converted_t = convert_poses(rotation[None], translation[None], "contact_graspnet", "moveit", 0.2)
    np.testing.assert_allclose(converted_r[0][:, 2], [0, 0, 1], atol=1e-15)  # approach = R[:,2]
    np.testing.assert_allclose(converted_r[0][:, 1], [1, 0, 0], atol=1e-15)  # closing = R[:,1]
    np.testing.assert_allclose(converted_t[0], [0.1, 0.2, 0.3])  # t + tcp_offset R[:,2] = centre


def test_converting_through_every_convention_and_back_is_exact_and_matches_the_definitions():
    physical = random_physical(50, seed=3)
    rotations, translations, _ = poses(physical, "graspnet")
    for source, target in [("graspnet", "contact_graspnet"), ("contact_graspnet", "moveit"), ("moveit", "graspnet")]:
        expected_r, expected_t, _ = poses(physical, target, tcp_offset=0.1034)
        rotations, translations = convert_poses(rotations, translations, source, target)
        np.testing.assert_allclose(rotations, expected_r, atol=1e-12)
        np.testing.assert_allclose(translations, expected_t, atol=1e-12)
    grasps = grasps_from_poses(rotations, translations, np.full(50, 0.05), np.ones(50), "graspnet")
    back_r, back_t = poses_from_grasps(grasps, "graspnet")
    np.testing.assert_allclose(back_r, rotations, atol=1e-12)
    np.testing.assert_allclose(back_t, translations, atol=1e-12)


def test_contact_graspnet_contact_points_are_the_anchors():
    physical = random_physical(5)
    rotations, translations, widths = poses(physical, "contact_graspnet")
    contacts = np.array([g.center - g.width / 2 * g.closing for g in physical])  # its build_6d_grasp relation
    grasps = grasps_from_poses(rotations, translations, widths, np.ones(5), "contact_graspnet", contacts)
    np.testing.assert_array_equal(grasps.anchor, contacts)
    np.testing.assert_allclose(grasps.center, [g.center for g in physical], atol=1e-12)


def good_arrays(count=4):
    rotations, translations, widths = poses(random_physical(count), "graspnet")
    return [rotations, translations, widths, np.full(count, 0.5)]


@pytest.mark.parametrize("change, message", [
    (lambda a: a[0].__setitem__((2, 1, 1), np.nan), "candidate 2: rotations contain NaN or inf"),
    (lambda a: a[1].__setitem__((3, 0), np.inf), "candidate 3: translations contain NaN or inf"),
    (lambda a: a[0].__setitem__(1, a[0][1] * 1.1), "candidate 1: rotation is not orthonormal"),
    (lambda a: a[0].__setitem__((0, slice(None), 2), -a[0][0][:, 2]), "candidate 0: rotation has determinant -1"),
    (lambda a: a[2].__setitem__(3, 0.0), "candidate 3: width is 0: expected the jaw opening in metres, > 0"),
    (lambda a: a[2].__setitem__(1, -0.02), "candidate 1: width is -0.02"),
    (lambda a: a[3].__setitem__(2, -1.5), "candidate 2: score is -1.5: expected a confidence >= 0"),
])
def test_bad_candidates_are_named_by_index(change, message):
    arrays = good_arrays()
    change(arrays)
    with pytest.raises(ValueError) as error:
        check_candidates(*arrays)
    assert str(error.value).startswith(message)


def test_mismatched_lengths_and_empty_lists_are_refused():
    rotations, translations, widths, scores = good_arrays()
    with pytest.raises(ValueError) as error:
        check_candidates(rotations, translations, widths[:3], scores)
    assert str(error.value) == ("candidate arrays differ in length: {'rotations': 4, 'translations': 4, 'widths': 3, "
                                "'scores': 4}; give one row per candidate in each")
    with pytest.raises(ValueError) as error:
        check_candidates(np.zeros((0, 3, 3)), np.zeros((0, 3)), [], [])
    assert str(error.value) == "no grasp candidates: the input holds 0 grasps"
    with pytest.raises(ValueError) as error:
        check_candidates(rotations.reshape(4, 9), translations, widths, scores)
    assert str(error.value) == "candidate rotations have shape (4, 9): expected (N, 3, 3)"


def test_quaternions_must_be_unit_and_finite():
    rotations = rotations_from_quaternions([[0, 0, 0, 1], [0, 0, np.sin(0.5), np.cos(0.5)]])
    np.testing.assert_allclose(rotations[1], Rotation.from_euler("z", 1.0).as_matrix(), atol=1e-12)
    for bad, norm in (([0, 0, 0, 0], "0"), ([0, 0, 0, 2], "2")):
        with pytest.raises(ValueError) as error:
            rotations_from_quaternions([[0, 0, 0, 1], bad])
        assert str(error.value).startswith(f"candidate 1: orientation {[float(v) for v in bad]} is not a unit "
                                           f"quaternion (norm {norm})")
    with pytest.raises(ValueError) as error:
        rotations_from_quaternions([[np.nan, 0, 0, 1]])
    assert str(error.value) == "candidate 0: orientation [nan, 0.0, 0.0, 1.0] contains NaN or inf"
