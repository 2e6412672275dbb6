"""backproject: the pinhole maths, depth units, invalid depth, masks, pixels and errors."""
import numpy as np
import pytest

from instructpart_ros.geometry import Intrinsics, backproject, ray_grid

INTRINSICS = Intrinsics(fx=2.0, fy=4.0, cx=1.5, cy=0.5)
DEPTH_MM = np.array([[1000, 0, 2000, 1500], [500, 250, 0, 4000], [3000, 1234, 1, 65535]], dtype=np.uint16)


def pinhole_reference(depth_m, intrinsics):
    """Independent per-pixel loop in float64, row-major, skipping non-positive/non-finite depth."""
    points, pixels = [], []
    for v in range(depth_m.shape[0]):
        for u in range(depth_m.shape[1]):
            z = float(depth_m[v, u])
            if np.isfinite(z) and z > 0:
                x = (u - intrinsics.cx) * z / intrinsics.fx
                y = (v - intrinsics.cy) * z / intrinsics.fy
                points.append((x, y, z))
                pixels.append(v * depth_m.shape[1] + u)
    return np.array(points, dtype=np.float64).reshape(-1, 3), np.array(pixels, dtype=np.int64)


def test_uint16_millimetres_follow_the_pinhole_model_in_row_major_order():
    expected, expected_pixels = pinhole_reference(DEPTH_MM / 1000.0, INTRINSICS)
    points, pixels = backproject(DEPTH_MM, INTRINSICS, return_pixels=True)
    assert points.dtype == np.float32 and points.shape == (10, 3)
    np.testing.assert_allclose(points, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(pixels, expected_pixels)
    np.testing.assert_array_equal(backproject(DEPTH_MM, INTRINSICS), points)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_metres_drop_zero_negative_nan_and_inf(dtype):
    depth = (DEPTH_MM / 1000.0).astype(dtype)
    depth[0, 0], depth[1, 0], depth[2, 0], depth[2, 1] = np.nan, np.inf, -0.5, -np.inf
    expected, expected_pixels = pinhole_reference(depth, INTRINSICS)
    points, pixels = backproject(depth, INTRINSICS, return_pixels=True)
    assert len(points) == 6
    np.testing.assert_allclose(points, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(pixels, expected_pixels)


def test_depth_scale_overrides_the_unit_of_the_dtype():
    tenth_mm = (DEPTH_MM // 10).astype(np.uint16)
    expected, _ = pinhole_reference(tenth_mm * 1e-4, INTRINSICS)
    np.testing.assert_allclose(backproject(tenth_mm, INTRINSICS, depth_scale=1e-4), expected, rtol=1e-6)
    centimetres = (DEPTH_MM / 10.0).astype(np.float32)
    np.testing.assert_allclose(
        backproject(centimetres, INTRINSICS, depth_scale=0.01), backproject(DEPTH_MM, INTRINSICS), rtol=1e-6
    )


def test_mask_selects_pixels_and_pixels_index_the_image():
    mask = np.zeros(DEPTH_MM.shape, dtype=bool)
    mask[1, :] = True  # includes the invalid (1, 2)
    mask[2, 3] = True
    points, pixels = backproject(DEPTH_MM, (2.0, 4.0, 1.5, 0.5), mask=mask, return_pixels=True)
    rows, cols = np.unravel_index(pixels, DEPTH_MM.shape)
    np.testing.assert_array_equal(np.stack([rows, cols], axis=1), [[1, 0], [1, 1], [1, 3], [2, 3]])
    np.testing.assert_allclose(points[:, 2], DEPTH_MM[rows, cols] / 1000.0, rtol=1e-6)
    np.testing.assert_allclose(points[:, 0], (cols - 1.5) * points[:, 2] / 2.0, rtol=1e-6)


def test_empty_or_all_invalid_mask_gives_no_points():
    empty = np.zeros(DEPTH_MM.shape, bool)
    points, pixels = backproject(DEPTH_MM, INTRINSICS, mask=empty, return_pixels=True)
    assert points.shape == (0, 3) and pixels.shape == (0,)
    only_invalid = DEPTH_MM == 0
    assert backproject(DEPTH_MM, INTRINSICS, mask=only_invalid).shape == (0, 3)


def test_ray_grid_is_cached_per_intrinsics_and_size_and_read_only():
    ray_grid.cache_clear()
    backproject(DEPTH_MM, INTRINSICS)
    backproject(DEPTH_MM, [[2.0, 0.0, 1.5], [0.0, 4.0, 0.5], [0.0, 0.0, 1.0]])
    assert ray_grid.cache_info().hits == 1 and ray_grid.cache_info().misses == 1
    backproject(DEPTH_MM[:2], INTRINSICS)
    assert ray_grid.cache_info().misses == 2
    grid = ray_grid(INTRINSICS, 3, 4)
    with pytest.raises(ValueError):
        grid.x[0] = 1.0


@pytest.mark.parametrize(
    "depth, message",
    [
        (DEPTH_MM.astype(np.int32), "depth dtype int32 is not supported: use uint16 millimetres (16UC1) "
         "or float32/float64 metres (32FC1), or convert it and pass depth_scale"),
        ((DEPTH_MM / 1000.0).astype(np.float16), "depth dtype float16 is not supported: use uint16 millimetres "
         "(16UC1) or float32/float64 metres (32FC1), or convert it and pass depth_scale"),
        (DEPTH_MM[..., None], "depth must be a 2-D HxW image, got shape (3, 4, 1); "
         "drop a trailing channel axis with depth[..., 0]"),
        (DEPTH_MM.tolist(), "depth must be a numpy array, got list"),
    ],
    ids=["int32", "float16", "3-D", "list"],
)
def test_bad_depth_raises_naming_it(depth, message):
    with pytest.raises(ValueError) as error:
        backproject(depth, INTRINSICS)
    assert str(error.value) == message


@pytest.mark.parametrize(
    "mask, message",
    [
        (np.ones((4, 3), bool), "mask shape (4, 3) does not match depth shape (3, 4); "
         "the mask must be the size of the (registered) depth image"),
        (np.ones((3, 4), np.uint8), "mask must be a bool array, got dtype uint8; "
         "pass mask > 0 for a 0/1 or 0/255 image"),
    ],
    ids=["shape", "dtype"],
)
def test_bad_mask_raises_naming_both_shapes_or_the_dtype(mask, message):
    with pytest.raises(ValueError) as error:
        backproject(DEPTH_MM, INTRINSICS, mask=mask)
    assert str(error.value) == message


@pytest.mark.parametrize("scale", [0.0, -0.001, float("nan")])
def test_bad_depth_scale_raises(scale):
    with pytest.raises(ValueError) as error:
        backproject(DEPTH_MM, INTRINSICS, depth_scale=scale)
    assert str(error.value) == (
        "depth_scale must be a finite number > 0 (metres per depth unit, e.g. 0.001 for millimetres), "
        f"got {scale}"
    )


@pytest.mark.parametrize("intrinsics", [(0.0, 4.0, 1.5, 0.5), (2.0, -4.0, 1.5, 0.5)])
def test_zero_or_negative_focal_length_raises(intrinsics):
    with pytest.raises(ValueError) as error:
        backproject(DEPTH_MM, intrinsics)
    name = "fx" if intrinsics[0] <= 0 else "fy"
    value = min(intrinsics[:2])
    assert str(error.value) == (
        f"intrinsics {name} (focal length) must be > 0 pixels, got {value}; "
        "the camera is uncalibrated or the CameraInfo is empty"
    )


def test_ray_grids_above_the_cached_size_are_built_per_call(monkeypatch):
    from instructpart_ros.geometry import backprojection

    monkeypatch.setattr(backprojection, "MAX_CACHED_GRID_PIXELS", 11)  # 3x4 = 12 pixels: above it
    ray_grid.cache_clear()
    first, second = ray_grid(INTRINSICS, 3, 4), ray_grid(INTRINSICS, 3, 4)
    assert first is not second and ray_grid.cache_info().currsize == 0  # nothing kept
    np.testing.assert_array_equal(first.x, second.x)
    np.testing.assert_array_equal(first.y, second.y)
    assert ray_grid(INTRINSICS, 2, 4) is ray_grid(INTRINSICS, 2, 4)  # 8 pixels: cached
