"""Part filters and extract_part_points on synthetic depth: what each stage removes, exactly."""
import re
import warnings

import numpy as np
import pytest

from instructpart_ros.geometry import (
    Intrinsics,
    PartFilter,
    depth_inliers,
    erode_mask,
    extract_part_points,
    in_depth_range,
    voxel_first_indices,
    voxel_means,
)

INTRINSICS = Intrinsics(100.0, 100.0, 20.0, 15.0)


def square_mask(shape=(30, 40), top=5, left=10, size=12):
    mask = np.zeros(shape, dtype=bool)
    mask[top:top + size, left:left + size] = True
    return mask


def test_erosion_by_one_pixel_shrinks_a_square_by_one_on_each_side():
    np.testing.assert_array_equal(erode_mask(square_mask(), 1), square_mask(top=6, left=11, size=10))
    np.testing.assert_array_equal(erode_mask(square_mask(), 0), square_mask())


def test_erosion_treats_outside_the_image_as_background():
    mask = np.zeros((10, 10), dtype=bool)
    mask[:4, :4] = True  # touches the top-left corner
    expected = np.zeros((10, 10), dtype=bool)
    expected[1:3, 1:3] = True
    np.testing.assert_array_equal(erode_mask(mask, 1), expected)


def test_depth_range_is_inclusive():
    z = np.array([0.1, 0.5, 5.0, 5.0001, 0.0999], dtype=np.float32)
    np.testing.assert_array_equal(in_depth_range(z, 0.1, 5.0), [True, True, True, False, False])


def test_depth_inliers_drop_far_outliers_and_keep_a_flat_part():
    rng = np.random.default_rng(0)
    z = 0.36 + rng.normal(0.0, 0.002, 500)
    z[:5] = [32.0, 31.5, 0.9, 0.2, 0.36 + 0.05]
    keep = depth_inliers(z, 3.0, 0.01)
    assert not keep[:5].any()
    assert keep[5:].mean() > 0.99
    flat = np.full(100, 0.5)
    flat[0] = 0.505  # within the 1 cm floor although the MAD is 0
    assert depth_inliers(flat, 3.0, 0.01).all()
    assert depth_inliers(z, 0.0, 0.01).all()


def test_voxel_first_indices_keep_the_first_point_of_each_voxel_in_order():
    points = np.array([[0.001, 0, 0], [0.5, 0, 0], [0.002, 0.003, 0], [0.51, 0.001, 0], [0.2, 0.2, 0.2]])
    np.testing.assert_array_equal(voxel_first_indices(points, 0.1), [0, 1, 4])
    np.testing.assert_array_equal(voxel_first_indices(points, 0.0), np.arange(5))


def test_voxel_means_average_the_points_of_each_voxel():
    points = np.array([[0.01, 0, 0], [0.5, 0, 0], [0.03, 0.02, 0], [0.52, 0.02, 0.04]])
    means = voxel_means(points, 0.1)
    np.testing.assert_allclose(means, [[0.02, 0.01, 0.0], [0.51, 0.01, 0.02]])
    np.testing.assert_array_equal(voxel_means(points, 0.0), points)


def grouped_by_voxel(points, voxel_size):
    """Reference: a dict from voxel cell to the indices of its points, in voxel-cell order."""
    groups = {}
    for index, cell in enumerate(map(tuple, np.floor(points / voxel_size).astype(int))):
        groups.setdefault(cell, []).append(index)
    return [groups[cell] for cell in sorted(groups)]


@pytest.mark.parametrize("far_outlier", [False, True], ids=["histogram", "sorted-ids"])
def test_voxel_functions_match_a_dict_grouping(far_outlier):
    points = np.random.default_rng(1).uniform(0.3, 0.4, (3000, 3))
    if far_outlier:  # spreads the voxel ids so widely that voxel_labels sorts them instead
        points[1234] = (30.0, -30.0, 31.9)
    groups = grouped_by_voxel(points, 0.01)
    expected_means = np.array([points[group].mean(axis=0) for group in groups])
    np.testing.assert_allclose(voxel_means(points, 0.01), expected_means, rtol=1e-12)
    np.testing.assert_array_equal(voxel_first_indices(points, 0.01), sorted(group[0] for group in groups))


def test_voxels_of_points_too_far_apart_for_int64_ids_are_still_grouped_exactly():
    points = np.random.default_rng(2).uniform(0.3, 0.4, (500, 3))
    points[7] = (9000.0, -9000.0, 9000.0)  # 1.8e6 cells per axis at 1 mm: (1.8e6)**3 ids overflow int64
    groups = grouped_by_voxel(points, 0.001)
    np.testing.assert_allclose(voxel_means(points, 0.001), [points[group].mean(axis=0) for group in groups],
                               rtol=1e-12)
    np.testing.assert_array_equal(voxel_first_indices(points, 0.001), sorted(group[0] for group in groups))


