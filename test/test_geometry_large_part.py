"""A part covering a third of the real knife frame (266k points): the fast paths give exactly
what the straightforward formulation gives (back-project every pixel, filter the points;
project every point at once)."""
import cv2
import numpy as np
import pytest

from instructpart_ros.geometry import (
    Intrinsics,
    PartFilter,
    backproject,
    depth_inliers,
    erode_mask,
    extract_part_points,
    in_depth_range,
    part_geometry,
    voxel_first_indices,
)
from instructpart_ros.geometry.part_geometry import PROJECTION_CHUNK, projected_bounds

INTRINSICS = Intrinsics(650.0, 650.0, 640.0, 400.0)
FILTERS = {
    "default": PartFilter(),
    "voxels": PartFilter(voxel_size=0.004),
    "off": PartFilter(min_depth=0.0, max_depth=float("inf"), erode_px=0, outlier_sigmas=0.0),
    "tight": PartFilter(min_depth=0.3, max_depth=0.6, erode_px=3, outlier_sigmas=1.0, outlier_min_band=0.0),
}


@pytest.fixture(scope="module")
def depth_mm(knife_dir):
    return cv2.imread(str(knife_dir / "depth_mm.png"), cv2.IMREAD_UNCHANGED)


@pytest.fixture(scope="module")
def large_mask(depth_mm):
    mask = np.zeros(depth_mm.shape, dtype=bool)
    mask[160:640, 256:1024] = True  # table, knife and the camera's 32 m outliers
    return mask


def points_then_filters(depth, mask, part_filter):
    """Reference: every masked pixel back-projected, then the (N, 3) points filtered stage by stage."""
    points, pixels = backproject(depth, INTRINSICS, erode_mask(mask, part_filter.erode_px), return_pixels=True)
    counts = [len(points)]
    for keep in (lambda p: in_depth_range(p[:, 2], part_filter.min_depth, part_filter.max_depth),
                 lambda p: depth_inliers(p[:, 2], part_filter.outlier_sigmas, part_filter.outlier_min_band),
                 lambda p: voxel_first_indices(p, part_filter.voxel_size)):
        selected = keep(points)
        points, pixels = points[selected], pixels[selected]
        counts.append(len(points))
    return points, pixels, counts


@pytest.mark.parametrize("name", FILTERS)
@pytest.mark.parametrize("unit", ["16UC1", "32FC1"])
def test_filtering_depths_first_gives_exactly_the_points_of_filtering_points(depth_mm, large_mask, name, unit):
    depth = depth_mm if unit == "16UC1" else np.where(depth_mm > 0, depth_mm / np.float32(1000), np.nan)
    part_filter = FILTERS[name]
    part = extract_part_points(depth, INTRINSICS, large_mask, part_filter)
    points, pixels, counts = points_then_filters(depth, large_mask, part_filter)
    assert part.points.dtype == np.float32 and part.pixels.dtype == np.int64
    np.testing.assert_array_equal(part.points, points)
    np.testing.assert_array_equal(part.pixels, pixels)
    removed = part.counts
    assert [removed.out_of_range, removed.outliers, removed.voxel] == list(-np.diff(counts))
    assert removed.kept == len(points) and (name != "default" or len(points) > 200_000)


def test_projected_bounds_in_chunks_equal_one_projection_of_all_points(depth_mm, large_mask):
    points = extract_part_points(depth_mm, INTRINSICS, large_mask).points
    assert len(points) > 10 * PROJECTION_CHUNK
    origin = points.mean(axis=0, dtype=np.float64)
    axes = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    projected = axes.T @ (points - origin).T
    low, high = projected_bounds(points, origin, axes)
    np.testing.assert_allclose(low, projected.min(axis=1), rtol=0, atol=1e-15)
    np.testing.assert_allclose(high, projected.max(axis=1), rtol=0, atol=1e-15)
    for count in (1, PROJECTION_CHUNK, PROJECTION_CHUNK + 1):  # chunk edges
        low, high = projected_bounds(points[:count], origin, axes)
        np.testing.assert_allclose(low, projected[:, :count].min(axis=1), rtol=0, atol=1e-15)
        np.testing.assert_allclose(high, projected[:, :count].max(axis=1), rtol=0, atol=1e-15)


def test_box_of_a_large_part_covers_every_point(depth_mm, large_mask):
    points = extract_part_points(depth_mm, INTRINSICS, large_mask).points
    geometry = part_geometry(points)
    local = (points - geometry.box_center) @ geometry.axes  # coordinates in the box's frame
    np.testing.assert_allclose(np.abs(local).max(axis=0), geometry.extent / 2, rtol=1e-9)
    assert geometry.ok and geometry.num_points == len(points) > 200_000
