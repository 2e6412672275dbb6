"""``instructpart train``: fine-tune PISA (or LISA) on an InstructPart-layout dataset.

    instructpart train --config config/pisa_instructpart.yaml --data /data/InstructPart --out runs/pisa \\
        --lisa /data/LISA-7B-v1 --vision-tower /data/clip-vit-large-patch14 --dinov2 /data/dinov2-large
    torchrun --nproc_per_node 8 -m instructpart_ros.cli train --config ... (DDP; --strategy fsdp to shard)
    instructpart train --config config/train_tiny_synth.yaml --data SYNTH_ROOT --out RUN_DIR

Writes RUN_DIR/checkpoint (loadable by load_segmenter, instructpart eval and the perception
node, with provenance.json), RUN_DIR/training_state (an interrupted run resumes where it
stopped when the same command is run again), TensorBoard events, log.jsonl and
training_curves.png. Every recipe field can be changed with --set section.field=value.
"""
from __future__ import annotations

import argparse
import logging
import pathlib
import sys

# flag -> recipe field it sets
FLAG_FIELDS = {
    "lisa": "model.lisa", "checkpoint": "model.checkpoint", "vision_tower": "model.vision_tower",
    "dinov2": "model.dinov2", "split": "data.split", "train_samples": "data.train_samples",
    "val_split": "data.val_split", "val_samples": "data.val_samples", "epochs": "run.epochs",
    "max_steps": "run.max_steps", "micro_batch": "run.micro_batch", "grad_accum": "run.grad_accum",
    "lr": "optim.lr", "strategy": "run.strategy", "device": "run.device", "precision": "run.precision",
    "seed": "run.seed", "time_limit": "run.time_limit_minutes", "workers": "data.num_workers",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``train``'s options on ``parser``."""
    main = parser.add_argument_group("what to train")
    main.add_argument("--config", type=pathlib.Path, metavar="YAML",
                      help="recipe file (config/pisa_instructpart.yaml, config/lisa_instructpart.yaml, "
                           "config/train_tiny_synth.yaml); default: LISA's defaults for PISA")
    main.add_argument("--data", required=True, type=pathlib.Path, metavar="ROOT",
                      help="dataset root in InstructPart's layout (holds train/ and test/)")
    main.add_argument("--out", required=True, type=pathlib.Path, metavar="RUN_DIR",
                      help="run folder: checkpoint/, training_state/, tensorboard/, training_curves.png")
    main.add_argument("--overwrite", action="store_true",
                      help="replace a finished run (or other files) in --out instead of refusing")
    main.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                      help="override any recipe field, e.g. --set optim.warmup_steps=50 (repeatable)")
    main.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                      help="progress bar (default: only on a terminal)")
    weights = parser.add_argument_group("weights (local folders; see instructpart download)")
    weights.add_argument("--lisa", type=pathlib.Path, metavar="DIR", help="LISA-7B-v1 (model.init pisa_from_lisa, lisa)")
    weights.add_argument("--checkpoint", type=pathlib.Path, metavar="DIR", help="a PISA checkpoint (model.init pisa)")
    weights.add_argument("--vision-tower", type=pathlib.Path, metavar="DIR", help="CLIP ViT-L/14")
    weights.add_argument("--dinov2", type=pathlib.Path, metavar="DIR", help="DINOv2 ViT-L/14 (PISA)")
    data = parser.add_argument_group("data")
    data.add_argument("--split", help="training split (train, trainNNNN, ...)")
    data.add_argument("--train-samples", type=int, metavar="N",
                      help="the paper's data-size ablation: 200, 600, 1200 or 1800 (nested subsets)")
    data.add_argument("--val-split", help="validation split (test by default; 'none' to skip validation)")
    data.add_argument("--val-samples", type=int, metavar="N", help="validate on the first N samples only")
    data.add_argument("--workers", type=int, metavar="N", help="data-loading processes per rank")
    run = parser.add_argument_group("run")
    run.add_argument("--epochs", type=int)
    run.add_argument("--max-steps", type=int, metavar="N", help="optimiser steps (overrides --epochs)")
    run.add_argument("--micro-batch", type=int, metavar="N", help="samples per process per pass")
    run.add_argument("--grad-accum", type=int, metavar="N", help="passes per optimiser step")
    run.add_argument("--lr", type=float)
    run.add_argument("--strategy", choices=("ddp", "fsdp"), help="under torchrun: DDP (default) or FSDP")
    run.add_argument("--device", choices=("auto", "cpu", "cuda"))
    run.add_argument("--precision", choices=("auto", "bf16", "fp32"))
    run.add_argument("--seed", type=int)
    run.add_argument("--time-limit", type=float, metavar="MIN", help="stop and export after MIN minutes")


def recipe_overrides(args: argparse.Namespace) -> list[str]:
    """The ``section.field=value`` overrides the flags stand for, then the ``--set`` ones."""
    overrides = []
    for flag, target in FLAG_FIELDS.items():
        value = getattr(args, flag, None)
        if value is None:
            continue
        if flag == "val_split" and value.lower() == "none":
            value = None
        overrides.append(f"{target}={'null' if value is None else value}")
    return overrides + list(args.overrides)


def run(args: argparse.Namespace) -> int:
    """Carry out ``instructpart train``; return the exit status."""
    from .recipe import load_recipe
    from .trainer import train

    logging.basicConfig(level=logging.INFO, format="[train] %(message)s", stream=sys.stderr)
    for noisy in ("httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    recipe = load_recipe(args.config, recipe_overrides(args))
    if not args.data.is_dir():
        raise ValueError(f"--data {args.data} is not a directory: pass the dataset root (holds train/ and test/)")
    result = train(recipe, args.data, args.out, overwrite=args.overwrite, progress=args.progress)
    import os

    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    best = result.best_validation
    summary = (f"validation gIoU {best['giou']:.2f} cIoU {best['ciou']:.2f} P@50 {best['p50']:.2f}"
               if best else "no validation")
    print(f"[train] {result.steps} steps in {result.seconds / 60:.1f} min; checkpoint {result.checkpoint} ({summary})")
    if result.skipped_images:
        print(f"[train] {len(result.skipped_images)} corrupt image(s) skipped: {', '.join(result.skipped_images[:10])}",
              file=sys.stderr)
    print(f"[train] evaluate it: {evaluation_command(recipe, args, result.checkpoint)}")
    return 0


def evaluation_command(recipe, args: argparse.Namespace, checkpoint: pathlib.Path) -> str:
    """The ``instructpart eval`` line that scores the trained checkpoint."""
    run_dir = args.out
    command = [f"instructpart eval --dataset {args.data} --split test --kind {recipe.model.kind} "
               f"--checkpoint {checkpoint}"]
    if recipe.model.init == "tiny":
        command.append(f"--vision-tower {run_dir / 'vision_tower'} --dinov2 {run_dir / 'dinov2'}")
    else:
        if recipe.model.vision_tower:
            command.append(f"--vision-tower {recipe.model.vision_tower}")
        if recipe.model.kind == "pisa" and recipe.model.dinov2:
            command.append(f"--dinov2 {recipe.model.dinov2}")
    command.append(f"--out {run_dir / 'eval'}")
    return " ".join(command)
