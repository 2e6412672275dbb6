"""``instructpart eval``: score InstructPart predictions, or run a model first.

    instructpart eval --dataset ROOT --split test --predictions DIR --out OUT
    instructpart eval --dataset ROOT --out OUT --checkpoint DIR --kind pisa \\
        --vision-tower CLIP_DIR --dinov2 DINO_DIR
    torchrun --nproc_per_node 4 -m instructpart_ros.cli eval ... --checkpoint ...

With ``--checkpoint`` the model writes ``<id>.png`` per sample into ``--predictions``
(default ``OUT/predictions``), skipping samples already there; under torchrun each
rank predicts its share and rank 0 scores. Heavy imports live in :func:`run` so that
``instructpart --help`` stays fast.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

from .dataset import INSTRUCTION_DESCRIPTIONS, INSTRUCTION_NAMES

MODEL_ONLY_OPTIONS = ("kind", "vision_tower", "dinov2")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``eval``'s options on ``parser``."""
    data = parser.add_argument_group("data and output")
    data.add_argument("--dataset", required=True, type=pathlib.Path, metavar="ROOT",
                      help="InstructPart root (holds test/ and train/)")
    data.add_argument("--split", default="test",
                      help="test, all, train or trainNNNN (default: test)")
    data.add_argument("--predictions", type=pathlib.Path, metavar="DIR",
                      help="prediction masks <sample id>.png (with --checkpoint: where to "
                           "write them, default OUT/predictions)")
    data.add_argument("--out", required=True, type=pathlib.Path, metavar="OUT",
                      help="folder for metrics.json, metrics.md, per_class.png, qualitative.png")
    data.add_argument("--instruction", default="human", choices=INSTRUCTION_NAMES,
                      help="which of the six instructions: "
                           + "; ".join(f"{k}: {v}" for k, v in INSTRUCTION_DESCRIPTIONS.items()))
    data.add_argument("--limit", type=int, metavar="N",
                      help="only the first N samples by id (quick checks)")
    data.add_argument("--method", help="name of the method in metrics.md "
                                       "(default: --kind, or the predictions folder's name)")
    data.add_argument("--workers", type=int, metavar="N",
                      help="scoring threads (default: all CPU cores)")
    data.add_argument("--qualitative", type=int, default=4, metavar="K",
                      help="best and worst samples shown in qualitative.png (default: 4)")
    data.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                      help="progress bars (default: only on a terminal)")
    model = parser.add_argument_group("running a model (instead of reading predictions)")
    model.add_argument("--checkpoint", type=pathlib.Path, metavar="DIR",
                       help="LISA/PISA checkpoint folder: run it and write the predictions first")
    model.add_argument("--kind", choices=("pisa", "lisa"), help="model kind of --checkpoint")
    model.add_argument("--vision-tower", type=pathlib.Path, metavar="DIR",
                       help="CLIP vision tower folder")
    model.add_argument("--dinov2", type=pathlib.Path, metavar="DIR",
                       help="DINOv2 folder (pisa)")
    model.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                       help="auto: cuda when available")
    model.add_argument("--dtype", choices=("auto", "float32", "bfloat16", "float16"),
                       default="auto", help="auto: bfloat16 on cuda, float32 on cpu")
    model.add_argument("--mode", choices=("generate", "teacher_forced"), default="teacher_forced",
                       help="how the model produces its [SEG] token (default: teacher_forced, the paper's "
                            "protocol: LISA's validate(); generate: the robot's, the model writes its answer)")


def check_arguments(args: argparse.Namespace) -> None:
    """Raise ValueError for option combinations that cannot work."""
    if args.checkpoint is None:
        given = [f"--{name.replace('_', '-')}" for name in MODEL_ONLY_OPTIONS
                 if getattr(args, name) is not None]
        if given:
            raise ValueError(f"{', '.join(given)} only apply with --checkpoint: add "
                             "--checkpoint DIR to run a model, or drop them to score --predictions")
        if args.predictions is None:
            raise ValueError("--predictions DIR is required (or --checkpoint DIR to run a "
                             "model and write predictions)")
        if not args.predictions.is_dir():
            raise ValueError(f"--predictions {args.predictions} is not a directory: pass the "
                             "folder holding <sample id>.png masks")
    elif args.kind is None:
        raise ValueError("--checkpoint needs --kind pisa or --kind lisa")
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}")
    if args.qualitative < 1:
        raise ValueError(f"--qualitative must be at least 1, got {args.qualitative}")
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")


