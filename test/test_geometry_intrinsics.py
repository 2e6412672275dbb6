"""Intrinsics: construction, the accepted forms (K, P, tuple) and the exact error messages."""
import numpy as np
import pytest

from instructpart_ros.geometry import Intrinsics, as_intrinsics

K = [[600.0, 0.0, 320.5], [0.0, 610.0, 240.25], [0.0, 0.0, 1.0]]
EXPECTED = Intrinsics(600.0, 610.0, 320.5, 240.25)


@pytest.mark.parametrize(
    "value",
    [
        K,
        np.array(K),
        np.hstack([np.array(K), [[5.0], [0.0], [0.0]]]),  # a 3x4 P with a stereo Tx
        (600, 610, 320.5, 240.25),
        EXPECTED,
    ],
    ids=["K-list", "K-array", "P", "tuple", "Intrinsics"],
)
def test_as_intrinsics_accepts_K_P_tuple_and_intrinsics(value):
    assert as_intrinsics(value) == EXPECTED


@pytest.mark.parametrize("flat", [np.ravel(K), np.ravel(np.hstack([np.array(K), np.zeros((3, 1))]))])
def test_from_matrix_reads_flat_camera_info_arrays(flat):
    assert Intrinsics.from_matrix(list(flat)) == EXPECTED


def test_intrinsics_fields_are_floats_and_hashable():
    intrinsics = Intrinsics(np.float32(650), 650, 640, 400)
    assert type(intrinsics.fx) is float
    assert {intrinsics: 1}[Intrinsics(650.0, 650.0, 640.0, 400.0)] == 1


@pytest.mark.parametrize(
    "args, message",
    [
        ((0, 650, 640, 400), "intrinsics fx (focal length) must be > 0 pixels, got 0.0; "
         "the camera is uncalibrated or the CameraInfo is empty"),
        ((650, -1, 640, 400), "intrinsics fy (focal length) must be > 0 pixels, got -1.0; "
         "the camera is uncalibrated or the CameraInfo is empty"),
        ((650, 650, float("nan"), 400),
         "intrinsics cx must be finite, got nan; check the camera calibration"),
        ((650, 650, 640, "a"), "intrinsics cy must be a number, got 'a'; pass fx, fy, cx, cy in pixels"),
    ],
)
def test_bad_intrinsics_values_raise_with_the_field_and_value(args, message):
    with pytest.raises(ValueError) as error:
        Intrinsics(*args)
    assert str(error.value) == message


def test_all_zero_camera_info_k_is_rejected_as_not_pinhole():
    with pytest.raises(ValueError) as error:
        Intrinsics.from_matrix([0.0] * 9)
    assert str(error.value) == (
        "camera matrix is not a pinhole K: rows are [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], "
        "expected [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] (plus a 4th column for P)"
    )


def test_zero_focal_length_in_K_is_rejected():
    with pytest.raises(ValueError) as error:
        as_intrinsics([[0.0, 0.0, 320.0], [0.0, 600.0, 240.0], [0.0, 0.0, 1.0]])
    assert str(error.value).startswith("intrinsics fx (focal length) must be > 0 pixels, got 0.0")


def test_skewed_K_is_rejected():
    with pytest.raises(ValueError) as error:
        Intrinsics.from_matrix([[600.0, 2.0, 320.0], [0.0, 600.0, 240.0], [0.0, 0.0, 1.0]])
    assert str(error.value) == (
        "camera matrix has skew K[0,1]=2.0, which the pinhole model here does not support; "
        "rectify the image so that K[0,1] is 0"
    )


def test_wrong_matrix_size_names_the_shape():
    with pytest.raises(ValueError) as error:
        Intrinsics.from_matrix(np.eye(2))
    assert str(error.value) == (
        "camera matrix must be a 3x3 K or a 3x4 P (9 or 12 values), got shape (2, 2); "
        "pass CameraInfo.k or CameraInfo.p"
    )


def test_as_intrinsics_rejects_other_shapes_and_objects():
    with pytest.raises(ValueError) as error:
        as_intrinsics((650.0, 650.0, 640.0))
    assert str(error.value) == (
        "intrinsics must be an Intrinsics, a 3x3 K or (fx, fy, cx, cy), got an array of shape (3,); "
        "use Intrinsics.from_matrix for a flat CameraInfo k/p"
    )
    with pytest.raises(ValueError) as error:
        as_intrinsics({"fx": 1})
    assert str(error.value) == "intrinsics must be an Intrinsics, a 3x3 K or (fx, fy, cx, cy), got {'fx': 1}"


def test_skewed_P_is_rejected_naming_P():
    with pytest.raises(ValueError) as error:
        Intrinsics.from_matrix([600.0, 300.0, 320.0, 0.0, 0.0, 600.0, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    assert str(error.value) == (
        "camera matrix has skew P[0,1]=300.0, which the pinhole model here does not support; "
        "rectify the image so that P[0,1] is 0"
    )


def test_field_of_view_of_the_knife_camera():
    fov_x, fov_y = Intrinsics(650.0, 650.0, 640.0, 400.0).field_of_view_deg(1280, 800)
    assert (round(fov_x, 2), round(fov_y, 2)) == (89.11, 63.22)


@pytest.mark.parametrize(
    "intrinsics, message",
    [
        (Intrinsics(650.0, 650.0, 1e30, 400.0), "principal point cx=1e+30 px lies far outside the 1280x800 image "
         "(expected -1280 to 2560, usually near 640): check the calibration"),
        (Intrinsics(650.0, 650.0, 640.0, 2401.0), "principal point cy=2401 px lies far outside the 1280x800 image "
         "(expected -800 to 1600, usually near 400): check the calibration"),
        (Intrinsics(1e-300, 650.0, 640.0, 400.0), "focal length fx=1e-300 px gives a 180 degree field of view "
         "across the 1280-pixel image, outside the 0.5-170 degrees of a pinhole camera: check the calibration "
         "(pixels, this resolution; rectify fisheye images)"),
        (Intrinsics(650.0, 30.0, 640.0, 400.0), "focal length fy=30 px gives a 171 degree field of view across the "
         "800-pixel image"),
        (Intrinsics(650.0, 1e6, 640.0, 400.0), "focal length fy=1e+06 px gives a 0.0458 degree field of view"),
    ],
    ids=["cx", "cy", "fx-tiny", "fy-wide", "fy-huge"],
)
def test_implausible_intrinsics_for_the_image_are_named(intrinsics, message):
    with pytest.raises(ValueError) as error:
        intrinsics.check_image(1280, 800)
    assert str(error.value).startswith(message)


def test_plausible_intrinsics_pass_the_image_check_unchanged():
    intrinsics = Intrinsics(650.0, 650.0, -1000.0, 1500.0)  # a crop far off-centre, still within one image size
    assert intrinsics.check_image(1280, 800) is intrinsics
