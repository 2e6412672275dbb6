"""The ``instructpart`` command-line tool, for work without ROS.

Each sub-command lives in its area's package as a module with ``add_arguments(parser)``
and ``run(args) -> int``, registered in :data:`SUBCOMMANDS`; such a module keeps heavy
imports (torch, models) inside ``run`` so that ``instructpart --help`` stays fast.
Bad input (a ``ValueError``) ends the command with its message and exit status 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help)
SUBCOMMANDS = {
    "eval": ("instructpart_ros.evaluation.command",
             "score InstructPart predictions (or run a model first) and write a report"),
    "train": ("instructpart_ros.training.command",
              "fine-tune PISA (or LISA) with LoRA on an InstructPart-layout dataset, one GPU to many nodes"),
    "download": ("instructpart_ros.download.command",
                 "fetch LISA-7B-v1, CLIP, DINOv2 and InstructPart from the Hugging Face hub (connected machine)"),
    "synth": ("instructpart_ros.datasets.command",
              "write a synthetic RGB-D part-segmentation split in the InstructPart layout"),
    "replay": ("instructpart_ros.ros.replay_command",
               "play InstructPart, a task set or a recording through the live perception node; score it"),
    "grasps": ("instructpart_ros.grasping.command",
               "filter a grasp planner's candidates to the instructed part (instructpart grasps filter ...)"),
}


def build_parser() -> argparse.ArgumentParser:
    """The parser with every registered sub-command."""
    parser = argparse.ArgumentParser(
        prog="instructpart",
        description="InstructPart tools without ROS: evaluation, demos, benchmarks, training.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        command = commands.add_parser(name, help=help_text, description=module.__doc__,
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``instructpart`` with ``argv`` (default: the process's arguments)."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ValueError as error:
        print(f"instructpart {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
