"""InstructPart through the live perception node (its own process, real DDS): the replay's metrics
equal ``instructpart eval``'s for the same tiny model; nothing is lost when the replay is killed
with SIGKILL and restarted, or when the perception node dies mid-run."""
import json
import pathlib
import signal
import subprocess
import sys
import threading
import time

import pytest

from instructpart_ros.cli import main
from instructpart_ros.evaluation.dataset import load_split
from instructpart_ros.ros.node_process import NodeProcess
from replay_support import STUB_PARAMETERS, metrics_of, read_log, replay_domain, stub_prelude
from test_cli_eval_model import model_args, small_root, tiny_pisa  # noqa: F401 - fixtures shared with eval's test

VARIANTS = "human,op"  # one task instruction (TRPS), one part name (ORPS)
LIMIT = 3  # samples of the small split through the tiny model


def scores(section):
    return {key: section[key] for key in ("n", "giou", "ciou", "p50", "p50_95")}


def test_replay_through_the_node_equals_instructpart_eval_offline(small_root, tiny_pisa, tmp_path, monkeypatch):
    monkeypatch.setenv("ROS_DOMAIN_ID", replay_domain(14))
    monkeypatch.setenv("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
    out = tmp_path / "replay"
    assert main(["replay", "--source", "instructpart", "--dataset", str(small_root), "--instruction", VARIANTS,
                 "--limit", str(LIMIT), "--out", str(out), "--no-progress"] + model_args(tiny_pisa)) == 0
    replayed = metrics_of(out)
    assert replayed["mode"] == "teacher_forced"  # the default for InstructPart, as instructpart eval's
    assert replayed["model"]["checkpoint"] == str(pathlib.Path(tiny_pisa["checkpoint"]).resolve())
    assert list(replayed["variants"]) == ["human", "op"]
    for variant in ("human", "op"):
        offline_out = tmp_path / f"eval_{variant}"
        assert main(["eval", "--dataset", str(small_root), "--instruction", variant, "--out", str(offline_out),
                     "--limit", str(LIMIT), "--qualitative", "1"] + model_args(tiny_pisa)) == 0
        offline = metrics_of(offline_out)
        section = replayed["variants"][variant]
        assert scores(section) == offline["overall"]
        assert replayed["per_sample"][variant] == offline["per_sample"]  # the same masks, pixel for pixel
        assert section["per_object"] == offline["per_object"]
        # the replay's masks, scored by instructpart eval --predictions, give the same numbers again
        rescored_out = tmp_path / f"rescored_{variant}"
        assert main(["eval", "--dataset", str(small_root), "--instruction", variant, "--predictions",
                     str(out / "predictions" / variant), "--out", str(rescored_out), "--limit", str(LIMIT),
                     "--qualitative", "1"]) == 0
        rescored = metrics_of(rescored_out)
        assert rescored["overall"] == offline["overall"] and rescored["run"]["method"] == "pisa"
    assert len({row["iou"] for row in replayed["per_sample"]["human"].values()}) > 1  # masks differ per sample
    assert scores({**replayed["groups"]["TRPS"]}) == scores(replayed["variants"]["human"])
    assert replayed["groups"]["ORPS"]["variants"] == ["op"]
    assert replayed["statuses"] == {"ok_2d_only": 2 * LIMIT}
    markdown = (out / "metrics.md").read_text()
    assert "| Method | Mode | TRPS gIoU |" in markdown and "| pisa | teacher_forced |" in markdown


# ---------------------------------------------------------------------------- nothing lost
def stub_choices(root):
    """Each sample's instructions answered with its ground truth (even samples) or nothing (odd); an
    instruction two samples share ("handle of the faucet") with nothing."""
    choices, seen = {}, set()
    for index, sample in enumerate(load_split(root, "test")):
        for variant in VARIANTS.split(","):
            text = sample.instruction(variant)
            choices[text] = [sample.mask_path] if index % 2 == 0 and text not in seen else []
            seen.add(text)
    return choices


def expected_giou(root, variant):
    choices = stub_choices(root)
    samples = load_split(root, "test")
    return 100.0 * sum(choices[s.instruction(variant)] == [s.mask_path] for s in samples) / len(samples)


@pytest.fixture()
def stub_node(small_root, tmp_path, monkeypatch):
    monkeypatch.setenv("ROS_DOMAIN_ID", replay_domain(21))
    monkeypatch.setenv("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
    delay_file = tmp_path / "delay"
    delay_file.write_text("0.15")
    with NodeProcess(STUB_PARAMETERS, python_prelude=stub_prelude(stub_choices(small_root),
                                                                  delay_file=delay_file)) as process:
        yield process


def replay_args(root, out, *extra, variants=VARIANTS):
    return ["replay", "--source", "instructpart", "--dataset", str(root), "--instruction", variants, "--out",
            str(out), "--use-running-node", "--no-progress", *extra]


def wait_for_lines(path, count, timeout=60.0, context=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and path.read_text().count("\n") >= count:
            return
        time.sleep(0.02)
    console = context.read_text()[-3000:] if context is not None and context.is_file() else ""
    raise TimeoutError(f"{path} did not reach {count} lines; console:\n{console}")


def comparable(metrics):
    """What must not depend on the run being interrupted (latency and node provenance may)."""
    variants = {name: {k: v for k, v in section.items() if k != "latency_ms"}
                for name, section in metrics["variants"].items()}
    return variants, metrics["part_selection"], metrics["statuses"], metrics["per_sample"], metrics["failed"]


def test_sigkill_of_the_replay_then_restart_gives_the_uninterrupted_metrics(stub_node, small_root, tmp_path):
    uninterrupted = tmp_path / "uninterrupted"
    assert main(replay_args(small_root, uninterrupted)) == 0

    out = tmp_path / "killed"
    console = tmp_path / "killed_console.txt"
    with console.open("w") as output:
        killed = subprocess.Popen([sys.executable, "-m", "instructpart_ros.cli"] + replay_args(small_root, out),
                                  stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for_lines(out / "results.jsonl", 4, context=console)
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
    finally:
        killed.kill()
    before = read_log(out)
    assert 4 <= len(before) < 12 and not (out / "metrics.json").exists()

    assert main(replay_args(small_root, out)) == 0
    log = read_log(out)
    keys = [record["key"] for record in log]
    assert len(keys) == len(set(keys)) == 12  # nothing lost, nothing counted twice
    assert [record["key"] for record in log[:len(before)]] == [record["key"] for record in before]
    assert comparable(metrics_of(out)) == comparable(metrics_of(uninterrupted))
    for variant in VARIANTS.split(","):  # the ground truth for some samples, nothing for the others
        assert metrics_of(out)["variants"][variant]["giou"] == pytest.approx(expected_giou(small_root, variant))
    assert metrics_of(out)["variants"]["human"]["giou"] > 0


def test_a_perception_node_killed_mid_run_leaves_those_samples_failed(stub_node, small_root, tmp_path):
    out = tmp_path / "out"

    def kill_after_two_answers():
        wait_for_lines(out / "results.jsonl", 2)
        stub_node.process.send_signal(signal.SIGKILL)

    killer = threading.Thread(target=kill_after_two_answers, daemon=True)
    killer.start()
    started = time.monotonic()
    assert main(replay_args(small_root, out, "--timeout", "1", "--retries", "1", variants="human")) == 0
    assert time.monotonic() - started < 60  # never hangs: each sample at most 2 tries x 1 s
    killer.join(5)
    log = read_log(out)
    assert len(log) == 6
    failed = [record for record in log if record["outcome"] == "failed"]
    assert len(failed) >= 3 and all(record["attempts"] == 2 for record in failed)
    assert all(record["reason"].startswith("no answer after 2 tries: service segment_part did not answer within "
                                           "1 s") for record in failed)
    metrics = metrics_of(out)
    assert sorted(row["key"] for row in metrics["failed"]) == sorted(record["key"] for record in failed)
    assert metrics["statuses"]["failed"] == len(failed)
    assert "## Failed samples" in (out / "metrics.md").read_text()
    # a failed sample counts as an empty prediction, as a missing one does in instructpart eval
    assert set(metrics["variants"]["human"]["missing_predictions"]) == {record["id"] for record in failed}
    assert json.loads((out / "run.json").read_text())["source"] == "instructpart"
