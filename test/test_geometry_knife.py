"""The geometry layer on the real 1280x800 RGB-D knife frame, checked against open3d."""
import cv2
import numpy as np
import open3d as o3d
import pytest
import yaml

from instructpart_ros.geometry import (
    Intrinsics,
    PartFilter,
    backproject,
    erode_mask,
    extract_part_points,
    part_geometry,
)


@pytest.fixture(scope="module")
def knife(knife_dir):
    def mask(name):
        return cv2.imread(str(knife_dir / f"mask_{name}.png"), cv2.IMREAD_UNCHANGED) > 0

    camera_info = yaml.safe_load((knife_dir / "camera_info.yaml").read_text())
    return {
        "depth": cv2.imread(str(knife_dir / "depth_mm.png"), cv2.IMREAD_UNCHANGED),
        "intrinsics": Intrinsics.from_matrix(camera_info["k"]),
        "handle": mask("knife_handle"),
        "knife": mask("knife"),
    }


def open3d_points(depth_mm, intrinsics):
    height, width = depth_mm.shape
    camera = o3d.camera.PinholeCameraIntrinsic(
        width, height, intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy
    )
    cloud = o3d.geometry.PointCloud.create_from_depth_image(
        o3d.geometry.Image(depth_mm), camera, depth_scale=1000.0, depth_trunc=1e6
    )
    return np.asarray(cloud.points)


def test_frame_is_the_documented_one(knife):
    assert knife["depth"].dtype == np.uint16 and knife["depth"].shape == (800, 1280)
    assert knife["intrinsics"] == Intrinsics(650.0, 650.0, 640.0, 400.0)
    assert 0.15 < (knife["depth"] == 0).mean() < 0.2 and knife["depth"].max() > 30000


def test_handle_points_equal_open3d_on_the_masked_depth(knife):
    depth, handle = knife["depth"], knife["handle"]
    expected = open3d_points(np.where(handle, depth, 0).astype(np.uint16), knife["intrinsics"])
    points = backproject(depth, knife["intrinsics"], handle)
    assert points.shape == expected.shape == (np.count_nonzero(handle & (depth > 0)), 3)
    np.testing.assert_allclose(points, expected, rtol=0, atol=1e-5)


def test_full_frame_points_equal_open3d(knife):
    points = backproject(knife["depth"], knife["intrinsics"])
    expected = open3d_points(knife["depth"], knife["intrinsics"])
    assert points.shape == expected.shape == (np.count_nonzero(knife["depth"]), 3)
    np.testing.assert_allclose(points, expected, rtol=0, atol=1e-5)


def test_32fc1_metres_give_the_same_points_as_16uc1_millimetres(knife):
    depth_m = knife["depth"].astype(np.float32) / 1000.0
    depth_m[knife["depth"] == 0] = np.nan  # how a 32FC1 driver marks no depth
    for mask in (None, knife["handle"]):
        expected, expected_pixels = backproject(knife["depth"], knife["intrinsics"], mask, return_pixels=True)
        points, pixels = backproject(depth_m, knife["intrinsics"], mask, return_pixels=True)
        np.testing.assert_array_equal(pixels, expected_pixels)
        np.testing.assert_allclose(points, expected, rtol=1e-6, atol=1e-6)  # float32 ulps at 32 m


def test_invalid_pixels_never_become_points(knife):
    knife_and_holes = knife["knife"] | (knife["depth"] == 0)
    _, pixels = backproject(knife["depth"], knife["intrinsics"], knife_and_holes, return_pixels=True)
    assert np.all(knife["depth"].reshape(-1)[pixels] > 0)
    assert len(pixels) == np.count_nonzero(knife["knife"] & (knife["depth"] > 0))


def test_handle_pose_lies_along_the_image_x_axis_at_about_036_m(knife):
    part = extract_part_points(knife["depth"], knife["intrinsics"], knife["handle"])
    geometry = part_geometry(part.points)
    assert geometry.ok, geometry.reason
    assert abs(geometry.axes[0, 0]) > 0.95  # major axis ~ image x: the handle lies horizontally
    assert geometry.extent[0] > 2 * geometry.extent[1]
    assert geometry.centroid[2] == pytest.approx(0.36, abs=0.01)
    assert geometry.centroid[0] < 0  # the handle is left of the principal point (column < 557)
    assert geometry.num_points == len(part) and geometry.num_samples < len(part)


def test_filters_never_add_points_and_stronger_filters_keep_subsets(knife):
    depth, intrinsics, handle = knife["depth"], knife["intrinsics"], knife["handle"]
    unfiltered = PartFilter(min_depth=0.0, max_depth=float("inf"), erode_px=0, outlier_sigmas=0.0)
    previous = extract_part_points(depth, intrinsics, handle, unfiltered).pixels
    for erode_px, sigmas in [(1, 0.0), (2, 0.0), (2, 3.0), (4, 3.0), (4, 1.0)]:
        part_filter = PartFilter(
            min_depth=0.0, max_depth=float("inf"), erode_px=erode_px, outlier_sigmas=sigmas
        )
        part = extract_part_points(depth, intrinsics, handle, part_filter)
        assert np.isin(part.pixels, previous).all() and len(part) <= len(previous)
        assert part.counts.kept == len(part) and part.counts.mask_pixels == np.count_nonzero(handle)
        previous = part.pixels
    assert len(previous) < np.count_nonzero(handle)


def test_32_m_outliers_and_holes_inside_the_handle_are_removed(knife):
    intrinsics, handle = knife["intrinsics"], knife["handle"]
    inside = np.flatnonzero(erode_mask(handle, 2))
    depth = knife["depth"].copy()
    depth.reshape(-1)[inside[::200]] = 31997  # the far outliers this camera produces
    depth.reshape(-1)[inside[100::200]] = 0
    injected = len(inside[::200])

    part = extract_part_points(depth, intrinsics, handle)
    assert part.counts.invalid_depth == len(inside[100::200])
    assert part.counts.out_of_range == injected
    assert part.points[:, 2].max() < 0.4

    no_range_filter = PartFilter(min_depth=0.0, max_depth=float("inf"))
    no_range = extract_part_points(depth, intrinsics, handle, no_range_filter)
    assert no_range.counts.out_of_range == 0 and no_range.counts.outliers >= injected
    np.testing.assert_array_equal(no_range.pixels, part.pixels)
