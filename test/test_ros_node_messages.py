"""PartSegmentation results, markers and the debug overlay built from a known part."""
import numpy as np
import pytest
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from instructpart_ros.geometry import extract_part_points, part_geometry
from instructpart_ros.ros.conversions import image_to_numpy, pointcloud2_to_points
from instructpart_ros.ros.frame_decoding import decode_frame
from instructpart_ros.ros.markers import part_markers
from instructpart_ros.ros.overlay import MASK_COLOR, overlay_mask
from instructpart_ros.ros.result_message import empty_result, mask_roi, part_result
from instructpart_ros.ros.synthetic_scene import synthetic_knife_frame

HEADER = Header(frame_id="camera_color_optical_frame")
HANDLE = (slice(220, 263), slice(140, 291))  # the synthetic knife's handle rectangle


@pytest.fixture(scope="module")
def handle():
    frame = synthetic_knife_frame()
    decoded = decode_frame(*frame.messages(0))
    mask = np.zeros((480, 640), bool)
    mask[HANDLE] = True
    part = extract_part_points(decoded.depth, decoded.intrinsics, mask)
    return frame, mask, part, part_geometry(part.points)


def test_roi_is_the_mask_bounding_box():
    mask = np.zeros((10, 20), bool)
    assert (mask_roi(mask).width, mask_roi(mask).height) == (0, 0)
    mask[2:5, 3:9] = True
    roi = mask_roi(mask)
    assert (roi.x_offset, roi.y_offset, roi.width, roi.height) == (3, 2, 6, 3)


def test_empty_result_is_well_formed_and_says_why():
    result = empty_result(HEADER, "cut the bread", "colour image: bad")
    assert (result.status, result.instruction, result.num_points, result.mask.encoding) == (
        "colour image: bad", "cut the bread", 0, "mono8")
    points, colors = pointcloud2_to_points(result.points)
    assert points.shape == (0, 3) and colors is None
    assert result.header.frame_id == result.mask.header.frame_id == result.points.header.frame_id


def test_part_result_carries_mask_points_and_pose(handle):
    frame, mask, part, geometry = handle
    colors = frame.rgb.reshape(-1, 3)[part.pixels]
    result = part_result(HEADER, "cut the bread", "It is [SEG].", 0.75, mask, part.points, colors, geometry, "ok")
    np.testing.assert_array_equal(image_to_numpy(result.mask) == 255, mask)
    points, point_colors = pointcloud2_to_points(result.points)
    np.testing.assert_array_equal(points, part.points)
    assert (point_colors == (70, 40, 25)).all()  # the handle's colour
    assert result.num_points == len(part.points) == part.counts.kept
    assert (result.roi.x_offset, result.roi.y_offset, result.roi.width, result.roi.height) == (140, 220, 151, 43)
    position = result.pose.position
    np.testing.assert_allclose([position.x, position.y, position.z], geometry.centroid, rtol=1e-6)
    assert result.pose.position.z == pytest.approx(0.585, abs=1e-6)  # the handle's depth
    quaternion = result.pose.orientation
    np.testing.assert_allclose([quaternion.x, quaternion.y, quaternion.z, quaternion.w], geometry.quaternion)
    assert result.extent.x > result.extent.y > result.extent.z  # a long, flat handle
    assert result.score == pytest.approx(0.75) and result.status == "ok"


def test_markers_clear_the_previous_part_then_draw_sphere_box_and_axes(handle):
    _, _, _, geometry = handle
    markers = part_markers(HEADER, geometry).markers
    assert markers[0].action == Marker.DELETEALL
    assert [marker.type for marker in markers[1:]] == [Marker.SPHERE, Marker.CUBE, Marker.ARROW, Marker.ARROW,
                                                        Marker.ARROW]
    sphere, box = markers[1], markers[2]
    np.testing.assert_allclose([sphere.pose.position.x, sphere.pose.position.y, sphere.pose.position.z],
                               geometry.centroid)
    np.testing.assert_allclose([box.scale.x, box.scale.y, box.scale.z], geometry.extent)
    np.testing.assert_allclose([box.pose.position.x, box.pose.position.y, box.pose.position.z], geometry.box_center)
    x_axis = markers[3].points
    direction = np.array([x_axis[1].x - x_axis[0].x, x_axis[1].y - x_axis[0].y, x_axis[1].z - x_axis[0].z])
    np.testing.assert_allclose(direction / np.linalg.norm(direction), geometry.axes[:, 0], atol=1e-9)
    assert all(marker.header.frame_id == HEADER.frame_id for marker in markers)


def test_without_a_pose_only_the_clearing_marker_is_sent():
    markers = part_markers(HEADER, None).markers
    assert len(markers) == 1 and markers[0].action == Marker.DELETEALL


def test_overlay_tints_only_the_mask(handle):
    frame, mask, _, _ = handle
    overlay = overlay_mask(frame.rgb, mask)
    outside = ~mask
    outside[200:280, 120:310] = False  # leave room for the 2-pixel outline
    np.testing.assert_array_equal(overlay[outside], frame.rgb[outside])
    inside = overlay[230:250, 160:270].astype(int)
    expected = (frame.rgb[230:250, 160:270].astype(int) + np.array(MASK_COLOR)) / 2
    assert np.abs(inside - expected).max() <= 1
    with pytest.raises(ValueError, match=r"mask shape \(2, 2\) does not match the image's \(480, 640\)"):
        overlay_mask(frame.rgb, np.zeros((2, 2), bool))