def test_points_too_far_out_to_number_their_voxels_are_an_error_not_a_cast_warning():
    points = np.array([[-5.8e26, -0.05, 0.375], [0.0, 0.0, 0.4]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's "invalid value encountered in cast" used to slip through
        with pytest.raises(ValueError, match=re.escape(
                "points lie between -5.8e+26 and 0 m on an axis, too far out to number their 0.005 m voxels: "
                "check the intrinsics and the depth unit")):
            voxel_means(points, 0.005)


def plane_with_defects():
    """A 0.5 m plane; inside the 1-px-eroded square: 3 invalid, 2 far (32 m), 1 near (0.05 m) pixel."""
    depth = np.full((30, 40), 500, dtype=np.uint16)
    depth[8, 12:15] = 0
    depth[10, 12:14] = 32000
    depth[12, 12] = 50
    depth[5, 10] = 0  # on the square's edge: removed by erosion, not counted as invalid
    return depth


def test_each_stage_removes_exactly_its_defects():
    part_filter = PartFilter(min_depth=0.1, max_depth=5.0, erode_px=1, outlier_sigmas=3.0, voxel_size=0.0)
    part = extract_part_points(plane_with_defects(), INTRINSICS, square_mask(), part_filter)
    assert part.counts.as_dict() == {
        "mask_pixels": 144, "eroded": 44, "invalid_depth": 3, "out_of_range": 3, "outliers": 0, "voxel": 0,
        "kept": 94,
    }
    assert len(part) == part.counts.kept == 94
    np.testing.assert_allclose(part.points[:, 2], 0.5)
    np.testing.assert_array_equal(part.kept_mask().sum(), 94)
    assert not part.kept_mask()[8, 12] and not part.kept_mask()[10, 12] and part.kept_mask()[11, 12]


def test_without_a_range_limit_the_robust_filter_removes_the_outliers():
    part_filter = PartFilter(min_depth=0.0, max_depth=float("inf"), erode_px=1, voxel_size=0.0)
    part = extract_part_points(plane_with_defects(), INTRINSICS, square_mask(), part_filter)
    assert (part.counts.out_of_range, part.counts.outliers, len(part)) == (0, 3, 94)
    assert part.points[:, 2].max() == pytest.approx(0.5)


def test_voxel_filter_keeps_a_subset_of_pixels_in_row_major_order():
    no_voxel = extract_part_points(plane_with_defects(), INTRINSICS, square_mask(), PartFilter(erode_px=0))
    voxel_filter = PartFilter(erode_px=0, voxel_size=0.02)
    part = extract_part_points(plane_with_defects(), INTRINSICS, square_mask(), voxel_filter)
    assert 0 < len(part) < len(no_voxel)
    assert part.counts.voxel == len(no_voxel) - len(part)
    assert np.isin(part.pixels, no_voxel.pixels).all() and (np.diff(part.pixels) > 0).all()


def test_empty_mask_gives_no_points_and_zero_counts():
    part = extract_part_points(plane_with_defects(), INTRINSICS, np.zeros((30, 40), bool))
    assert part.points.shape == (0, 3) and part.pixels.shape == (0,)
    assert part.counts.as_dict() == dict.fromkeys(
        ["mask_pixels", "eroded", "invalid_depth", "out_of_range", "outliers", "voxel", "kept"], 0
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"min_depth": -0.1}, "PartFilter.min_depth must be a number >= 0, got -0.1"),
        ({"max_depth": float("nan")}, "PartFilter.max_depth must be a number >= 0, got nan"),
        ({"min_depth": 2.0, "max_depth": 1.0},
         "PartFilter depth range is empty: min_depth=2.0, max_depth=1.0; "
         "max_depth must be greater than min_depth (use inf for no upper limit)"),
        ({"erode_px": 1.5}, "PartFilter.erode_px must be an integer >= 0 (pixels), got 1.5"),
        ({"erode_px": -1}, "PartFilter.erode_px must be an integer >= 0 (pixels), got -1"),
        ({"outlier_sigmas": "3"}, "PartFilter.outlier_sigmas must be a number >= 0, got '3'"),
        ({"voxel_size": -0.01}, "voxel_size must be a finite number of metres >= 0 (0 = off), got -0.01"),
    ],
)
def test_bad_filter_parameters_raise_naming_them(kwargs, message):
    with pytest.raises(ValueError) as error:
        PartFilter(**kwargs)
    assert str(error.value) == message
