"""`instructpart train` end to end on a tiny model: the run folder, a checkpoint the package loads,
the same weights for any process layout (DDP, FSDP), exact resume after SIGKILL, and guards."""
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from instructpart_ros.cli import main
from instructpart_ros.datasets.synthetic_split import write_split
from instructpart_ros.model import load_segmenter

TINY = ["--set", "model.init=tiny", "--set", "run.gradient_checkpointing=false", "--workers", "0",
        "--set", "trainable.lora.dropout=0.0", "--set", "trainable.lm_head_embed_tokens=true"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    write_split(root, "train", 4, seed=11, progress=False)
    write_split(root, "test", 2, seed=12, progress=False)
    return root


def train_args(synth, out, *extra):
    return ["train", "--data", str(synth), "--out", str(out), *TINY, *extra]


def weights(run_dir):
    return load_file(str(run_dir / "checkpoint" / "model.safetensors"))


def max_difference(a, b):
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


@pytest.fixture(scope="module")
def finished_run(synth, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    assert main(train_args(synth, out, "--max-steps", "3", "--micro-batch", "2", "--grad-accum", "1",
                           "--set", "run.val_every=3")) == 0
    return out


def test_a_run_writes_a_checkpoint_that_loads_and_scores_like_its_validation(finished_run, synth, tmp_path):
    run = finished_run
    for name in ("checkpoint", "training_state", "tensorboard", "log.jsonl", "validation.jsonl",
                 "training_curves.png", "recipe.yaml", "vision_tower", "dinov2"):
        assert (run / name).exists(), name
    assert (run / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    provenance = json.loads((run / "checkpoint" / "provenance.json").read_text())
    assert provenance["trained"] is True and provenance["steps"] == 3 and provenance["kind"] == "pisa"
    assert provenance["data"]["samples"] == len(json.loads((synth / "train" / "data_train.json").read_text())) * 2 \
        or provenance["data"]["samples"] > 4
    assert set(provenance["base"]) == {"checkpoint", "vision_tower", "dinov2"}
    assert all(len(h) == 64 for h in provenance["base"]["checkpoint"]["files"].values())
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [1, 2, 3] and all(entry["loss/total"] > 0 for entry in log)

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss/total")] == [1, 2, 3]
    assert len(events.Scalars("val/giou")) == 1

    segmenter = load_segmenter(kind="pisa", checkpoint=run / "checkpoint", vision_tower=run / "vision_tower",
                               dinov2=run / "dinov2", device="cpu", dtype="float32")
    assert segmenter.warning is None and segmenter.provenance["trained"] is True
    moved = tmp_path / "moved"
    shutil.copytree(run, moved, ignore=shutil.ignore_patterns("base", "training_state", "tensorboard"))
    alone = load_segmenter(kind="pisa", checkpoint=moved / "checkpoint", device="cpu", dtype="float32")
    assert alone.model.image_encoder.neck.fusion_logits.tolist() == \
        segmenter.model.image_encoder.neck.fusion_logits.tolist()  # the towers travel with the run folder
    out = tmp_path / "eval"
    assert main(["eval", "--dataset", str(synth), "--split", "test", "--kind", "pisa",
                 "--checkpoint", str(run / "checkpoint"), "--vision-tower", str(run / "vision_tower"),
                 "--dinov2", str(run / "dinov2"), "--mode", "teacher_forced", "--out", str(out)]) == 0
    scored = json.loads((out / "metrics.json").read_text())["overall"]
    validated = provenance["validation"]["metrics"]
    assert scored["n"] == validated["n"]
    assert scored["giou"] == pytest.approx(validated["giou"], abs=1e-6)


def test_a_finished_run_is_not_overwritten(finished_run, synth, capsys):
    before = (finished_run / "checkpoint" / "model.safetensors").stat().st_mtime_ns
    assert main(train_args(synth, finished_run, "--max-steps", "3")) == 2
    assert "holds a finished training run" in capsys.readouterr().err
    assert (finished_run / "checkpoint" / "model.safetensors").stat().st_mtime_ns == before


def test_an_unfinished_run_of_another_recipe_is_refused(finished_run, synth, tmp_path, capsys):
    run = tmp_path / "other"
    shutil.copytree(finished_run, run)
    progress = json.loads((run / "training_state" / "progress.json").read_text())
    progress["finished"] = False
    progress["recipe"]["optim"]["lr"] = 0.5
    (run / "training_state" / "progress.json").write_text(json.dumps(progress))
    assert main(train_args(synth, run, "--max-steps", "3", "--micro-batch", "2", "--grad-accum", "1",
                           "--set", "run.val_every=3")) == 2
    error = capsys.readouterr().err
    assert "an unfinished run of another recipe" in error and "optim.lr: 0.5 in the run, 0.0003 now" in error


def torchrun(args, env):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "instructpart_ros.cli", *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_two_processes_end_with_the_weights_of_one_process_with_accumulation(synth, tmp_path):
    common = ["--max-steps", "2", "--micro-batch", "1", "--val-split", "none", "--lr", "3e-4",
              "--set", "optim.warmup_steps=0"]
    assert main(train_args(synth, tmp_path / "one", *common, "--grad-accum", "4")) == 0
    env = dict(os.environ, OMP_NUM_THREADS="1")
    torchrun(train_args(synth, tmp_path / "ddp", *common, "--grad-accum", "2"), env)
    torchrun(train_args(synth, tmp_path / "fsdp", *common, "--grad-accum", "2", "--strategy", "fsdp"), env)
    one = weights(tmp_path / "one")
    initial = load_file(str(tmp_path / "one" / "base" / "pisa-tiny" / "model.safetensors"))
    assert max_difference({k: one[k] for k in initial}, initial) > 1e-4  # it trained
    assert max_difference(one, weights(tmp_path / "ddp")) <= 1e-5
    assert max_difference(one, weights(tmp_path / "fsdp")) <= 1e-5


def processes_writing_to(out):
    """Pids of live (not zombie) processes whose command line names ``out``."""
    found = []
    for proc in pathlib.Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if str(out).encode() in argv and state != "Z":
            found.append(int(proc.name))
    return found


def test_a_run_killed_with_sigkill_resumes_exactly(synth, tmp_path):
    args = ["--max-steps", "6", "--micro-batch", "1", "--grad-accum", "2", "--workers", "1",
            "--set", "run.save_every=2", "--set", "run.val_every=6"]
    assert main(train_args(synth, tmp_path / "whole", *args)) == 0
    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "instructpart_ros.cli", *train_args(synth, killed, *args)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    progress = killed / "training_state" / "progress.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if progress.is_file() and json.loads(progress.read_text())["step"] >= 2:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    # its DataLoader worker dies with it (torch's own orphan check leaves it hanging on exit)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and processes_writing_to(killed):
        time.sleep(0.05)
    assert processes_writing_to(killed) == []
    step = json.loads(progress.read_text())["step"]
    assert 2 <= step < 6
    assert main(train_args(synth, killed, *args)) == 0
    assert max_difference(weights(tmp_path / "whole"), weights(killed)) == 0.0
    whole, resumed = (json.loads((run / "checkpoint" / "provenance.json").read_text())
                      for run in (tmp_path / "whole", killed))
    assert resumed["validation"]["metrics"] == whole["validation"]["metrics"]
    log = [json.loads(line)["step"] for line in (killed / "log.jsonl").read_text().splitlines()]
    assert log == [1, 2, 3, 4, 5, 6]  # the steps redone after the kill are logged once
