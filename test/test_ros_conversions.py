"""Image / CameraInfo / PointCloud2 <-> numpy conversions: exact round trips and errors.

Messages also go through real CDR serialisation (what DDS sends), so a layout that
only works on the Python object would fail here.
"""
import re

import cv2
import numpy as np
import pytest
import yaml
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import Header

from instructpart_ros.geometry import Intrinsics
from instructpart_ros.ros.conversions import (
    camera_info_to_intrinsics, depth_to_numpy, image_to_numpy, image_to_rgb,
    mask_to_image, numpy_to_image, pointcloud2_to_points, points_to_pointcloud2)

RNG = np.random.default_rng(7)
HEIGHT, WIDTH = 5, 7

ENCODINGS = {  # encoding -> (dtype, shape of one image)
    "rgb8": (np.uint8, (HEIGHT, WIDTH, 3)),
    "bgr8": (np.uint8, (HEIGHT, WIDTH, 3)),
    "rgba8": (np.uint8, (HEIGHT, WIDTH, 4)),
    "bgra8": (np.uint8, (HEIGHT, WIDTH, 4)),
    "mono8": (np.uint8, (HEIGHT, WIDTH)),
    "mono16": (np.uint16, (HEIGHT, WIDTH)),
    "16UC1": (np.uint16, (HEIGHT, WIDTH)),
    "32FC1": (np.float32, (HEIGHT, WIDTH)),
}


def random_pixels(encoding):
    dtype, shape = ENCODINGS[encoding]
    if dtype is np.float32:
        return RNG.uniform(0.2, 9.0, shape).astype(np.float32)
    return RNG.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)


def over_the_wire(msg):
    return deserialize_message(serialize_message(msg), type(msg))


def raw_image(pixels, encoding, step, big_endian=False):
    """An Image built by hand: rows padded to ``step`` with 0xAB garbage."""
    height, width = pixels.shape[:2]
    row_bytes = pixels[0].nbytes
    order = ">" if big_endian else "<"
    rows = np.full((height, step), 0xAB, np.uint8)
    rows[:, :row_bytes] = pixels.astype(pixels.dtype.newbyteorder(order)).reshape(
        height, -1).view(np.uint8)
    return Image(height=height, width=width, encoding=encoding, step=step,
                 is_bigendian=int(big_endian), data=rows.tobytes())


# --- Image -> numpy -> Image ---------------------------------------------------------

@pytest.mark.parametrize("encoding", ENCODINGS)
def test_image_round_trip_every_encoding(encoding):
    pixels = random_pixels(encoding)
    header = Header(frame_id="camera_color_optical_frame")
    header.stamp.sec, header.stamp.nanosec = 12, 345

    msg = over_the_wire(numpy_to_image(pixels, encoding, header))

    assert (msg.height, msg.width, msg.encoding) == (HEIGHT, WIDTH, encoding)
    assert msg.step == pixels[0].nbytes
    assert msg.is_bigendian == 0
    assert msg.header == header
    decoded = image_to_numpy(msg)
    assert decoded.dtype == pixels.dtype and decoded.dtype.isnative
    np.testing.assert_array_equal(decoded, pixels)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_padded_step_is_honoured(encoding):
    pixels = random_pixels(encoding)
    step = pixels[0].nbytes + 13  # odd padding: rows are also misaligned for 16/32 bit

    decoded = image_to_numpy(over_the_wire(raw_image(pixels, encoding, step)))

    np.testing.assert_array_equal(decoded, pixels)


@pytest.mark.parametrize("encoding", ["mono16", "16UC1", "32FC1"])
def test_big_endian_pixels_are_swapped_to_native(encoding):
    pixels = random_pixels(encoding)
    msg = raw_image(pixels, encoding, pixels[0].nbytes + 4, big_endian=True)
    assert bytes(msg.data[:2]) == pixels.astype(pixels.dtype.newbyteorder(">")).tobytes()[:2]

    decoded = image_to_numpy(over_the_wire(msg))

    assert decoded.dtype == pixels.dtype and decoded.dtype.isnative
    np.testing.assert_array_equal(decoded, pixels)


