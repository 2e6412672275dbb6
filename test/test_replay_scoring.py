"""Replay scoring without ROS: part selection and anchors on hand-made masks, statuses, the results
log surviving a kill, retries, and the runner with a stand-in transport (bad entries, failures)."""
import json

import cv2
import numpy as np
import pytest

from instructpart_ros.cli import main
from instructpart_ros.datasets.rgbd_images import RgbdImages
from instructpart_ros.evaluation.dataset import InstructPartSample
from instructpart_ros.evaluation.part_selection import (anchor_from_mask, anchor_from_points, anchor_hits,
                                                        select_part)
from instructpart_ros.evaluation.replay import ReplayOptions, ask, replay_items
from instructpart_ros.evaluation.replay_items import ReplayItem, parse_variants
from instructpart_ros.evaluation.replay_scoring import NodeAnswer, selection_summary, status_kind
from instructpart_ros.evaluation.results_log import ResultsLog
from instructpart_ros.geometry import Intrinsics


def masks_10x10():
    handle = np.zeros((10, 10), bool)
    handle[:, :4] = True  # 40 pixels
    blade = np.zeros((10, 10), bool)
    blade[:, 4:] = True  # 60 pixels
    return {"handle": handle, "blade": blade}


def returned(columns):
    mask = np.zeros((10, 10), bool)
    mask[:, columns] = True
    return mask


@pytest.mark.parametrize("columns, correct, reason", [
    (slice(0, 4), True, ""),                                                   # the handle exactly
    (slice(0, 0), False, "empty mask"),
    (slice(2, 6), False, "the blade holds 20 returned pixels, the handle 20"),  # half each: a tie is not "more"
    (slice(0, 6), True, ""),                                                   # 40 of 60 in the handle
    (slice(0, 9), False, "40 of 90 returned pixels in the handle (less than half)"),
    (slice(4, 10), False, "0 of 60 returned pixels in the handle (less than half)"),
])
def test_part_selection_rule(columns, correct, reason):
    selection = select_part(returned(columns), "handle", masks_10x10())
    assert (selection.correct, selection.reason) == (correct, reason)


def test_exactly_half_in_the_target_with_no_other_part_annotated_is_correct():
    mask = returned(slice(2, 6))  # 20 of 40 pixels in the handle
    selection = select_part(mask, "handle", {"handle": masks_10x10()["handle"]})
    assert selection.correct and selection.part_pixels == {"handle": 20} and selection.returned_pixels == 40


def test_part_selection_refuses_unusable_input():
    with pytest.raises(ValueError, match="target part 'lid' is not among the annotated parts"):
        select_part(returned(slice(0, 4)), "lid", masks_10x10())
    with pytest.raises(ValueError, match="part mask 'handle' is 10x10 but the returned mask is 5x5"):
        select_part(np.zeros((5, 5), bool), "handle", masks_10x10())


def test_anchors_project_the_points_centroid_or_use_the_mask_centroid():
    k = Intrinsics(100.0, 100.0, 5.0, 5.0)
    points = np.array([[0.01, 0.0, 1.0], [-0.03, 0.02, 1.0]], np.float32)  # centroid (-0.01, 0.01, 1.0)
    assert anchor_from_points(points, k) == (4, 6)
    assert anchor_from_points(np.zeros((0, 3)), k) is None
    assert anchor_from_mask(returned(slice(0, 4))) == (2, 4)  # columns 0..3 -> 1.5 rounds to 2, rows 0..9 -> 4.5 -> 4
    assert anchor_from_mask(returned(slice(0, 0))) is None
    handle = masks_10x10()["handle"]
    assert anchor_hits((2, 4), handle) and not anchor_hits((7, 4), handle)
    assert not anchor_hits((-1, 4), handle) and not anchor_hits((10, 4), handle) and not anchor_hits(None, handle)


