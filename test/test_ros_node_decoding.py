"""Decoding a synchronised frame: every kind of bad input is named, with its kind for diagnostics."""
import math

import numpy as np
import pytest

from instructpart_ros.geometry import Intrinsics
from instructpart_ros.ros import node_health as kinds
from instructpart_ros.ros.conversions import numpy_to_image
from instructpart_ros.ros.frame_decoding import BadInput, decode_frame
from instructpart_ros.ros.synthetic_scene import synthetic_knife_frame

STAMP = 1_700_000_000_123_456_789


@pytest.fixture(scope="module")
def frame():
    return synthetic_knife_frame()


@pytest.fixture()
def messages(frame):
    return frame.messages(STAMP)


def bad_input(*messages):
    with pytest.raises(BadInput) as error:
        decode_frame(*messages)
    return error.value.kind, error.value.message


def test_good_frame_decodes_to_rgb_depth_and_intrinsics(frame, messages):
    decoded = decode_frame(*messages)
    np.testing.assert_array_equal(decoded.rgb, frame.rgb)
    np.testing.assert_array_equal(decoded.depth, frame.depth_mm)
    assert decoded.intrinsics == Intrinsics(525.0, 525.0, 319.5, 239.5)


def test_without_depth_or_camera_info_the_frame_is_2d_only(messages):
    color, depth, info = messages
    for args in ((color,), (color, depth, None), (color, None, info)):
        decoded = decode_frame(*args)
        assert decoded.depth is None and decoded.intrinsics is None and decoded.rgb.shape == (480, 640, 3)


def test_unsupported_colour_encoding(messages):
    color, depth, info = messages
    color.encoding = "yuv422"
    assert bad_input(color, depth, info) == (
        kinds.COLOR_IMAGE, "colour image: Image encoding 'yuv422' is not a colour encoding: expected one of "
                           "rgb8, bgr8, rgba8, bgra8, mono8")


def test_wrong_colour_step(messages):
    color, depth, info = messages
    color.step = 100
    assert bad_input(color, depth, info) == (
        kinds.COLOR_IMAGE, "colour image: Image step is 100 bytes: expected at least width * channels * bytes per "
                           "channel = 640 * 3 * 1 = 1920 for encoding 'rgb8'")


def test_empty_colour_image():
    empty = numpy_to_image(np.zeros((0, 0, 3), np.uint8), "rgb8")
    assert bad_input(empty) == (kinds.COLOR_IMAGE, "colour image is empty (0x0): expected a camera frame")


def test_unsupported_depth_encoding(messages):
    color, depth, info = messages
    depth.encoding = "8UC1"
    kind, message = bad_input(color, depth, info)
    assert kind == kinds.DEPTH_IMAGE and message.startswith("depth image: Depth image encoding '8UC1' is not supported")


def test_depth_of_another_size(frame, messages):
    color, _, info = messages
    small = numpy_to_image(frame.depth_mm[:240, :320].copy(), "16UC1", color.header)
    assert bad_input(color, small, info) == (
        kinds.SIZE_MISMATCH, "depth image is 320x240 but the colour image is 640x480: depth must be registered to "
                             "colour (e.g. RealSense align_depth.enable:=true)")


def test_depth_in_another_frame(messages):
    color, depth, info = messages
    depth.header.frame_id = "camera_depth_optical_frame"
    assert bad_input(color, depth, info) == (
        kinds.FRAME_MISMATCH, "depth frame_id 'camera_depth_optical_frame' differs from colour frame_id "
                              "'camera_color_optical_frame': subscribe to the depth image registered to colour "
                              "(e.g. aligned_depth_to_color/image_raw)")


@pytest.mark.parametrize("value", [math.nan, math.inf, 0.0])
def test_float_depth_without_any_valid_value(messages, value):
    color, _, info = messages
    depth = numpy_to_image(np.full((480, 640), value, np.float32), "32FC1", color.header)
    assert bad_input(color, depth, info) == (
        kinds.DEPTH_INVALID, "depth image (32FC1) has no valid pixel: every value is 0, negative, NaN or inf; "
                             "check the depth camera (covered lens, out of range)")


def test_float_depth_with_some_nan_and_inf_is_fine(frame, messages):
    color, _, info = messages
    metres = frame.depth_mm.astype(np.float32) / 1000.0
    metres[:100] = np.nan
    metres[100:200] = np.inf
    decoded = decode_frame(color, numpy_to_image(metres, "32FC1", color.header), info)
    assert decoded.depth.dtype == np.float32 and np.isnan(decoded.depth[0, 0])


def test_zero_intrinsics(messages):
    color, depth, info = messages
    info.k = [0.0] * 9
    info.p = [0.0] * 12
    assert bad_input(color, depth, info) == (
        kinds.CAMERA_INFO, "camera info: CameraInfo p and k are all zero: expected a calibrated camera (calibrate "
                           "it or have its driver publish the intrinsics)")


def test_camera_info_of_another_resolution(messages):
    color, depth, info = messages
    info.width, info.height = 1280, 720
    assert bad_input(color, depth, info) == (
        kinds.CAMERA_INFO, "camera info is for 1280x720 images but the colour image is 640x480: subscribe to the "
                           "camera info of the colour stream")