def test_big_endian_array_keeps_its_byte_order_on_the_wire():
    depth = np.array([[1, 258], [65535, 4096]], np.uint16)

    msg = numpy_to_image(depth.astype(">u2"), "16UC1")

    assert msg.is_bigendian == 1
    assert bytes(msg.data) == bytes([0, 1, 1, 2, 255, 255, 16, 0])
    np.testing.assert_array_equal(depth_to_numpy(msg), depth)


def test_image_to_numpy_is_a_view_of_the_message_data():
    msg = numpy_to_image(random_pixels("rgb8"), "rgb8")

    assert np.shares_memory(image_to_numpy(msg), np.frombuffer(msg.data, np.uint8))


def test_single_channel_accepts_trailing_axis_of_one():
    depth = random_pixels("16UC1")

    msg = numpy_to_image(depth[:, :, None], "16UC1")

    np.testing.assert_array_equal(image_to_numpy(msg), depth)


# --- colour and depth for the library --------------------------------------------------

@pytest.mark.parametrize("encoding, to_wire", [
    ("rgb8", lambda rgb: rgb),
    ("bgr8", lambda rgb: rgb[:, :, ::-1]),
    ("rgba8", lambda rgb: np.dstack([rgb, np.full(rgb.shape[:2], 77, np.uint8)])),
    ("bgra8", lambda rgb: np.dstack([rgb[:, :, ::-1], np.full(rgb.shape[:2], 77, np.uint8)])),
])
def test_image_to_rgb_gives_rgb_uint8(encoding, to_wire):
    rgb = random_pixels("rgb8")
    wire = to_wire(rgb)
    msg = raw_image(wire, encoding, wire[0].nbytes + 3)

    result = image_to_rgb(over_the_wire(msg))

    assert result.dtype == np.uint8 and result.flags.c_contiguous
    np.testing.assert_array_equal(result, rgb)


def test_image_to_rgb_replicates_mono8():
    gray = random_pixels("mono8")

    result = image_to_rgb(numpy_to_image(gray, "mono8"))

    np.testing.assert_array_equal(result, np.stack([gray, gray, gray], axis=2))


def test_image_to_rgb_of_empty_image_is_empty():
    msg = numpy_to_image(np.zeros((0, 0, 3), np.uint8), "bgr8")

    assert image_to_rgb(msg).shape == (0, 0, 3)


def test_image_to_rgb_rejects_depth():
    msg = numpy_to_image(random_pixels("16UC1"), "16UC1")

    with pytest.raises(ValueError, match=re.escape(
            "Image encoding '16UC1' is not a colour encoding: expected one of "
            "rgb8, bgr8, rgba8, bgra8, mono8")):
        image_to_rgb(msg)


@pytest.mark.parametrize("encoding, dtype", [
    ("16UC1", np.uint16), ("mono16", np.uint16), ("32FC1", np.float32)])
def test_depth_to_numpy_keeps_units(encoding, dtype):
    depth = random_pixels(encoding)

    result = depth_to_numpy(numpy_to_image(depth, encoding))

    assert result.dtype == dtype
    np.testing.assert_array_equal(result, depth)


def test_depth_to_numpy_rejects_other_encodings():
    msg = numpy_to_image(random_pixels("mono8"), "mono8")

    with pytest.raises(ValueError, match=re.escape(
            "Depth image encoding 'mono8' is not supported: expected one of "
            "16UC1, mono16, 32FC1 (16-bit millimetres or 32-bit float metres)")):
        depth_to_numpy(msg)


def test_mask_to_image_is_mono8_0_255():
    mask = np.zeros((4, 6), bool)
    mask[1:3, 2:5] = True
    header = Header(frame_id="cam")

    msg = over_the_wire(mask_to_image(mask, header))

    assert (msg.encoding, msg.height, msg.width, msg.step) == ("mono8", 4, 6, 6)
    assert msg.header.frame_id == "cam"
    np.testing.assert_array_equal(image_to_numpy(msg), mask.astype(np.uint8) * 255)


def test_mask_to_image_treats_any_nonzero_integer_as_set():
    msg = mask_to_image(np.array([[0, 1], [7, 0]], np.int32))

    assert bytes(msg.data) == bytes([0, 255, 255, 0])


