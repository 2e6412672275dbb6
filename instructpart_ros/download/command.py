"""``instructpart download``: the public weights and InstructPart, on a machine with internet.

    instructpart download lisa-7b-v1 clip-vit-large-patch14 dinov2-large instructpart --to /data/weights
    instructpart download all --to /data/weights
    instructpart download lisa-7b-v1 --to /data/weights --dry-run      # what, how big; fetch nothing

Each name lands in its own folder of DIR (LISA-7B-v1/, clip-vit-large-patch14/,
dinov2-large/, InstructPart/) at a pinned hub commit, with only the files this package
reads. Free space is checked first. Running it again fetches only what is missing; a
finished folder (its instructpart_download.json) is recognised without any network.
Copy DIR to the robot or training machine; the command ends by printing the
`instructpart eval`, `instructpart train` and launch lines that use these folders.
HF_ENDPOINT selects a mirror; HF_TOKEN (or `hf auth login`) is used when set.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import shlex
import signal
import sys
import tempfile
import threading

from .sources import ALL, SOURCES, resolve_names, source_names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``download``'s options on ``parser``."""
    parser.add_argument("names", nargs="+", metavar="NAME",
                        help=f"what to fetch (one or more):\n{source_names()}\n  {ALL:24} all of the above")
    parser.add_argument("--to", required=True, type=pathlib.Path, metavar="DIR",
                        help="folder that receives one sub-folder per NAME (created if needed)")
    parser.add_argument("--revision", metavar="REV",
                        help="a hub commit or branch instead of the pinned commit (with a single NAME)")
    parser.add_argument("--dry-run", action="store_true",
                        help="list the files and sizes that would be fetched, fetch nothing")
    parser.formatter_class = argparse.RawTextHelpFormatter


def prepare_target(to: pathlib.Path) -> pathlib.Path:
    """``to`` created if needed and proven writable (a real write: permission bits can lie)."""
    to = to.expanduser()
    try:
        to.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=to).close()
    except OSError as error:
        raise ValueError(f"--to {to} is not a writable folder ({error.strerror or error}): "
                         "pass --to a folder you can write to, or fix its permissions") from error
    return to.resolve()


def run(args: argparse.Namespace) -> int:
    """Carry out ``instructpart download``; return the exit status."""
    from .hub import (check_disk_space, fetch, human_size, hub_endpoint, offline_error, offline_requested, plan_download,
                      remove_stale_partials)
    from .manifest import complete_download

    sources = resolve_names(args.names)
    if args.revision and len(sources) != 1:
        raise ValueError(f"--revision applies to one NAME, got {len(sources)}: download the others separately")
    target = args.to.expanduser().resolve() if args.dry_run else prepare_target(args.to)
    endpoint = hub_endpoint()
    retry_hint = f"instructpart download {' '.join(s.name for s in sources)} --to DIR"
    plans = []
    for source in sources:
        folder = target / source.folder
        record = complete_download(folder, source.repo_id, args.revision or source.revision)
        if record is not None:
            print(f"{source.name}: already complete in {folder} ({source.repo_id} at {record['revision']}, "
                  f"{human_size(record['total_bytes'])}); nothing to fetch")
            continue
        if offline_requested():
            raise offline_error(source, endpoint, retry_hint, "HF_HUB_OFFLINE is set, so this machine may not "
                                "use the network")
        plans.append(plan_download(source, folder, endpoint, retry_hint, args.revision))
    for plan in plans:
        _describe(plan, bool(args.revision), list_files=args.dry_run)
    if args.dry_run:
        return 0
    for plan in plans:
        remove_stale_partials(plan.folder)  # before the space check: they count as used
    check_disk_space(plans, target)
    with _exit_on_ctrl_c(f"instructpart download: interrupted; the files that finished are kept: run "
                         f"`{retry_hint.replace('DIR', str(target))}` again to fetch the rest"):
        for plan in plans:
            manifest = fetch(plan, endpoint, retry_hint)
            print(f"{plan.source.name}: done, {plan.folder} ({manifest.name} records the commit and file hashes)")
    print("\n".join(["", *usage_lines(target)]))
    return 0


