"""The knife task set through a live perception node (its own process, real DDS): part selection
and anchors exactly as computed here by hand from the masks the stub model returns (the
handle, the blade, both, nothing), through ``instructpart replay`` and ``replay_eval_node``."""
import pathlib
import subprocess

import numpy as np
import pytest
import yaml
from PIL import Image

from instructpart_ros.cli import main
from instructpart_ros.ros.node_process import NodeProcess
from replay_support import STUB_PARAMETERS, metrics_of, read_log, replay_domain, stub_prelude

INSTRUCTIONS = {
    "human": "If I want to {task}, which part of the {object} should I hold?",
    "gpt": "Which part of the {object} do I hold to {task}?",
    "op": "{part} of the {object}",
}
# What the stub answers for each instruction (filled per test run from the knife folder).
ANSWERS = {
    "If I want to cut the bread, which part of the knife should I hold?": ("handle",),
    "If I want to cut the steak, which part of the knife should I hold?": ("blade",),
    "Which part of the knife do I hold to cut the bread?": ("handle", "blade"),
    "Which part of the knife do I hold to cut the steak?": (),
    "handle of the knife": ("handle",),
}
NODE = dict(STUB_PARAMETERS, erode_px=0, outlier_sigmas=0.0, min_depth=0.0, max_depth=1.0, voxel_size=0.0)
K = (650.0, 650.0, 640.0, 400.0)  # the knife frame's camera_info (fx, fy, cx, cy)
KETTLE = "If I want to pour some water, which part of the kettle should I hold?"


@pytest.fixture(scope="module")
def knife_taskset(knife_dir, tabletop_tasks_file, tmp_path_factory):
    folder = tmp_path_factory.mktemp("taskset")
    manifest = {
        "name": "knife-test", "root": str(knife_dir), "table_tasks": str(tabletop_tasks_file),
        "instructions": INSTRUCTIONS,
        "frames": [{"id": "knife", "color": "color.png", "depth": "depth_mm.png", "camera_info": "camera_info.yaml",
                    "objects": {"knife": {"handle": "mask_knife_handle.png", "blade": "mask_knife_blade.png"}}}],
        "tasks": [{"frame": "knife", "task": "cut the bread", "object": "knife", "part": "handle"},
                  {"frame": "knife", "task": "cut the steak", "object": "knife"}],  # part from the table-top list
    }
    path = folder / "knife.yaml"
    path.write_text(yaml.safe_dump(manifest))
    return path


@pytest.fixture(scope="module")
def synth_split(tmp_path_factory):
    """Six instructpart synth scenes: knife, mug, kettle, screwdriver, spoon, knife."""
    root = tmp_path_factory.mktemp("synth")
    assert main(["synth", "--out", str(root), "--split", "test", "--n", "6", "--seed", "1", "--no-progress"]) == 0
    return root / "test"


