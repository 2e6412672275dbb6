"""``make demo``: end to end with the committed tiny synth-trained model (a held-out synthetic scene, then the
real knife frame), the random fallback when that model is missing, and the frame and argument choices."""
import json
import os
import pathlib

import cv2
import numpy as np
import open3d as o3d
import pytest

from instructpart_ros import package_files
from instructpart_ros.datasets.synthetic_scenes import render_scene
from instructpart_ros.ros import demo
from instructpart_ros.ros.demo_synth import SCALE, judge, selected_part
from instructpart_ros.ros.synthetic_scene import synthetic_knife_frame

KNIFE_SIZE = (1280, 800)
REPO = pathlib.Path(__file__).resolve().parents[1]
TINY_MODEL = REPO / "models" / "pisa-tiny-synth"


def check_knife_outputs(out, summary):
    """The real knife frame's overlay, points and summary agree with each other."""
    assert summary["instruction"] == "If I want to cut the bread, which part of the knife should I hold?"
    assert summary["status"] == "ok" and summary["tiny_model"] is True
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
    # The pose is fitted to voxel means, not the raw points: on this frame the tiny model's mask may be
    # spread out, so only ask that the centroid lies within the points' bounds.
    assert np.all(points.min(axis=0) - 1e-6 <= summary["centroid_m"]) and \
        np.all(np.asarray(summary["centroid_m"]) <= points.max(axis=0) + 1e-6)
    assert "perception_node" in (out / "node.log").read_text()


def test_the_demo_shows_the_tiny_synth_model_on_a_held_out_scene_then_the_knife_frame(
        data_root, ros_domain, tmp_path, capsys):
    out = tmp_path / "demo_output"
    assert demo.main(["--data", str(data_root), "--out", str(out), "--device", "cpu", "--timeout", "120"]) == 0
    printed = capsys.readouterr().out.splitlines()
    summary = json.loads((out / "summary.json").read_text())

    # The committed model, found in the source tree; trained, so no untrained warning anywhere.
    assert summary["tiny_model_dir"] == str(TINY_MODEL)
    assert summary["model"]["model_checkpoint"] == str(TINY_MODEL / "checkpoint")
    assert summary["untrained"] is False and summary["warning"] == ""
    assert not any(line.startswith("demo: WARNING") for line in printed)

    synth = summary["synth"]
    assert (synth["scene"], synth["seed"], synth["object"]) == ("synth7_00000", 7, "knife")
    scene = render_scene(7, synth["index"])
    assert [r["target_part"] for r in synth["results"]] == ["handle", "blade"]
    for result in synth["results"]:
        part = result["target_part"]
        assert result["instruction"] == scene.annotations[part].instructions[0]  # the task wording
        assert part not in result["instruction"]  # which does not name the part
        assert result["selected_part"] == part and result["correct"] is True and result["reason"] == ""
        assert result["status"] == "ok" and result["num_points"] > 0
        # most of the mask lies on the part, little on the other one
        other = next(p for p in result["part_pixels"] if p != part)
        assert result["part_pixels"][part] >= 0.8 * result["mask_pixels"] > 0
        assert result["part_pixels"][other] <= 0.05 * result["mask_pixels"]
        assert (f"demo:   {result['instruction']!r} -> mask on the {part} (wanted: the {part}): RIGHT") in printed
    assert synth["all_correct"] is True
    synth_overlay = cv2.imread(str(out / "synth_overlay.png"))
    assert synth_overlay.shape[1] == SCALE * 320 and synth_overlay.shape[0] > SCALE * 240  # the legend below
    assert summary["files"] == ["synth_overlay.png", "overlay.png", "part_points.ply", "summary.json", "node.log"]

    # Then the real frame, saying plainly that this model has never seen a real image.
    check_knife_outputs(out, summary)
    assert summary["note"] == demo.SYNTH_NOTE and "NEVER SEEN A REAL IMAGE" in demo.SYNTH_NOTE
    assert f"demo: NOTE {demo.SYNTH_NOTE}" in printed