@pytest.mark.parametrize("status, kind", [
    ("ok", "ok"), ("2D only: the request has no depth image", "ok_2d_only"), ("no pose: 3 points", "no_pose"),
    ("no part found: the model's mask is empty", "no_part"), ("model error: OutOfMemoryError: CUDA", "model_error"),
    ("depth image is 10x10 but the colour image is 20x20: ...", "bad_input"), ("okay?", "bad_input"),
])
def test_status_kinds(status, kind):
    assert status_kind(status) == kind


def test_a_sample_without_an_answer_counts_as_a_wrong_selection():
    records = [{"outcome": "answered", "selection": {"correct": True}, "anchor": {"hit": True}},
               {"outcome": "answered", "selection": {"correct": False}, "anchor": {"hit": True}},
               {"outcome": "failed"}, {"outcome": "answered"}, {"outcome": "bad_entry"}]
    assert selection_summary(records) == {"n": 3, "correct": 1, "accuracy": pytest.approx(100 / 3),
                                          "anchor_hits": 2, "anchor_hit_rate": pytest.approx(200 / 3)}


def test_results_log_drops_a_line_cut_short_by_a_kill_and_continues(tmp_path):
    path = tmp_path / "results.jsonl"
    with ResultsLog(path) as log:
        log.append({"key": "a", "outcome": "answered"})
        log.append({"key": "b", "outcome": "failed", "reason": "timeout"})
    with path.open("ab") as file:
        file.write(b'{"key": "c", "outcome": "answ')  # the kill hit mid-write
    with ResultsLog(path) as log:
        assert set(log.records) == {"a", "b"}
        assert log.is_done("a") and not log.is_done("b") and not log.is_done("c")  # failed ones are retried
        log.append({"key": "b", "outcome": "answered"})
        log.append({"key": "c", "outcome": "answered"})
    lines = path.read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["a", "b", "b", "c"]  # every line whole
    assert ResultsLog(path).records["b"]["outcome"] == "answered"  # the last record of a key wins


def test_ask_retries_then_gives_the_reason_and_stops_at_once_when_the_node_is_gone():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise TimeoutError(f"no answer {len(calls)}")
        return "answer"

    assert ask(flaky, lambda: None, retries=2) == ("answer", 3, "")
    calls.clear()
    assert ask(flaky, lambda: None, retries=1) == (None, 2, "no answer after 2 tries: no answer 2")
    assert ask(flaky, lambda: "the perception node exited with code -9", retries=5) == (
        None, 0, "the perception node exited with code -9")


def test_variant_lists():
    assert parse_variants("all", ["human", "op"]) == ["human", "op"]
    assert parse_variants("op, human,op", ["human", "op"]) == ["op", "human"]
    with pytest.raises(ValueError, match=r"unknown instruction variant\(s\) \['task'\]: use all or"):
        parse_variants("human,task", ["human", "op"])


# ---------------------------------------------------------------------------- the runner
class HandleTransport:
    """Answers every request with the left 4 columns (the handle), or raises for ``silent`` instructions."""

    def __init__(self, silent=()):
        self.silent, self.requests = silent, []

    def segment(self, images, instruction, timeout):
        self.requests.append(instruction)
        if instruction in self.silent:
            raise TimeoutError("no answer within 1 s")
        mask = np.zeros(images.rgb.shape[:2], bool)
        mask[:, :4] = True
        return NodeAnswer(mask=mask, status="2D only: the request has no depth image", total_ms=3.0, inference_ms=2.0)

    def failure(self):
        return None


