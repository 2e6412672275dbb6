"""``training_state/``: everything an exact resume needs, written atomically.

Trainable weights and the optimizer go through ``torch.distributed.checkpoint`` (each rank
writes its own shard under FSDP; one process or DDP writes one copy), the scheduler,
data position and history as JSON, and each rank's RNG states as plain tensors. The
state is written to ``training_state.tmp/`` and renamed into place, so a ``kill -9``
mid-write leaves the previous state intact.
"""
from __future__ import annotations

import json
import pathlib
import shutil
import warnings

import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict, set_state_dict

STATE_DIR = "training_state"
PROGRESS_FILE = "progress.json"
WEIGHTS_DIR = "weights_and_optimizer"
_OPTIONS = StateDictOptions(ignore_frozen_params=True)
# Loading only the trainable weights: the frozen ones are not in the state (they come from the base).
_LOAD_OPTIONS = StateDictOptions(ignore_frozen_params=True, strict=False)


def _rng_state() -> dict:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def save_training_state(run_dir: pathlib.Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                        scheduler, progress: dict, rank: int, barrier) -> pathlib.Path:
    """Write the state of step ``progress["step"]``; every rank calls this."""
    final, temporary = run_dir / STATE_DIR, run_dir / f"{STATE_DIR}.tmp"
    if rank == 0:
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir(parents=True)
    barrier()
    model_state, optimizer_state = get_state_dict(model, optimizer, options=_OPTIONS)
    with warnings.catch_warnings():  # one process without a process group is a supported case, not a mistake
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        dcp.save({"model": model_state, "optimizer": optimizer_state}, checkpoint_id=temporary / WEIGHTS_DIR)
    torch.save(_rng_state(), temporary / f"rng_rank{rank}.pt")
    barrier()
    if rank == 0:
        record = dict(progress, scheduler=scheduler.state_dict())
        (temporary / PROGRESS_FILE).write_text(json.dumps(record, indent=2, default=str))
        old = run_dir / f"{STATE_DIR}.old"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            final.rename(old)
        temporary.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    barrier()
    return final


def read_progress(run_dir: pathlib.Path) -> dict | None:
    """The saved progress of ``run_dir`` (None when it has no training state)."""
    path = run_dir / STATE_DIR / PROGRESS_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def load_training_state(run_dir: pathlib.Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                        scheduler, rank: int) -> dict:
    """Restore weights, optimizer, scheduler and this rank's RNG; returns the progress record."""
    directory = run_dir / STATE_DIR
    progress = read_progress(run_dir)
    rng_path = directory / f"rng_rank{rank}.pt"
    if progress is None or not rng_path.is_file():
        raise ValueError(f"{directory} is incomplete (no {PROGRESS_FILE} or {rng_path.name}): "
                         "it was written by a different number of processes, or remove it to start over")
    model_state, optimizer_state = get_state_dict(model, optimizer, options=_OPTIONS)
    state = {"model": model_state, "optimizer": optimizer_state}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        dcp.load(state, checkpoint_id=directory / WEIGHTS_DIR)
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"],
                   options=_LOAD_OPTIONS)
    scheduler.load_state_dict(progress.pop("scheduler"))
    _set_rng_state(torch.load(rng_path, weights_only=True))
    return progress