def test_without_the_committed_model_the_demo_falls_back_to_the_random_one_and_says_so(
        data_root, ros_domain, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(demo, "find_tiny_model", lambda: None)
    out = tmp_path / "demo_output"
    assert demo.main(["--data", str(data_root), "--out", str(out), "--device", "cpu", "--timeout", "120"]) == 0
    printed = capsys.readouterr().out.splitlines()
    summary = json.loads((out / "summary.json").read_text())

    assert f"demo: {demo.MISSING_MODEL}" in printed
    assert summary["synth"] is None and summary["tiny_model_dir"] is None and not (out / "synth_overlay.png").exists()
    # The tiny random PISA's provenance.json says trained: false: the node's /diagnostics say so, the demo too.
    assert summary["untrained"] is True
    assert "is an UNTRAINED PISA (provenance.json: trained: false)" in summary["warning"]
    assert f"demo: WARNING {summary['warning']}" in printed
    assert f"demo: NOTE {demo.TINY_NOTE}" in printed and summary["note"] == demo.TINY_NOTE
    assert summary["warning"] in (out / "node.log").read_text()  # the node logged it at load
    assert summary["model"]["model_checkpoint"] == "(tiny, in a temporary folder)"
    check_knife_outputs(out, summary)


def test_the_tiny_model_is_found_in_the_source_tree_else_in_the_colcon_install(tmp_path, monkeypatch):
    assert demo.find_tiny_model() == TINY_MODEL
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    installed = [pathlib.Path(p, "share", "instructpart_ros", "models", "pisa-tiny-synth") for p in prefixes]
    installed = [path for path in installed if path.is_dir()]
    if not installed:
        pytest.skip("needs the colcon install on AMENT_PREFIX_PATH: run make setup and source scripts/env.sh")
    monkeypatch.setattr(package_files, "SOURCE_ROOT", tmp_path)  # as when running from the install
    assert demo.find_tiny_model() == installed[0]
    for name in ("checkpoint/model.safetensors", "checkpoint/provenance.json", "vision_tower/model.safetensors",
                 "dinov2/model.safetensors"):
        assert (installed[0] / name).read_bytes() == (TINY_MODEL / name).read_bytes()
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path))
    assert demo.find_tiny_model() is None


def test_a_mask_is_judged_by_the_part_it_selects():
    scene = render_scene(7, 0)
    handle, blade = scene.parts["handle"], scene.parts["blade"]
    assert selected_part(handle, scene.parts) == "handle" and selected_part(blade, scene.parts) == "blade"
    wrong = judge(blade, scene, "handle")
    assert (wrong["selected_part"], wrong["correct"]) == ("blade", False)
    assert wrong["part_pixels"] == {"handle": 0, "blade": int(blade.sum())}
    assert wrong["reason"] == f"0 of {int(blade.sum())} returned pixels in the handle (less than half)"
    background = ~(handle | blade)
    nothing = judge(background, scene, "blade")
    assert (nothing["selected_part"], nothing["correct"]) == (None, False)
    empty = judge(np.zeros_like(handle), scene, "blade")
    assert (empty["selected_part"], empty["reason"], empty["mask_pixels"]) == (None, "empty mask", 0)


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


def test_the_committed_tiny_model_is_small_trained_on_synth_and_says_how_to_remake_it():
    files = [path for path in TINY_MODEL.rglob("*") if path.is_file()]
    assert sum(path.stat().st_size for path in files) <= 20 * 2**20
    provenance = json.loads((TINY_MODEL / "checkpoint" / "provenance.json").read_text())
    assert provenance["trained"] is True and provenance["kind"] == "pisa"
    assert provenance["recipe"] == "train_tiny_synth" and provenance["data"]["split"] == "train"
    assert provenance["validation"]["split"] == "test"
    assert (TINY_MODEL / "training_curves.png").is_file()
    command = "python bench/train_tiny_synth.py --keep models/pisa-tiny-synth"
    assert command in (REPO / "docs" / "training.md").read_text()
    assert "--keep" in (REPO / "bench" / "train_tiny_synth.py").read_text()
