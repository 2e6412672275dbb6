"""Does the training path fit real data? A tiny PISA overfits real InstructPart samples.

Takes the first ``--samples`` (8) samples of the real InstructPart test split in
``INSTRUCTPART_DATA`` (or ``--data``) at their full size (up to 2000 px), trains the tiny
recipe on them alone with `instructpart train` (no flips, short warm-up, a finer mask
grid than the synthetic recipe: decoder grid 32 at 448 px, so a 64x64 px handle in a
2000 px photo is still several mask cells), and scores the trained and the untrained
model on the same samples with `instructpart eval` (task instruction). The loss is the
real one at the original image resolution, through the real reader and collate.

Target (issue 10): gIoU >= 90 on those 8 samples. Prints JSON; ``--out`` also writes it.

    python bench/overfit_real.py --out bench/results/overfit_real.json
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil

import numpy as np

from _common import emit, machine
from train_tiny_synth import RECIPE, quietly
from instructpart_ros.datasets.split_subset import write_split_subset

FINE_MASKS = ["model.tiny.fusion_input_size=448", "model.tiny.decoder_grid=32"]
OVERFIT = ["data.hflip=0.0", "optim.warmup_steps=10"]


def evaluate(data: pathlib.Path, checkpoint, vision_tower, dinov2, out: pathlib.Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    quietly(["eval", "--dataset", str(data), "--split", "test", "--kind", "pisa", "--checkpoint", str(checkpoint),
             "--vision-tower", str(vision_tower), "--dinov2", str(dinov2), "--instruction", "human",
             "--device", "cpu", "--no-progress", "--out", str(out)])
    metrics = json.loads((out / "metrics.json").read_text())
    return {"overall": {k: round(metrics["overall"][k], 2) for k in ("n", "giou", "ciou", "p50", "p50_95")},
            "per_sample_iou": {sid: round(row["iou"], 1) for sid, row in metrics["per_sample"].items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=pathlib.Path,
                        default=pathlib.Path(os.environ.get("INSTRUCTPART_DATA", "../shared/data")) / "InstructPart")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--work", type=pathlib.Path, default=pathlib.Path(__file__).parent / "results" / "overfit_real")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="recipe override")
    parser.add_argument("--out", type=pathlib.Path)
    args = parser.parse_args()

    shutil.rmtree(args.work, ignore_errors=True)
    data, run = args.work / "data", args.work / "run"
    ids = write_split_subset(args.data, "test", args.samples, data)
    settings = [*FINE_MASKS, *OVERFIT, *args.overrides]
    quietly(["train", "--config", str(RECIPE), "--data", str(data), "--split", "test", "--val-split", "none",
             "--out", str(run), "--max-steps", str(args.steps), "--micro-batch", str(args.samples), "--no-progress",
             *[x for s in settings for x in ("--set", s)]])
    provenance = json.loads((run / "checkpoint" / "provenance.json").read_text())
    losses = [json.loads(line)["loss/total"] for line in (run / "log.jsonl").read_text().splitlines()]
    trained = evaluate(data, run / "checkpoint", run / "vision_tower", run / "dinov2", args.work / "eval_trained")
    base = run / "base"
    untrained = evaluate(data, base / "pisa-tiny", base / "clip-vit-tiny", base / "dinov2-tiny",
                         args.work / "eval_untrained")
    emit({
        "benchmark": "overfit_real",
        "recipe": str(RECIPE.name), "settings": settings,
        "samples": ids,
        "training": {"steps": provenance["steps"], "wall_minutes": round(provenance["seconds"] / 60, 2),
                     "first_loss": round(float(np.mean(losses[:5])), 4),
                     "final_loss": round(float(np.mean(losses[-5:])), 4)},
        "trained": trained, "untrained_baseline": untrained,
        "targets": {"giou_at_least_90": trained["overall"]["giou"] >= 90},
        "machine": machine(),
    }, args.out)


if __name__ == "__main__":
    main()