# --- malformed images ------------------------------------------------------------------

def test_unsupported_encoding_is_named():
    msg = Image(height=2, width=2, encoding="yuv422", step=4, data=bytes(8))

    with pytest.raises(ValueError, match=re.escape(
            "Image encoding 'yuv422' is not supported: expected one of rgb8, bgr8, rgba8, "
            "bgra8, mono8, mono16, 16UC1, 32FC1")):
        image_to_numpy(msg)


def test_short_data_is_an_error():
    msg = raw_image(random_pixels("rgb8"), "rgb8", WIDTH * 3)
    msg.data = msg.data[:-1]

    with pytest.raises(ValueError, match=re.escape(
            f"Image data has {HEIGHT * WIDTH * 3 - 1} bytes: expected step * height = "
            f"{WIDTH * 3} * {HEIGHT} = {HEIGHT * WIDTH * 3}")):
        image_to_numpy(msg)


def test_extra_data_is_an_error():
    msg = raw_image(random_pixels("mono8"), "mono8", WIDTH)
    msg.data.extend([0, 0])

    with pytest.raises(ValueError, match=re.escape(
            f"Image data has {HEIGHT * WIDTH + 2} bytes: expected step * height")):
        image_to_numpy(msg)


def test_step_shorter_than_a_row_is_an_error():
    msg = raw_image(random_pixels("16UC1"), "16UC1", WIDTH * 2)
    msg.step = WIDTH  # as if the driver forgot the 2 bytes per pixel

    with pytest.raises(ValueError, match=re.escape(
            f"Image step is {WIDTH} bytes: expected at least width * channels * bytes per "
            f"channel = {WIDTH} * 1 * 2 = {WIDTH * 2} for encoding '16UC1'")):
        image_to_numpy(msg)


