"""``instructpart synth``: write a synthetic RGB-D part-segmentation split.

    instructpart synth --out data/synth --split train --n 2000 --seed 0
    instructpart synth --out data/synth --split test --n 200 --seed 1

Each scene is one object (knife, mug, kettle, screwdriver, spoon) on a textured table,
seen from above; each of its parts is one sample with six instructions. ``--out`` is
then a dataset root for ``instructpart eval --dataset`` and ``instructpart train --data``.
Use different seeds for different splits: a seed fixes every scene.
"""
from __future__ import annotations

import argparse
import pathlib

from .synthetic_objects import OBJECT_NAMES
from .synthetic_split import JPEG_QUALITY, SPLITS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``synth``'s options on ``parser``."""
    parser.add_argument("--out", required=True, type=pathlib.Path, metavar="DIR",
                        help="dataset root: the split goes into DIR/<split>/")
    parser.add_argument("--split", required=True, choices=SPLITS, help="which split to write")
    parser.add_argument("--n", required=True, type=int, metavar="N",
                        help="number of scenes (images); each gives one sample per part")
    parser.add_argument("--seed", required=True, type=int, metavar="S",
                        help="fixes every scene; use a different seed for each split")
    parser.add_argument("--width", type=int, default=320, help="image width (default: 320)")
    parser.add_argument("--height", type=int, default=240,
                        help="image height (default: 240; the short side must be >= 224)")
    parser.add_argument("--objects", default=",".join(OBJECT_NAMES), metavar="LIST",
                        help=f"comma-separated objects to draw (default: {','.join(OBJECT_NAMES)})")
    parser.add_argument("--jpeg-quality", type=int, default=JPEG_QUALITY, metavar="Q",
                        help=f"JPEG quality of the images (default: {JPEG_QUALITY})")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="rendering processes (default: all usable CPU cores); "
                             "the files do not depend on it")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace DIR/<split> if an earlier instructpart synth wrote it")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar (default: only on a terminal)")


def run(args: argparse.Namespace) -> int:
    """Carry out ``instructpart synth``; return the exit status."""
    from .synthetic_scenes import SceneConfig
    from .synthetic_split import write_split

    objects = tuple(name.strip() for name in args.objects.split(",") if name.strip())
    config = SceneConfig(width=args.width, height=args.height, objects=objects)
    summary = write_split(args.out, args.split, args.n, args.seed, config,
                          overwrite=args.overwrite, jpeg_quality=args.jpeg_quality,
                          workers=args.workers, progress=args.progress)
    print(f"wrote {summary.scenes} scenes ({summary.samples} samples) to {summary.folder} "
          f"in {summary.seconds:.1f} s: images/, masks/, depth/, camera_info.yaml, "
          f"data_{args.split}.json")
    return 0
