"""part_geometry on synthetic boxes: axes, handedness, extent, quaternion, too few points, errors."""
import numpy as np
import open3d as o3d
import pytest

from instructpart_ros.geometry import part_geometry

CENTRE = np.array([0.1, -0.05, 0.6])
SIZE = np.array([0.2, 0.06, 0.02])


def rotation(axis, angle):
    axis = np.asarray(axis, dtype=float)
    return o3d.geometry.get_rotation_matrix_from_axis_angle(axis / np.linalg.norm(axis) * angle)


def box_points(rotation_matrix, step=0.004):
    """A solid grid filling SIZE, rotated and moved to CENTRE."""
    ticks = [np.arange(-s / 2, s / 2 + 1e-9, step) for s in SIZE]
    local = np.stack(np.meshgrid(*ticks, indexing="ij"), axis=-1).reshape(-1, 3)
    return (local @ rotation_matrix.T + CENTRE).astype(np.float32)


@pytest.mark.parametrize(
    "rotation_matrix",
    [np.eye(3), rotation([0, 0, 1], 0.4), rotation([1, 2, 3], 2.5), rotation([0, 1, 0], np.pi)],
    ids=["identity", "yaw", "oblique", "upside-down"],
)
def test_axes_extent_and_centroid_of_a_rotated_box(rotation_matrix):
    geometry = part_geometry(box_points(rotation_matrix), voxel_size=0.0)
    assert geometry.ok and geometry.reason == ""
    np.testing.assert_allclose(np.abs(np.sum(geometry.axes * rotation_matrix, axis=0)), 1.0, atol=1e-6)
    np.testing.assert_allclose(geometry.extent, SIZE, atol=0.0041)
    np.testing.assert_allclose(geometry.centroid, CENTRE, atol=1e-6)
    np.testing.assert_allclose(geometry.box_center, CENTRE, atol=1e-6)
    np.testing.assert_allclose(geometry.axes.T @ geometry.axes, np.eye(3), atol=1e-9)
    assert np.linalg.det(geometry.axes) == pytest.approx(1.0)
    assert geometry.axes[:, 2] @ geometry.centroid < 0  # z points back towards the camera
    assert geometry.axes[0, 0] >= 0  # x has a non-negative image-right component
    assert geometry.num_points == geometry.num_samples == len(box_points(rotation_matrix))


def test_quaternion_is_xyzw_of_the_axes():
    geometry = part_geometry(box_points(rotation([1, 2, 3], 2.5)), voxel_size=0.0)
    x, y, z, w = geometry.quaternion
    from_quaternion = o3d.geometry.get_rotation_matrix_from_quaternion([w, x, y, z])  # open3d wants w first
    np.testing.assert_allclose(from_quaternion, geometry.axes, atol=1e-9)


def test_voxel_down_sampling_stops_a_dense_cluster_from_pulling_the_centroid():
    rng = np.random.default_rng(0)
    spread = CENTRE + rng.uniform(-0.5, 0.5, (20000, 3)) * SIZE
    dense_corner = CENTRE + SIZE / 2 - rng.uniform(0.0, 0.001, (20000, 3))
    cloud = np.vstack([spread, dense_corner])
    raw = part_geometry(cloud, voxel_size=0.0)
    voxelised = part_geometry(cloud, voxel_size=0.005)
    assert np.linalg.norm(raw.centroid - CENTRE) > 0.05
    assert np.linalg.norm(voxelised.centroid - CENTRE) < 0.002
    assert voxelised.num_points == 40000 and voxelised.num_samples < 3000
    np.testing.assert_allclose(voxelised.extent, SIZE, atol=0.001)


@pytest.mark.parametrize(
    "points, voxel_size, reason",
    [
        (np.zeros((0, 3)), 0.005, "too few points: 0 points in 0 voxels of 0.005 m, need at least 10"),
        (np.full((500, 3), 0.3) + np.linspace(0, 0.001, 500)[:, None], 0.005,
         "too few points: 500 points in 1 voxels of 0.005 m, need at least 10"),
        (np.eye(3)[[0, 1, 2, 0, 1]], 0.0, "too few points: 5 points in 5 voxels of 0.0 m, need at least 10"),
    ],
    ids=["empty", "one-voxel", "five"],
)
def test_too_few_points_give_an_empty_result_with_a_reason(points, voxel_size, reason):
    geometry = part_geometry(points, voxel_size=voxel_size)
    assert not geometry.ok and geometry.reason == reason
    assert np.isnan(geometry.centroid).all() and np.isnan(geometry.extent).all()
    np.testing.assert_array_equal(geometry.axes, np.eye(3))
    assert geometry.num_points == len(points)


@pytest.mark.parametrize(
    "points, kwargs, message",
    [
        (np.zeros((5, 2)), {}, "points must be an (N, 3) array, got shape (5, 2)"),
        (np.array([[0.0, 0.0, np.nan]]), {}, "points contain NaN or inf; back-project with backproject/"
         "extract_part_points, which drop invalid depth"),
        (np.zeros((5, 3)), {"voxel_size": -1.0},
         "voxel_size must be a finite number of metres >= 0 (0 = off), got -1.0"),
        (np.zeros((5, 3)), {"min_points": 2},
         "min_points must be an integer >= 3 (a 3D pose needs 3 points), got 2"),
        # what cx = 1e30 px made of the knife frame: a pose 1e26 m away used to come back ok
        (np.array([[-5.8e26, -0.05, 0.375]] * 20, np.float32), {}, "points reach 5.8e+26 m from the camera, "
         "beyond the 10000 m any depth sensor measures: check the intrinsics (principal point, focal length) "
         "and the depth unit"),
        (np.array([[0.0, 0.0, 1.0], [0.0, 0.0, np.inf]]), {}, "points contain NaN or inf; back-project with "
         "backproject/extract_part_points, which drop invalid depth"),
    ],
    ids=["shape", "nan", "voxel", "min_points", "astronomical", "inf"],
)
def test_bad_arguments_raise_naming_them(points, kwargs, message):
    with pytest.raises(ValueError) as error:
        part_geometry(points, **kwargs)
    assert str(error.value) == message