@pytest.fixture(scope="module")
def node(knife_dir, synth_split, tmp_path_factory):
    masks = {"handle": knife_dir / "mask_knife_handle.png", "blade": knife_dir / "mask_knife_blade.png"}
    choices = {text: [masks[part] for part in parts] for text, parts in ANSWERS.items()}
    choices[KETTLE] = [synth_split / "masks" / "synth1_00002-kettle-handle.png"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ROS_DOMAIN_ID", replay_domain(7))
        patch.setenv("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
        with NodeProcess(NODE, python_prelude=stub_prelude(choices)) as process:
            yield process
            assert process.alive(), process.log_text()


def by_hand(knife_dir, parts):
    """(correct, anchor hit) computed here from the masks: the rule of the issue, the points' centroid."""
    handle = np.array(Image.open(knife_dir / "mask_knife_handle.png")) > 0
    blade = np.array(Image.open(knife_dir / "mask_knife_blade.png")) > 0
    returned = np.zeros_like(handle)
    for part in parts:
        returned |= {"handle": handle, "blade": blade}[part]
    in_handle, in_blade, total = (returned & handle).sum(), (returned & blade).sum(), returned.sum()
    correct = bool(total > 0 and 2 * in_handle >= total and in_handle > in_blade)
    depth = np.array(Image.open(knife_dir / "depth_mm.png")).astype(np.float64) / 1000.0
    keep = returned & (depth > 0) & (depth <= 1.0)
    if not keep.any():
        return correct, False
    rows, cols = np.nonzero(keep)
    z = depth[rows, cols]
    fx, fy, cx, cy = K
    x, y, zc = ((cols - cx) * z / fx).mean(), ((rows - cy) * z / fy).mean(), z.mean()
    u, v = int(round(fx * x / zc + cx)), int(round(fy * y / zc + cy))
    return correct, bool(handle[v, u])


def test_part_selection_and_anchors_are_exactly_the_hand_computed_ones(node, knife_taskset, knife_dir, tmp_path):
    out = tmp_path / "out"
    assert main(["replay", "--source", "taskset", "--dataset", str(knife_taskset), "--out", str(out),
                 "--use-running-node", "--timeout", "20"]) == 0
    records = {r["key"]: r for r in read_log(out)}
    assert len(records) == 6  # 2 tasks x 3 variants
    for key, record in records.items():
        assert record["outcome"] == "answered", record
        expected_correct, expected_hit = by_hand(knife_dir, ANSWERS[record["instruction"]])
        assert record["selection"]["correct"] is expected_correct, key
        assert record["anchor"]["hit"] is expected_hit, key
        assert record["anchor"]["from"] == ("points" if record["num_points"] else "mask")
        assert record["status"] == ("ok" if ANSWERS[record["instruction"]] else
                                    "no part found: the stub found nothing")
    # the rule's three branches all happen: empty, less than half, the other part holding more
    reasons = sorted(r["selection"]["reason"].split(" (")[0].split(":")[0] for r in records.values())
    assert reasons[0] == "" and "empty mask" in reasons
    steak_human = records["human/knife-cut_the_steak"]
    assert steak_human["selection"]["reason"].endswith("in the handle (less than half)")
    assert steak_human["part"] == "handle"  # from the table-top list
    # the part-name instruction is parsed by the node into object_name/part_name
    assert (records["op/knife-cut_the_bread"]["object_name"], records["op/knife-cut_the_bread"]["part_name"]) == (
        "knife", "handle")
    assert records["human/knife-cut_the_bread"]["object_name"] == ""

    metrics = metrics_of(out)
    correct = sum(by_hand(knife_dir, ANSWERS[r["instruction"]])[0] for r in records.values())
    assert metrics["part_selection"]["correct"] == correct
    assert metrics["part_selection"]["accuracy"] == pytest.approx(100.0 * correct / 6)
    assert metrics["part_selection"]["per_variant"]["op"]["accuracy"] == 100.0
    assert metrics["statuses"] == {"no_part": 1, "ok": 5}
    assert set(metrics["variants"]) == {"human", "gpt", "op"}
    assert metrics["variants"]["op"]["n"] == 2 and metrics["mode"] == "generate"
    assert metrics["latency_ms"]["total_ms"]["p50"] > 0
    coverage = {row["task"]: row["covered_by"] for row in metrics["coverage"]}
    assert len(coverage) == 48 and coverage["cut the bread"] == ["knife-cut_the_bread"]
    assert coverage["pick up the teapot"] == []
    markdown = (out / "metrics.md").read_text()
    assert "| cut the steak | knife | handle | knife-cut_the_steak |" in markdown
    assert "## Table-top task coverage (2 of 48 tasks have a recorded frame)" in markdown
    assert (out / "qualitative.png").stat().st_size > 10_000


def test_the_shipped_knife_task_set_through_the_replay_node_executable(node, tmp_path):
    """``ros2 run instructpart_ros replay_eval_node`` (the installed executable) with parameters."""
    from ament_index_python.packages import get_package_prefix

    executable = pathlib.Path(get_package_prefix("instructpart_ros")) / "lib" / "instructpart_ros" / "replay_eval_node"
    out = tmp_path / "node_out"
    done = subprocess.run([str(executable), "--ros-args", "-p", "source:=taskset", "-p", "dataset:=shapegrasp_knife",
                           "-p", f"out:={out}", "-p", "instruction:=op", "-p", "timeout:=20.0"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    metrics = metrics_of(out)
    assert metrics["run"]["dataset"].endswith("config/tasksets/shapegrasp_knife.yaml")
    assert list(metrics["variants"]) == ["op"]
    # "handle of the knife" -> the stub's handle mask: both tasks selected the handle
    assert metrics["part_selection"]["correct"] == 2 and metrics["variants"]["op"]["giou"] == 100.0
    assert metrics["model"]["checkpoint"] == "stub-model" and metrics["model"]["node"] == "/perception_node"
    assert "done:" in done.stderr


def test_the_shipped_synth_task_set_plays_rgbd_scenes_through_the_node(node, synth_split, data_root, tmp_path,
                                                                        monkeypatch):
    monkeypatch.setenv("INSTRUCTPART_SYNTH", str(synth_split))
    monkeypatch.setenv("INSTRUCTPART_DATA", str(data_root))
    out = tmp_path / "out"
    assert main(["replay", "--source", "taskset", "--dataset", "synth_tabletop", "--instruction", "human",
                 "--out", str(out), "--use-running-node", "--timeout", "20", "--no-progress"]) == 0
    records = {r["id"]: r for r in read_log(out)}
    assert sorted(records) == ["synth1_00000-cut_the_bread", "synth1_00000-cut_the_steak",
                               "synth1_00001-pick_up_the_mug", "synth1_00002-pour_some_water",
                               "synth1_00003-pick_up_the_screwdriver", "synth1_00004-pick_up_the_spoon",
                               "synth1_00005-cut_the_bread", "synth1_00005-cut_the_steak"]
    kettle = records["synth1_00002-pour_some_water"]
    assert kettle["status"] == "ok" and kettle["num_points"] > 0 and kettle["anchor"]["from"] == "points"
    assert kettle["selection"]["correct"] and kettle["iou"]["iou"] == 100.0
    # the stub answers the knife questions with the real knife frame's 1280x800 masks: on 320x240 scenes
    # the node reports a model error (its check of the mask's size); the others it answers with nothing
    assert {k: r["status_kind"] for k, r in records.items() if "cut_the" in k} == dict.fromkeys(
        ["synth1_00000-cut_the_bread", "synth1_00000-cut_the_steak", "synth1_00005-cut_the_bread",
         "synth1_00005-cut_the_steak"], "model_error")
    metrics = metrics_of(out)
    assert metrics["statuses"] == {"model_error": 4, "no_part": 3, "ok": 1}
    assert metrics["part_selection"]["correct"] == 1 and metrics["part_selection"]["n"] == 8
    assert metrics["part_selection"]["per_object"]["kettle"]["accuracy"] == 100.0
    covered = sorted(row["task"] for row in metrics["coverage"] if row["covered_by"])
    assert covered == ["cut the bread", "cut the steak", "pick up the mug", "pick up the screwdriver"]