@pytest.mark.parametrize("encoding, pixels, message", [
    ("rgb8", np.zeros((4, 5), np.uint8),
     "array shape is (4, 5): expected (H, W, 3) for encoding 'rgb8'"),
    ("rgba8", np.zeros((4, 5, 3), np.uint8),
     "array shape is (4, 5, 3): expected (H, W, 4) for encoding 'rgba8'"),
    ("mono8", np.zeros((4, 5, 3), np.uint8),
     "array shape is (4, 5, 3): expected (H, W) for encoding 'mono8'"),
    ("16UC1", np.zeros((4, 5), np.float32),
     "array dtype is float32: expected uint16 for encoding '16UC1'; convert with "
     ".astype(np.uint16)"),
    ("mono8", np.zeros((4, 5), bool),
     "array dtype is bool: expected uint8 for encoding 'mono8'; convert with "
     ".astype(np.uint8) (use mask_to_image for boolean masks)"),
    ("jpeg", np.zeros((4, 5), np.uint8), "Image encoding 'jpeg' is not supported"),
])
def test_numpy_to_image_rejects_mismatches(encoding, pixels, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        numpy_to_image(pixels, encoding)


@pytest.mark.parametrize("mask, message", [
    (np.zeros((2, 3, 1), bool), "mask shape is (2, 3, 1): expected (H, W)"),
    (np.zeros((2, 3), np.float32), "mask dtype is float32: expected bool or an integer "
     "type; threshold scores first (for example mask > 0.5)"),
])
def test_mask_to_image_rejects_bad_masks(mask, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        mask_to_image(mask)


# --- CameraInfo -------------------------------------------------------------------------

def camera_info(k=None, p=None, width=640, height=480):
    return CameraInfo(width=width, height=height, k=k if k is not None else [0.0] * 9,
                      p=p if p is not None else [0.0] * 12)


def test_intrinsics_come_from_p():
    msg = camera_info(k=[600.0, 0, 320, 0, 601, 240, 0, 0, 1],
                      p=[610.0, 0, 315, 0, 0, 612, 238, 0, 0, 0, 1, 0])

    assert camera_info_to_intrinsics(over_the_wire(msg)) == Intrinsics(610.0, 612.0, 315.0, 238.0)


def test_intrinsics_fall_back_to_k_when_p_is_zero():
    msg = camera_info(k=[600.0, 0, 320, 0, 601, 240, 0, 0, 1])

    assert camera_info_to_intrinsics(msg) == Intrinsics(600.0, 601.0, 320.0, 240.0)


@pytest.mark.parametrize("fov_deg", [0.7, 169.0])
def test_intrinsics_at_the_edges_of_a_pinhole_field_of_view_are_accepted(fov_deg):
    fx = 320.0 / np.tan(np.radians(fov_deg) / 2)
    assert camera_info_to_intrinsics(camera_info(k=[fx, 0, 320, 0, fx, 240, 0, 0, 1])).fx == fx


@pytest.mark.parametrize("msg, message", [
    (camera_info(k=[600.0, 0, 320, 0, 601, 240, 0, 0, 1], width=0),
     "CameraInfo size is width=0 height=480: expected both positive"),
    (camera_info(k=[600.0, 0, 320, 0, 601, 240, 0, 0, 1], height=0),
     "CameraInfo size is width=640 height=0: expected both positive"),
    (camera_info(), "CameraInfo p and k are all zero: expected a calibrated camera"),
    (camera_info(p=[0.0, 0, 315, 0, 0, 612, 238, 0, 0, 0, 1, 0]),
     "CameraInfo p: intrinsics fx (focal length) must be > 0 pixels, got 0.0"),
    (camera_info(k=[600.0, 0, 320, 0, -1, 240, 0, 0, 1]),
     "CameraInfo k: intrinsics fy (focal length) must be > 0 pixels, got -1.0"),
    (camera_info(p=[610.0, 0, 315, 0, 0, float("nan"), 238, 0, 0, 0, 1, 0]),
     "CameraInfo p: intrinsics fy must be finite, got nan"),
    # skew in both K and P: P is the one read, and it is checked (it used to be read around)
    (camera_info(k=[600.0, 300, 320, 0, 601, 240, 0, 0, 1], p=[610.0, 300, 315, 0, 0, 612, 238, 0, 0, 0, 1, 0]),
     "CameraInfo p: camera matrix has skew P[0,1]=300.0, which the pinhole model here does not support; "
     "rectify the image so that P[0,1] is 0"),
    (camera_info(k=[600.0, 300, 320, 0, 601, 240, 0, 0, 1]),
     "CameraInfo k: camera matrix has skew K[0,1]=300.0"),
    (camera_info(p=[610.0, 0, 315, 0, 0, 612, 238, 0, 0, 0, 0, 0]),
     "CameraInfo p: camera matrix is not a pinhole K: rows are [[610.0, 0.0, 315.0, 0.0], [0.0, 612.0, 238.0, 0.0], "
     "[0.0, 0.0, 0.0, 0.0]]"),
    (camera_info(p=[610.0, 0, 1e30, 0, 0, 612, 238, 0, 0, 0, 1, 0]),
     "CameraInfo p: principal point cx=1e+30 px lies far outside the 640x480 image (expected -640 to 1280, "
     "usually near 320): check the calibration"),
    (camera_info(k=[600.0, 0, 320, 0, 601, -600, 0, 0, 1]),
     "CameraInfo k: principal point cy=-600 px lies far outside the 640x480 image (expected -480 to 960"),
    (camera_info(p=[1e-300, 0, 315, 0, 0, 612, 238, 0, 0, 0, 1, 0]),
     "CameraInfo p: focal length fx=1e-300 px gives a 180 degree field of view across the 640-pixel image, "
     "outside the 0.5-170 degrees of a pinhole camera: check the calibration (pixels, this resolution; "
     "rectify fisheye images)"),
    (camera_info(k=[600.0, 0, 320, 0, 1e9, 240, 0, 0, 1]),
     "CameraInfo k: focal length fy=1e+09 px gives a 2.75e-05 degree field of view across the 480-pixel image"),
])
def test_bad_camera_info_is_an_error(msg, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        camera_info_to_intrinsics(msg)


# --- PointCloud2 ------------------------------------------------------------------------

def random_points(count):
    return RNG.uniform(-2.0, 2.0, (count, 3)).astype(np.float32)


def test_cloud_layout_is_what_ros_tools_expect():
    colors = np.array([[255, 0, 128], [1, 2, 3]], np.uint8)

    msg = points_to_pointcloud2(random_points(2), colors=colors)

    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        ("x", 0, PointField.FLOAT32, 1), ("y", 4, PointField.FLOAT32, 1),
        ("z", 8, PointField.FLOAT32, 1), ("rgb", 12, PointField.FLOAT32, 1)]
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (1, 2, 16, 32)
    assert msg.is_bigendian is False
    packed = np.frombuffer(msg.data, np.uint32).reshape(2, 4)[:, 3]
    assert packed.tolist() == [0x00FF0080, 0x00010203]


def test_cloud_without_colors_has_xyz_only():
    msg = points_to_pointcloud2(random_points(3))

    assert [f.name for f in msg.fields] == ["x", "y", "z"]
    assert (msg.point_step, msg.row_step, len(msg.data)) == (12, 36, 36)


@pytest.mark.parametrize("with_colors", [False, True])
def test_cloud_round_trip(with_colors):
    points = random_points(1000)
    colors = RNG.integers(0, 255, (1000, 3), endpoint=True).astype(np.uint8) \
        if with_colors else None
    header = Header(frame_id="camera_depth_optical_frame")

    msg = over_the_wire(points_to_pointcloud2(points, header, colors))
    decoded_points, decoded_colors = pointcloud2_to_points(msg)

    assert msg.header == header and msg.is_dense
    assert decoded_points.dtype == np.float32
    np.testing.assert_array_equal(decoded_points, points)
    if with_colors:
        np.testing.assert_array_equal(decoded_colors, colors)
    else:
        assert decoded_colors is None


def test_float64_points_are_stored_as_float32():
    points = random_points(4).astype(np.float64)

    decoded, _ = pointcloud2_to_points(points_to_pointcloud2(points))

    np.testing.assert_array_equal(decoded, points.astype(np.float32))


def test_empty_cloud():
    msg = over_the_wire(points_to_pointcloud2(np.zeros((0, 3), np.float32)))

    points, colors = pointcloud2_to_points(msg)

    assert (msg.width, len(msg.data), msg.is_dense) == (0, 0, True)
    assert points.shape == (0, 3) and colors is None


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_cloud_with_invalid_points_is_not_dense(bad_value):
    points = random_points(5)
    points[3, 1] = bad_value

    msg = points_to_pointcloud2(points)

    assert msg.is_dense is False
    np.testing.assert_array_equal(pointcloud2_to_points(msg)[0], points)


def foreign_cloud(points, colors, big_endian):
    """An organised 2-row cloud as another driver might publish it: 32-byte points with
    the fields out of order, an ``rgba`` uint32 field and padded rows."""
    height, width = 2, len(points) // 2
    order = ">" if big_endian else "<"
    layout = np.dtype({"names": ["x", "y", "z", "rgba"],
                       "formats": [order + "f4"] * 3 + [order + "u4"],
                       "offsets": [16, 4, 8, 24], "itemsize": 32})
    cloud = np.zeros(len(points), layout)
    cloud["x"], cloud["y"], cloud["z"] = points.T
    cloud["rgba"] = (0xFF << 24) | (colors[:, 0].astype(np.uint32) << 16) | \
        (colors[:, 1].astype(np.uint32) << 8) | colors[:, 2]
    row_step = width * 32 + 8
    rows = np.full((height, row_step), 0xCD, np.uint8)
    rows[:, :width * 32] = cloud.view(np.uint8).reshape(height, -1)
    fields = [PointField(name="y", offset=4, datatype=PointField.FLOAT32, count=1),
              PointField(name="z", offset=8, datatype=PointField.FLOAT32, count=1),
              PointField(name="x", offset=16, datatype=PointField.FLOAT32, count=1),
              PointField(name="rgba", offset=24, datatype=PointField.UINT32, count=1)]
    return PointCloud2(height=height, width=width, fields=fields, is_bigendian=big_endian,
                       point_step=32, row_step=row_step, data=rows.tobytes(), is_dense=True)


@pytest.mark.parametrize("big_endian", [False, True])
def test_foreign_cloud_layouts_are_read(big_endian):
    points = random_points(10)
    colors = RNG.integers(0, 255, (10, 3), endpoint=True).astype(np.uint8)

    decoded_points, decoded_colors = pointcloud2_to_points(
        over_the_wire(foreign_cloud(points, colors, big_endian)))

    assert decoded_points.dtype == np.float32 and decoded_points.dtype.isnative
    np.testing.assert_array_equal(decoded_points, points)
    np.testing.assert_array_equal(decoded_colors, colors)


def test_points_are_a_view_of_an_xyz_cloud():
    msg = points_to_pointcloud2(random_points(10))

    points, _ = pointcloud2_to_points(msg)

    assert np.shares_memory(points, np.frombuffer(msg.data, np.uint8))


def _cloud(**changes):
    msg = points_to_pointcloud2(random_points(4), colors=np.zeros((4, 3), np.uint8))
    for name, value in changes.items():
        setattr(msg, name, value)
    return msg


@pytest.mark.parametrize("msg, message", [
    (_cloud(fields=[PointField(name="x", offset=0, datatype=7, count=1)]),
     "PointCloud2 fields are ['x']: expected x, y, z (missing y, z)"),
    (_cloud(fields=[PointField(name=n, offset=4 * i, datatype=8, count=1)
                    for i, n in enumerate("xyz")]),
     "PointCloud2 field 'x' has datatype 8 count 1: expected datatype 7 (FLOAT32=7, "
     "UINT32=6) count 1"),
    (_cloud(fields=[PointField(name=n, offset=4 * i, datatype=7, count=1)
                    for i, n in enumerate("xyz")]
            + [PointField(name="rgb", offset=12, datatype=2, count=1)]),
     "PointCloud2 field 'rgb' has datatype 2 count 1: expected datatype 7 or 6"),
    (_cloud(point_step=10),
     "PointCloud2 field 'z' offset is 8: expected at most point_step - 4 = 6"),
    (_cloud(row_step=60),
     "PointCloud2 row_step is 60: expected at least point_step * width = 16 * 4 = 64"),
    (_cloud(data=bytes(63)),
     "PointCloud2 data has 63 bytes: expected row_step * height = 64 * 1 = 64"),
    (_cloud(height=2),
     "PointCloud2 data has 64 bytes: expected row_step * height = 64 * 2 = 128"),
])
def test_malformed_cloud_is_an_error(msg, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        pointcloud2_to_points(msg)


@pytest.mark.parametrize("points, colors, message", [
    (np.zeros((4, 2), np.float32), None, "points shape is (4, 2): expected (N, 3)"),
    (np.zeros((4, 3), np.int64), None,
     "points dtype is int64: expected float32 metres; convert with .astype(np.float32)"),
    (np.zeros((4, 3), np.float32), np.zeros((3, 3), np.uint8),
     "colors shape is (3, 3): expected (4, 3), one RGB triple per point"),
    (np.zeros((4, 3), np.float32), np.zeros((4, 3), np.float32),
     "colors dtype is float32: expected uint8 RGB; convert with .astype(np.uint8)"),
])
def test_points_to_pointcloud2_rejects_bad_arrays(points, colors, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        points_to_pointcloud2(points, colors=colors)


# --- the real RGB-D knife frame ---------------------------------------------------------

def test_real_knife_frame_survives_the_wire(knife_dir):
    bgr = cv2.imread(str(knife_dir / "color.png"), cv2.IMREAD_COLOR)
    depth = cv2.imread(str(knife_dir / "depth_mm.png"), cv2.IMREAD_UNCHANGED)
    info = yaml.safe_load((knife_dir / "camera_info.yaml").read_text())
    assert bgr.shape == (800, 1280, 3) and depth.dtype == np.uint16

    rgb = image_to_rgb(over_the_wire(numpy_to_image(bgr, "bgr8")))
    depth_mm = depth_to_numpy(over_the_wire(numpy_to_image(depth, "16UC1")))
    intrinsics = camera_info_to_intrinsics(CameraInfo(
        width=info["image_width"], height=info["image_height"], k=info["k"], p=info["p"]))

    np.testing.assert_array_equal(rgb, bgr[:, :, ::-1])
    np.testing.assert_array_equal(depth_mm, depth)
    assert intrinsics == Intrinsics(650.0, 650.0, 640.0, 400.0)