def run(args: argparse.Namespace) -> int:
    """Carry out ``instructpart eval``; return the exit status."""
    from .dataset import load_split
    from .distributed import process_group_from_env
    from .evaluate import REPORT_FILES, evaluate_predictions
    from .prediction import read_run_config

    check_arguments(args)
    group = process_group_from_env()
    samples = load_split(args.dataset, args.split, check_files=group.is_main)
    if args.limit is not None:
        samples = samples[:args.limit]
    predictions = args.predictions
    warning = _model_warning(args.kind, args.checkpoint, group.is_main)  # before a long model run
    if args.checkpoint is not None:
        predictions = predictions or args.out / "predictions"
        _run_model(args, samples, predictions)
    if not group.is_main:
        return 0
    producer = read_run_config(predictions) or {}
    if producer.get("instruction", args.instruction) != args.instruction:
        raise ValueError(f"{predictions} holds predictions for --instruction "
                         f"{producer['instruction']} (its run.json), not {args.instruction}: "
                         f"pass --instruction {producer['instruction']}")
    checkpoint = str(args.checkpoint) if args.checkpoint else producer.get("checkpoint")
    if args.checkpoint is None:  # scoring a model run's predictions: the model that wrote them
        warning = _model_warning(producer.get("kind"), checkpoint, True)
    run_info = {
        "dataset": str(args.dataset), "split": args.split, "instruction": args.instruction,
        "predictions": str(predictions),
        "method": args.method or producer.get("kind") or predictions.resolve().name,
        "checkpoint": checkpoint,
        # null when no checkpoint is known (predictions from elsewhere)
        "untrained": warning is not None if checkpoint else None,
        "warning": warning or "",
    }
    metrics = evaluate_predictions(samples, predictions, args.out, run_info,
                                   workers=args.workers, progress=args.progress,
                                   qualitative_count=args.qualitative)
    overall = metrics["overall"]
    print(f"{run_info['method']} on {args.split} ({overall['n']} samples, instruction "
          f"{args.instruction}): gIoU {overall['giou']:.2f}  cIoU {overall['ciou']:.2f}  "
          f"P@50 {overall['p50']:.2f}  P@50:95 {overall['p50_95']:.2f}")
    if metrics["missing_predictions"]:
        print(f"{len(metrics['missing_predictions'])} predictions missing (scored as empty), "
              "listed in metrics.json", file=sys.stderr)
    print("wrote " + ", ".join(str(args.out / name) for name in REPORT_FILES))
    return 0


def _model_warning(kind: str | None, checkpoint, is_main: bool) -> str | None:
    """The checkpoint's ``untrained_warning`` (from its provenance.json), printed to stderr on rank 0."""
    if checkpoint is None:
        return None
    from instructpart_ros.model.provenance import read_provenance, untrained_warning

    warning = untrained_warning(kind, checkpoint, read_provenance(checkpoint))
    if warning and is_main:
        print(f"instructpart eval: WARNING: {warning}", file=sys.stderr)
    return warning


def _run_model(args: argparse.Namespace, samples, predictions: pathlib.Path) -> None:
    """Write the missing predictions with the model; with torchrun, each rank its share."""
    import torch

    from .distributed import join_process_group
    from .prediction import check_run_config, pending_samples, predict_samples, write_run_config

    device = args.device if args.device != "auto" else (
        "cuda" if torch.cuda.is_available() else "cpu")
    dtype = args.dtype if args.dtype != "auto" else (
        "bfloat16" if device == "cuda" else "float32")
    config = {
        "kind": args.kind, "checkpoint": str(args.checkpoint.resolve()),
        "vision_tower": str(args.vision_tower.resolve()) if args.vision_tower else None,
        "dinov2": str(args.dinov2.resolve()) if args.dinov2 else None,
        "instruction": args.instruction, "mode": args.mode, "dtype": dtype,
    }
    check_run_config(predictions, config)
    group = join_process_group(device)
    try:
        predictions.mkdir(parents=True, exist_ok=True)
        if group.is_main:
            write_run_config(predictions, config)
        shard = group.shard(samples)
        if pending_samples(shard, predictions):
            from instructpart_ros.model import load_segmenter

            segmenter = load_segmenter(kind=args.kind, checkpoint=args.checkpoint,
                                       vision_tower=args.vision_tower, dinov2=args.dinov2,
                                       device=device, dtype=dtype)
            # Under torchrun only rank 0 draws a bar on its own, so bars do not interleave.
            progress = args.progress if args.progress is not None or group.is_main else False
            stats = predict_samples(segmenter, shard, predictions, args.instruction,
                                    mode=args.mode, rank=group.rank, progress=progress)
            print(f"rank {group.rank}: wrote {stats.written} predictions, "
                  f"{stats.skipped} were already there", file=sys.stderr)
        group.barrier()
    finally:
        group.close()
