"""``make demo``: end to end on the real knife frame with the tiny model, plus its frame and argument choices."""
import json

import cv2
import numpy as np
import open3d as o3d
import pytest

from instructpart_ros.ros import demo
from instructpart_ros.ros.synthetic_scene import synthetic_knife_frame

KNIFE_SIZE = (1280, 800)


def test_demo_on_the_knife_frame_writes_overlay_points_and_summary(data_root, ros_domain, tmp_path, capsys):
    out = tmp_path / "demo_output"
    assert demo.main(["--data", str(data_root), "--out", str(out), "--device", "cpu", "--timeout", "120"]) == 0
    printed = capsys.readouterr().out

    summary = json.loads((out / "summary.json").read_text())
    assert summary["instruction"] == "If I want to cut the bread, which part of the knife should I hold?"
    assert summary["status"] == "ok" and summary["tiny_model"] is True
    # The tiny random PISA's provenance.json says trained: false: the node's /diagnostics say so, the demo too.
    assert summary["untrained"] is True
    assert "is an UNTRAINED PISA (provenance.json: trained: false)" in summary["warning"]
    assert f"demo: WARNING {summary['warning']}" in printed.splitlines()
    assert f"demo: NOTE {demo.TINY_NOTE}" in printed.splitlines()
    assert summary["warning"] in (out / "node.log").read_text()  # the node logged it at load
    assert summary["frame"]["source"].startswith("real ShapeGrasp knife frame") and \
        (summary["frame"]["width"], summary["frame"]["height"]) == KNIFE_SIZE
    assert summary["model"]["model_kind"] == "pisa" and summary["model"]["model_device"] == "cpu"
    timings = summary["timings_ms"]
    assert 0 < timings["model"] <= timings["frame_to_result_in_node"] and timings["instruction_to_result"] > 0

    overlay = cv2.imread(str(out / "overlay.png"))
    assert (overlay.shape[1], overlay.shape[0]) == KNIFE_SIZE
    cloud = o3d.io.read_point_cloud(str(out / "part_points.ply"))
    points = np.asarray(cloud.points)
    assert len(points) == summary["num_points"] > 0 and cloud.has_colors()
    assert 0 < summary["num_points"] <= summary["mask_pixels"]
    assert points[:, 2].min() >= 0.1 and points[:, 2].max() <= 5.0  # the config's depth range
    np.testing.assert_allclose(points.mean(axis=0), summary["centroid_m"], atol=0.05)  # pose fitted to voxel means
    assert "perception_node" in (out / "node.log").read_text()


def test_without_data_the_demo_draws_a_synthetic_frame(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ../shared/data next to it
    frame, source = demo.choose_frame(demo.parse_args(["--data", str(tmp_path / "nothing")]))
    assert source == "synthetic table-top knife frame (no data folder found)"
    assert frame.rgb.shape == (480, 640, 3) and frame.depth_mm.dtype == np.uint16


def test_a_frame_the_user_points_at_is_used(tmp_path, knife_dir):
    synthetic = synthetic_knife_frame()
    cv2.imwrite(str(tmp_path / "color.png"), cv2.cvtColor(synthetic.rgb, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(tmp_path / "depth.png"), synthetic.depth_mm)
    (tmp_path / "info.yaml").write_text(
        "image_width: 640\nimage_height: 480\nk: [525, 0, 319.5, 0, 525, 239.5, 0, 0, 1]\n")
    args = demo.parse_args(["--color", str(tmp_path / "color.png"), "--depth", str(tmp_path / "depth.png"),
                            "--camera-info", str(tmp_path / "info.yaml"), "--data", str(knife_dir.parent)])
    frame, source = demo.choose_frame(args)
    assert source == f"user frame {tmp_path / 'color.png'}"
    np.testing.assert_array_equal(frame.rgb, synthetic.rgb)
    np.testing.assert_array_equal(frame.depth_mm, synthetic.depth_mm)
    assert list(frame.camera_info.k) == [525, 0, 319.5, 0, 525, 239.5, 0, 0, 1]


def test_a_user_frame_of_mismatched_sizes_is_refused_with_both_sizes(tmp_path):
    cv2.imwrite(str(tmp_path / "color.png"), np.zeros((480, 640, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "depth.png"), np.zeros((240, 320), np.uint16))
    (tmp_path / "info.yaml").write_text("image_width: 640\nimage_height: 480\n")
    args = demo.parse_args(["--color", str(tmp_path / "color.png"), "--depth", str(tmp_path / "depth.png"),
                            "--camera-info", str(tmp_path / "info.yaml")])
    with pytest.raises(ValueError) as error:
        demo.choose_frame(args)
    assert str(error.value) == (f"depth image {tmp_path / 'depth.png'} is 320x240 but the colour image is 640x480: "
                                "the depth must be registered to the colour image")


@pytest.mark.parametrize("argv, message", [
    (["--lisa", "a", "--pisa", "b"], "give --lisa or --pisa, not both"),
    (["--dinov2", "d"], "--dinov2 is for PISA: give --pisa DIR as well"),
    (["--clip", "c"], "--clip needs --lisa DIR or --pisa DIR"),
    (["--color", "c.png"], "--color, --depth and --camera-info go together: give all three"),
])
def test_contradicting_arguments_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit):
        demo.parse_args(argv)
    assert message in capsys.readouterr().err