def write_item(tmp_path, name, mask_shape=(10, 10), image=True):
    image_path, handle_path, blade_path = (tmp_path / f"{name}.png", tmp_path / f"{name}_handle.png",
                                           tmp_path / f"{name}_blade.png")
    if image:
        cv2.imwrite(str(image_path), np.full((10, 10, 3), 128, np.uint8))
    handle = np.zeros(mask_shape, np.uint8)
    handle[:, :4] = 255
    cv2.imwrite(str(handle_path), handle)
    cv2.imwrite(str(blade_path), 255 - handle)
    sample = InstructPartSample(name, image_path, handle_path, "knife", "handle", "", "cut", {"human": name})

    def load():
        from instructpart_ros.datasets.rgbd_images import read_color
        return RgbdImages(read_color(image_path))

    return ReplayItem("human", sample, f"grasp {name}", load, {"handle": handle_path, "blade": blade_path})


def test_bad_entries_and_unanswered_samples_are_recorded_and_the_run_goes_on(tmp_path):
    items = [write_item(tmp_path, "good"), write_item(tmp_path, "missing_image", image=False),
             write_item(tmp_path, "small_mask", mask_shape=(5, 5)), write_item(tmp_path, "silent")]
    out = tmp_path / "out"
    options = ReplayOptions(out=out, run={"source": "test"}, model={"kind": "stub", "mode": "generate"},
                            timeout=1.0, retries=1, progress=False)
    transport = HandleTransport(silent={"grasp silent"})
    metrics = replay_items(items, transport, options)
    assert transport.requests == ["grasp good", "grasp silent", "grasp silent"]  # bad entries never sent
    bad = {row["key"]: row["reason"] for row in metrics["bad_entries"]}
    assert set(bad) == {"human/missing_image", "human/small_mask"}
    assert bad["human/missing_image"].startswith("missing_image: cannot read the colour image")
    assert "small_mask_handle.png (handle) is 5x5 but its image is 10x10" in bad["human/small_mask"]
    assert metrics["failed"] == [{"key": "human/silent", "reason": "no answer after 2 tries: no answer within 1 s",
                                  "attempts": 2}]
    section = metrics["variants"]["human"]
    assert section["n"] == 2 and section["giou"] == 50.0  # good: IoU 100; silent: no prediction, IoU 0
    assert section["missing_predictions"] == ["silent"]
    assert metrics["part_selection"]["correct"] == 1 and metrics["part_selection"]["n"] == 2
    assert metrics["statuses"] == {"bad_entry": 2, "failed": 1, "ok_2d_only": 1}
    assert (out / "predictions" / "human" / "good.png").is_file()
    # a rerun sends only what is not final: the failed sample, and the bad entries (fixed or not)
    transport.silent, transport.requests = set(), []
    metrics = replay_items(items, transport, options)
    assert transport.requests == ["grasp silent"] and metrics["failed"] == []
    assert metrics["variants"]["human"]["giou"] == 100.0
    # more (or fewer) samples or variants into the same folder: the results so far are kept
    more = ReplayOptions(out=out, run={"source": "test", "limit": 3, "instruction": "human"},
                         model={"kind": "stub", "mode": "generate"}, progress=False)
    transport.requests = []
    assert replay_items(items[:1], transport, more)["variants"]["human"]["n"] == 1 and transport.requests == []
    # another model into the same folder is refused rather than mixed
    other = ReplayOptions(out=out, run={"source": "test"}, model={"kind": "lisa", "mode": "generate"})
    with pytest.raises(ValueError, match="pass a new --out folder, or delete this one to start over"):
        replay_items(items, transport, other)


def test_replay_command_errors_name_the_fix(tmp_path, capsys):
    base = ["replay", "--source", "instructpart", "--dataset", str(tmp_path), "--out", str(tmp_path / "out")]
    assert main(base) == 2
    assert "--checkpoint DIR and --kind pisa|lisa are needed to start the perception node" in capsys.readouterr().err
    assert main(base + ["--use-running-node", "--checkpoint", str(tmp_path)]) == 2
    assert "--checkpoint describe a node to start" in capsys.readouterr().err
    assert main(base + ["--use-running-node", "--annotations", "a.yaml"]) == 2
    assert "annotations only apply to the bag source" in capsys.readouterr().err