@contextlib.contextmanager
def _exit_on_ctrl_c(message: str):
    """Ctrl-C ends the process at once with ``message`` and status 130.

    A KeyboardInterrupt would first wait for huggingface_hub's download threads to finish
    their files (minutes for a 10 GB shard); finished files are complete on disk either way.
    """
    def leave(signum, frame):
        print(f"\n{message}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(130)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, leave)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _describe(plan, requested: bool, list_files: bool, listed: int = 40) -> None:
    from .hub import human_size

    source = plan.source
    if plan.commit == source.revision:
        pin = "pinned"
    elif requested:
        pin = "--revision"
    else:
        pin = f"NOT PINNED: the head of main now; pin it in {__package__}.sources"
    print(f"{source.name}: {source.repo_id} at {plan.commit} ({pin}): {len(plan.files)} files, "
          f"{human_size(plan.total_bytes)}, {human_size(plan.missing_bytes)} to fetch -> {plan.folder}")
    if list_files:
        for file in plan.files[:listed]:
            print(f"    {file.path}  {human_size(file.size)}")
        if len(plan.files) > listed:
            print(f"    ... and {len(plan.files) - listed} more files")


def _complete_roots(target: pathlib.Path) -> dict[str, str]:
    """name -> usable folder of every finished download under ``target``."""
    from .manifest import complete_download

    roots = {}
    for name, source in SOURCES.items():
        folder = target / source.folder
        record = complete_download(folder, source.repo_id, None)
        if record is not None:
            roots[name] = str((folder / record.get("root", ".")).resolve())
    return roots


# (what it does, names it needs, the line with {name} placeholders, how a path is quoted there).
# The train lines follow docs/training.md; runs/pisa/checkpoint is where that run writes its checkpoint.
USAGE = (
    ("score LISA-7B-v1 on the InstructPart test split", ("instructpart", "lisa-7b-v1", "clip-vit-large-patch14"),
     "instructpart eval --dataset {instructpart} --split test --out reports/lisa-7b-v1 --kind lisa "
     "--checkpoint {lisa-7b-v1} --vision-tower {clip-vit-large-patch14}", shlex.quote),
    ("train PISA (LISA-7B-v1 + DINOv2) on InstructPart",
     ("instructpart", "lisa-7b-v1", "clip-vit-large-patch14", "dinov2-large"),
     "instructpart train --config config/pisa_instructpart.yaml --data {instructpart} --out runs/pisa "
     "--lisa {lisa-7b-v1} --vision-tower {clip-vit-large-patch14} --dinov2 {dinov2-large}", shlex.quote),
    ("train the LISA-tuned baseline", ("instructpart", "lisa-7b-v1", "clip-vit-large-patch14"),
     "instructpart train --config config/lisa_instructpart.yaml --data {instructpart} --out runs/lisa "
     "--lisa {lisa-7b-v1} --vision-tower {clip-vit-large-patch14}", shlex.quote),
    ("score the trained PISA", ("instructpart", "clip-vit-large-patch14", "dinov2-large"),
     "instructpart eval --dataset {instructpart} --split test --out reports/pisa --kind pisa "
     "--checkpoint runs/pisa/checkpoint --vision-tower {clip-vit-large-patch14} --dinov2 {dinov2-large}",
     shlex.quote),
    ("the perception node with LISA-7B-v1", ("lisa-7b-v1", "clip-vit-large-patch14"),
     "ros2 launch instructpart_ros perception.launch.py model_kind:=lisa model_checkpoint:={lisa-7b-v1} "
     "model_vision_tower:={clip-vit-large-patch14}", shlex.quote),
    ("the perception node with the trained PISA", ("clip-vit-large-patch14", "dinov2-large"),
     "ros2 launch instructpart_ros perception.launch.py model_kind:=pisa model_checkpoint:=runs/pisa/checkpoint "
     "model_vision_tower:={clip-vit-large-patch14} model_dinov2:={dinov2-large}", shlex.quote),
    ("in Python", ("lisa-7b-v1", "clip-vit-large-patch14"),
     "load_segmenter(kind='lisa', checkpoint={lisa-7b-v1}, vision_tower={clip-vit-large-patch14})", repr),
)


def usage_lines(target: pathlib.Path) -> list[str]:
    """The command lines that use the finished downloads under ``target``, and what is still missing."""
    roots = _complete_roots(target)
    lines = [f"Downloads in {target} (copy this folder to the robot / training machine as it is):"]
    missing = set()
    for what, needs, template, quote in USAGE:
        absent = [name for name in needs if name not in roots]
        missing.update(absent)
        if not absent:
            lines += [f"  # {what}", "  " + template.format_map({name: quote(roots[name]) for name in needs})]
    if missing:
        names = " ".join(name for name in SOURCES if name in missing)
        lines.append(f"  # more commands once these are here too: instructpart download {names} --to {target}")
    return lines
