"""Reading a recorded RGB-D frame folder (colour, registered millimetre depth, camera_info YAML)."""
import shutil

import cv2
import numpy as np
import pytest

from instructpart_ros.datasets.rgbd_images import read_rgbd_dir


def test_the_knife_frame_folder_reads_as_one_registered_frame(knife_dir):
    frame = read_rgbd_dir(knife_dir)
    assert frame.rgb.shape == (800, 1280, 3) and frame.rgb.dtype == np.uint8
    assert frame.depth.shape == (800, 1280) and frame.depth.dtype == np.uint16
    bgr = cv2.imread(str(knife_dir / "color.png"), cv2.IMREAD_COLOR)
    assert np.array_equal(frame.rgb, bgr[:, :, ::-1])  # RGB order, as the model and the messages expect
    intrinsics = frame.calibration.intrinsics()
    assert (intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy) == (650.0, 650.0, 640.0, 400.0)
    assert frame.has_depth


def test_a_frame_folder_missing_files_names_them_and_the_layout(tmp_path, knife_dir):
    shutil.copy(knife_dir / "color.png", tmp_path / "color.png")
    with pytest.raises(ValueError) as error:
        read_rgbd_dir(tmp_path)
    assert str(error.value) == (
        f"frame folder {tmp_path} lacks depth_mm.png, camera_info.yaml: expected color.png, depth_mm.png, "
        "camera_info.yaml (colour, depth in millimetres registered to it, the colour camera's camera_info)")


def test_depth_of_another_size_is_refused_as_not_registered(tmp_path, knife_dir):
    for name in ("color.png", "camera_info.yaml"):
        shutil.copy(knife_dir / name, tmp_path / name)
    cv2.imwrite(str(tmp_path / "depth_mm.png"), np.ones((400, 640), np.uint16))
    with pytest.raises(ValueError, match="is 640x400 but the colour image is 1280x800: the depth must be registered"):
        read_rgbd_dir(tmp_path)
