"""``instructpart grasps filter`` on the real knife frame: kept.npy, report.json, grasps.png, exit statuses."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from instructpart_ros.cli import main

from knife_grasps import EXPECTED, poses

NAMES = list(EXPECTED)


def graspgroup(knife_named_grasps, scores):
    rotations, translations, widths = poses([knife_named_grasps[name] for name in NAMES], "graspnet")
    rows = np.zeros((len(NAMES), 17))
    rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3] = scores, widths, 0.02, 0.02
    rows[:, 4:13], rows[:, 13:16], rows[:, 16] = rotations.reshape(-1, 9), translations, -1
    return rows


def filter_command(knife_dir, grasps, convention, out, *extra):
    return ["grasps", "filter", "--grasps", str(grasps), "--convention", convention, "--frame", str(knife_dir),
            "--part-mask", str(knife_dir / "mask_knife_handle.png"), "--out", str(out), *extra]


def test_a_graspgroup_file_gives_kept_npy_report_json_and_grasps_png(tmp_path, knife_dir, knife_parts,
                                                                      knife_named_grasps, capsys):
    rows = graspgroup(knife_named_grasps, np.linspace(0.9, 0.4, len(NAMES)))
    np.save(tmp_path / "grasps.npy", rows)
    assert main(filter_command(knife_dir, tmp_path / "grasps.npy", "graspnet", tmp_path / "out")) == 0
    assert capsys.readouterr().out.startswith("kept 1 of 6 candidates (best: #0, score 0.9")
    kept = np.load(tmp_path / "out" / "kept.npy")
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    entries = report["candidates"]
    assert [entry["index"] for entry in entries] == list(range(len(NAMES)))
    assert {name: entry["rejected_by"] for name, entry in zip(NAMES, entries)} == EXPECTED
    assert report["kept"] == [0] and report["reason"] == "" and report["settings"]["max_width"] == 0.08
    best = entries[0]
    assert best["kept"] and best["part_share"] > 0.9 and best["score"] == pytest.approx(0.9 * best["part_share"])
    assert entries[1]["score"] is None and entries[1]["anchor_distance"] > 0.05  # G1: never reached G2
    np.testing.assert_array_equal(kept[:, 1:], rows[[0], 1:])
    assert kept[0, 0] == pytest.approx(best["score"])
    picture = cv2.cvtColor(cv2.imread(str(tmp_path / "out" / "grasps.png")), cv2.COLOR_BGR2RGB)
    assert picture.shape == knife_parts.rgb.shape
    magenta = np.all(picture == (255, 0, 255), axis=2)  # the best grasp, drawn across the handle
    handle_rows, handle_cols = np.nonzero(knife_parts.handle)
    rows_, cols = np.nonzero(magenta)
    assert magenta.sum() > 50
    assert handle_cols.min() < np.median(cols) < handle_cols.max()
    assert handle_rows.min() - 40 < np.median(rows_) < handle_rows.max() + 40
    changed = (picture != knife_parts.rgb).any(axis=2)
    assert changed.sum() < 20000  # only the part's outline and the one kept grasp are drawn


@pytest.mark.parametrize("convention", ["contact_graspnet", "moveit"])
def test_the_same_grasps_in_other_conventions_get_the_same_report(tmp_path, knife_dir, knife_named_grasps, convention):
    rotations, translations, widths = poses([knife_named_grasps[name] for name in NAMES], convention)
    if convention == "contact_graspnet":
        transforms = np.tile(np.eye(4), (len(NAMES), 1, 1))
        transforms[:, :3, :3], transforms[:, :3, 3] = rotations, translations
        path = tmp_path / "predictions.npz"
        np.savez(path, pred_grasps_cam={1: transforms}, scores={1: np.full(len(NAMES), 0.5)},
                 gripper_openings={1: widths})
    else:
        path = tmp_path / "grasps.npz"
        np.savez(path, poses=transforms_of(rotations, translations), scores=np.full(len(NAMES), 0.5), widths=widths)
    assert main(filter_command(knife_dir, path, convention, tmp_path / "out")) == 0
    entries = json.loads((tmp_path / "out" / "report.json").read_text())["candidates"]
    assert {name: entry["rejected_by"] for name, entry in zip(NAMES, entries)} == EXPECTED
    kept = np.load(tmp_path / "out" / "kept.npy")
    np.testing.assert_allclose(kept[0, :3, 3], translations[0])
    assert (tmp_path / "out" / f"kept.npz").is_file()


def transforms_of(rotations, translations):
    transforms = np.tile(np.eye(4), (len(rotations), 1, 1))
    transforms[:, :3, :3], transforms[:, :3, 3] = rotations, translations
    return transforms


def test_nothing_kept_exits_1_and_still_writes_the_report(tmp_path, knife_dir, knife_named_grasps, capsys):
    rows = graspgroup(knife_named_grasps, np.full(len(NAMES), 0.5))[1:]  # everything but the handle grasp
    np.save(tmp_path / "grasps.npy", rows)
    assert main(filter_command(knife_dir, tmp_path / "grasps.npy", "graspnet", tmp_path / "out")) == 1
    assert capsys.readouterr().out.startswith("no grasp kept: no grasp on the part: all 5 candidates were rejected")
    assert np.load(tmp_path / "out" / "kept.npy").shape == (0, 17)
    assert json.loads((tmp_path / "out" / "report.json").read_text())["kept"] == []


def test_settings_are_options(tmp_path, knife_dir, knife_named_grasps):
    np.save(tmp_path / "grasps.npy", graspgroup(knife_named_grasps, np.full(len(NAMES), 0.5)))
    assert main(filter_command(knife_dir, tmp_path / "grasps.npy", "graspnet", tmp_path / "out",
                               "--max-width", "0.12", "--axis-term", "--top-k", "3")) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["settings"]["max_width"] == 0.12 and report["settings"]["axis_term"] is True
    assert report["candidates"][NAMES.index("too_wide")]["rejected_by"] in ("nms", None)  # no longer G3


@pytest.mark.parametrize("change, message", [
    (lambda rows: rows.__setitem__((2, 5), np.nan), "candidate 2: rotations contain NaN or inf"),
    (lambda rows: rows.__setitem__((3, slice(4, 7)), [2.0, 0.0, 0.0]), "candidate 3: rotation is not orthonormal"),
    (lambda rows: rows.__setitem__((1, 1), 0.0), "candidate 1: width is 0"),
])
def test_bad_candidates_exit_2_naming_the_index(tmp_path, knife_dir, knife_named_grasps, capsys, change, message):
    rows = graspgroup(knife_named_grasps, np.full(len(NAMES), 0.5))
    change(rows)
    np.save(tmp_path / "grasps.npy", rows)
    assert main(filter_command(knife_dir, tmp_path / "grasps.npy", "graspnet", tmp_path / "out")) == 2
    assert capsys.readouterr().err.startswith(f"instructpart grasps: error: {message}")
    assert not (tmp_path / "out").exists()


def test_bad_files_and_masks_exit_2_with_the_fix(tmp_path, knife_dir, capsys):
    np.save(tmp_path / "empty.npy", np.zeros((0, 17)))
    assert main(filter_command(knife_dir, tmp_path / "empty.npy", "graspnet", tmp_path / "out")) == 2
    assert "no grasp candidates: the input holds 0 grasps" in capsys.readouterr().err
    np.save(tmp_path / "wide.npy", np.zeros((2, 18)))
    assert main(filter_command(knife_dir, tmp_path / "wide.npy", "graspnet", tmp_path / "out")) == 2
    assert "holds a float64 array of shape (2, 18): a graspnetAPI GraspGroup is (N, 17)" in capsys.readouterr().err
    cv2.imwrite(str(tmp_path / "small.png"), np.ones((10, 10), np.uint8))
    arguments = filter_command(knife_dir, tmp_path / "wide.npy", "graspnet", tmp_path / "out")
    arguments[arguments.index("--part-mask") + 1] = str(tmp_path / "small.png")
    assert main(arguments) == 2
    assert "is 10x10 but the frame is 1280x800: the mask must be at the colour image's size" in capsys.readouterr().err


def test_the_installed_command_lists_the_filter_options():
    out = subprocess.run([sys.executable, "-m", "instructpart_ros.cli", "grasps", "filter", "--help"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for option in ("--grasps", "--convention", "--frame", "--part-mask", "--out", "--max-anchor-distance",
                   "--min-part-share", "--max-width", "--max-axis-deviation", "--nms-translation", "--top-k"):
        assert option in out.stdout, option
