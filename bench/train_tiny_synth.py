"""Does training learn the task? A tiny PISA trained from scratch on synthetic scenes, on this CPU.

Writes an `instructpart synth` train split (seed 1) and a test split of another seed (2),
trains `config/train_tiny_synth.yaml` for at most ``--minutes`` of wall time with
`instructpart train`, then scores, for each of the six instruction variants, the trained
model and the same model before training (the baseline, measured in the same run) on the
test split:

- the paper's metrics through `instructpart eval` (teacher-forced, as LISA's validate());
- instruction-conditioned part choice: on images with two or more parts, the share of
  predictions that overlap their own part's mask more than any other part's (and the
  replay's stricter part selection: also at least half of the mask inside the part).

Targets (issue 10): gIoU >= 60 on the task instruction and part choice >= 90%.
``--keep DIR`` copies the trained checkpoint and towers there (how models/pisa-tiny-synth
was made). Prints JSON; ``--out`` also writes it.

    python bench/train_tiny_synth.py --out bench/results/train_tiny_synth.json [--minutes 15]
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import pathlib
import shutil
import sys

import numpy as np

from _common import emit, machine
from instructpart_ros.cli import main as instructpart
from instructpart_ros.evaluation.dataset import INSTRUCTION_NAMES, load_split
from instructpart_ros.evaluation.part_selection import select_part
from instructpart_ros.evaluation.scoring import prediction_path, read_binary_mask

REPO = pathlib.Path(__file__).resolve().parents[1]
RECIPE = REPO / "config" / "train_tiny_synth.yaml"


def quietly(argv: list[str]) -> None:
    """Run an ``instructpart`` command, keeping its output unless it fails."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = instructpart(argv)
    if status != 0:
        sys.stderr.write(out.getvalue() + err.getvalue())
        raise SystemExit(f"instructpart {' '.join(argv)} failed with {status}")


def part_choice(samples, predictions: pathlib.Path) -> dict:
    """Part choice and part selection over the samples whose image has two or more parts."""
    by_scene = collections.defaultdict(list)
    for sample in samples:
        by_scene[sample.id.split("-")[0]].append(sample)
    chosen = selected = total = 0
    for scene in by_scene.values():
        if len(scene) < 2:
            continue
        parts = {s.part: read_binary_mask(s.mask_path) for s in scene}
        for sample in scene:
            verdict = select_part(read_binary_mask(prediction_path(predictions, sample.id)), sample.part, parts)
            inside = verdict.part_pixels
            chosen += inside[sample.part] > max(v for k, v in inside.items() if k != sample.part)
            selected += verdict.correct
            total += 1
    return {"part_choice": 100.0 * chosen / total, "part_selection": 100.0 * selected / total, "n": total}


def score(data: pathlib.Path, checkpoint: pathlib.Path, towers: dict, out: pathlib.Path) -> dict:
    """Every instruction variant of the test split: the paper's metrics and part choice."""
    samples = load_split(data, "test")
    results = {}
    shutil.rmtree(out, ignore_errors=True)  # `instructpart eval` would resume from old predictions
    for variant in INSTRUCTION_NAMES:
        folder = out / variant
        quietly(["eval", "--dataset", str(data), "--split", "test", "--kind", "pisa", "--checkpoint", str(checkpoint),
                 "--vision-tower", str(towers["vision_tower"]), "--dinov2", str(towers["dinov2"]),
                 "--instruction", variant, "--mode", "teacher_forced", "--device", "cpu", "--no-progress",
                 "--out", str(folder)])
        overall = json.loads((folder / "metrics.json").read_text())["overall"]
        results[variant] = {**{k: round(overall[k], 2) for k in ("n", "giou", "ciou", "p50", "p50_95")},
                            **{k: round(v, 2) if isinstance(v, float) else v
                               for k, v in part_choice(samples, folder / "predictions").items()}}
    results["mean"] = {key: round(float(np.mean([results[v][key] for v in INSTRUCTION_NAMES])), 2)
                       for key in ("giou", "ciou", "p50", "part_choice", "part_selection")}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=pathlib.Path, default=REPO / "bench" / "results" / "train_tiny_synth",
                        help="folder for the splits, the run and the evaluations")
    parser.add_argument("--minutes", type=float, default=15.0, help="training time limit")
    parser.add_argument("--train-scenes", type=int, default=1000)
    parser.add_argument("--test-scenes", type=int, default=100)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="recipe override")
    parser.add_argument("--keep", type=pathlib.Path, help="copy the trained checkpoint and towers here")
    parser.add_argument("--reuse-run", action="store_true", help="score the run already in --work, do not train")
    parser.add_argument("--out", type=pathlib.Path)
    args = parser.parse_args()

    data, run = args.work / "synth", args.work / "run"
    for split, scenes, seed in (("train", args.train_scenes, 1), ("test", args.test_scenes, 2)):
        if not (data / split).is_dir():
            quietly(["synth", "--out", str(data), "--split", split, "--n", str(scenes), "--seed", str(seed),
                     "--no-progress"])
    if not args.reuse_run:
        shutil.rmtree(run, ignore_errors=True)
        overrides = [x for o in args.overrides for x in ("--set", o)]
        quietly(["train", "--config", str(RECIPE), "--data", str(data), "--out", str(run),
                 "--time-limit", str(args.minutes), "--no-progress", *overrides])
    provenance = json.loads((run / "checkpoint" / "provenance.json").read_text())
    train_minutes = provenance["seconds"] / 60
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    batch = provenance["recipe_values"]["run"]["micro_batch"] * provenance["recipe_values"]["run"]["grad_accum"]

    trained = score(data, run / "checkpoint", {"vision_tower": run / "vision_tower", "dinov2": run / "dinov2"},
                    args.work / "eval_trained")
    base = run / "base"
    untrained = score(data, base / "pisa-tiny", {"vision_tower": base / "clip-vit-tiny", "dinov2": base / "dinov2-tiny"},
                      args.work / "eval_untrained")
    if args.keep:
        shutil.rmtree(args.keep, ignore_errors=True)
        for name in ("checkpoint", "vision_tower", "dinov2"):
            shutil.copytree(run / name, args.keep / name)
        shutil.copyfile(run / "training_curves.png", args.keep / "training_curves.png")
    report = {
        "benchmark": "train_tiny_synth",
        "recipe": str(RECIPE.relative_to(REPO)),
        "data": {"train_scenes": args.train_scenes, "train_samples": provenance["data"]["samples"],
                 "test_scenes": args.test_scenes, "seeds": {"train": 1, "test": 2}},
        "training": {"wall_minutes": round(train_minutes, 2), "limit_minutes": args.minutes,
                     "steps": provenance["steps"], "samples_seen": provenance["steps"] * batch,
                     "median_samples_per_s": round(float(np.median([e["samples_per_s"] for e in log])), 2),
                     "final_loss": round(log[-1]["loss/total"], 4),
                     "best_validation": provenance["validation"]["metrics"]},
        "trained": trained,
        "untrained_baseline": untrained,
        "targets": {"giou_task_instruction_at_least_60": trained["human"]["giou"] >= 60,
                    "part_choice_at_least_90": trained["human"]["part_choice"] >= 90},
        "machine": machine(),
    }
    emit(report, args.out)


if __name__ == "__main__":
    main()
