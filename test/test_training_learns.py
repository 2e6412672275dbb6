"""Training learns: a tiny PISA trained from scratch on synthetic scenes clearly beats the
untrained model on scenes of another seed, and overfits real InstructPart samples through the
same reader, collate and loss at their real sizes.

These are the short versions; bench/train_tiny_synth.py runs the full 15-minute one
(docs/training.md has its numbers).
"""
import json
import pathlib
import shutil

import pytest

from instructpart_ros.cli import main
from instructpart_ros.datasets.split_subset import write_split_subset
from instructpart_ros.datasets.synthetic_split import write_split
from instructpart_ros.evaluation.dataset import load_split

RECIPE = pathlib.Path(__file__).resolve().parents[1] / "config" / "train_tiny_synth.yaml"


def evaluate(data, split, checkpoint, vision_tower, dinov2, out, instruction="human"):
    assert main(["eval", "--dataset", str(data), "--split", split, "--kind", "pisa", "--checkpoint", str(checkpoint),
                 "--vision-tower", str(vision_tower), "--dinov2", str(dinov2), "--instruction", instruction,
                 "--device", "cpu", "--no-progress", "--out", str(out)]) == 0
    return json.loads((out / "metrics.json").read_text())["overall"]


def log_losses(run):
    return [json.loads(line)["loss/total"] for line in (run / "log.jsonl").read_text().splitlines()]


def test_a_short_synthetic_run_clearly_beats_the_untrained_model(tmp_path):
    data = tmp_path / "synth"
    write_split(data, "train", 300, seed=21, progress=False)
    write_split(data, "test", 20, seed=22, progress=False)
    run = tmp_path / "run"
    assert main(["train", "--config", str(RECIPE), "--data", str(data), "--out", str(run), "--max-steps", "250",
                 "--time-limit", "8", "--val-split", "none", "--no-progress"]) == 0
    trained = evaluate(data, "test", run / "checkpoint", run / "vision_tower", run / "dinov2", tmp_path / "trained")
    base = run / "base"
    untrained = evaluate(data, "test", base / "pisa-tiny", base / "clip-vit-tiny", base / "dinov2-tiny",
                         tmp_path / "untrained")
    losses = log_losses(run)
    assert sum(losses[-20:]) / 20 < 0.5 * sum(losses[:20]) / 20
    assert trained["n"] == untrained["n"] == len(load_split(data, "test"))
    assert trained["giou"] >= untrained["giou"] + 20, (trained, untrained)
    assert trained["p50"] >= untrained["p50"] + 10, (trained, untrained)


@pytest.fixture()
def eight_real_samples(data_root, tmp_path):
    """A split of the first 8 real InstructPart dev samples (links to the full-size files)."""
    write_split_subset(data_root / "InstructPart", "test", 8, tmp_path / "real")
    return tmp_path / "real"


def test_a_tiny_model_overfits_real_samples_at_their_real_size(eight_real_samples, tmp_path):
    data = eight_real_samples
    run = tmp_path / "run"
    assert main(["train", "--config", str(RECIPE), "--data", str(data), "--out", str(run), "--split", "test",
                 "--val-split", "none", "--max-steps", "60", "--micro-batch", "8", "--no-progress",
                 "--set", "data.hflip=0.0", "--set", "optim.warmup_steps=10"]) == 0
    losses = log_losses(run)
    assert sum(losses[-5:]) / 5 < 0.3 * sum(losses[:5]) / 5
    trained = evaluate(data, "test", run / "checkpoint", run / "vision_tower", run / "dinov2", tmp_path / "trained")
    base = run / "base"
    untrained = evaluate(data, "test", base / "pisa-tiny", base / "clip-vit-tiny", base / "dinov2-tiny",
                         tmp_path / "untrained")
    assert trained["n"] == 8
    assert trained["giou"] >= untrained["giou"] + 25, (trained, untrained)
