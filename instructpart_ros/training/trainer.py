"""The training run: model, data, optimiser, scale-out, checkpoints, validation, logs.

``train(recipe, data_root, run_dir)`` is what ``instructpart train`` calls. Under
``torchrun`` every process runs it; the model is wrapped in DDP (default) or FSDP
(``fully_shard``), each rank reads its own slice of every global batch (see ``data``),
and the main process writes logs, checkpoints and figures.

``run_dir`` gets ``checkpoint/`` (the best model by validation gIoU, loadable as it is,
with ``provenance.json``), ``training_state/`` (exact resume), ``tensorboard/``,
``log.jsonl``, ``validation.jsonl``, ``recipe.yaml`` and ``training_curves.png``.
"""
from __future__ import annotations

import contextlib
import datetime
import json
import logging
import math
import pathlib
import platform
import shutil
import time
from dataclasses import dataclass

import torch
import yaml

from instructpart_ros import __version__
from instructpart_ros.evaluation.dataset import load_split
from instructpart_ros.evaluation.distributed import ProcessGroup, join_process_group
from instructpart_ros.evaluation.progress import progress_bar

from . import distributed as scale
from .curves import plot_training_curves
from .data import BatchLayout, InstructPartTrainingSet, collate, load_training_samples, training_loader
from .export import export_checkpoint, write_towers
from .hashing import weight_hashes
from .model_setup import TINY_BASE, load_starting_model, training_device, weight_dtype
from .recipe import Recipe, recipe_from_dict
from .state import STATE_DIR, load_training_state, read_progress, save_training_state
from .step import SegmentationTraining
from .trainable import configure_trainable, count_parameters, float32_trainables, freeze_unreached
from .validation import validate

LOG = logging.getLogger(__name__)
CHECKPOINT_DIR = "checkpoint"
RECIPE_FILE = "recipe.yaml"
LOG_FILE = "log.jsonl"
VALIDATION_FILE = "validation.jsonl"
CURVES_FILE = "training_curves.png"


@dataclass
class TrainingResult:
    """What a finished run reports."""

    checkpoint: pathlib.Path
    steps: int
    best_validation: dict | None
    last_validation: dict | None
    skipped_images: list[str]
    seconds: float


def linear_warmup_decay(warmup: int, total: int):
    """LISA's schedule (DeepSpeed WarmupDecayLR, linear): 0 -> lr over ``warmup`` steps, then -> 0 at ``total``."""
    def factor(step: int) -> float:
        if warmup and step < warmup:
            return step / warmup
        return max(0.0, (total - step) / max(1, total - warmup))
    return factor


RUN_FILES = (STATE_DIR, CHECKPOINT_DIR, "tensorboard", LOG_FILE, VALIDATION_FILE, CURVES_FILE, RECIPE_FILE,
             "vision_tower", "dinov2", TINY_BASE)


def check_run_dir(run_dir: pathlib.Path, recipe: Recipe, overwrite: bool) -> dict | None:
    """What is already in ``run_dir``: None to start afresh, or the progress record to resume from.

    A finished run, or a folder that is not a training run, is refused unless ``overwrite``
    (then the previous run's files are removed); a run of another recipe is refused.
    """
    progress = read_progress(run_dir)
    finished = progress.get("finished") if progress else (run_dir / CHECKPOINT_DIR).is_dir()
    foreign = progress is None and run_dir.is_dir() and any(run_dir.iterdir()) \
        and not (run_dir / RECIPE_FILE).is_file()
    if finished or foreign:
        if not overwrite:
            what = f"a finished training run ({run_dir / CHECKPOINT_DIR})" if finished else "files of something else"
            raise ValueError(f"{run_dir} holds {what}: pass another --out, or --overwrite to replace it")
        return None
    if progress is None:
        return None
    saved = recipe_from_dict(progress["recipe"], f"{run_dir / STATE_DIR}")
    if saved.fingerprint() != recipe.fingerprint():
        differences = _differences(saved.to_dict(), recipe.to_dict())
        raise ValueError(f"{run_dir} holds an unfinished run of another recipe ({'; '.join(differences[:8])}): "
                         "resume it with the same recipe and options, or pass another --out")
    return progress


def clear_run_dir(run_dir: pathlib.Path) -> None:
    """Remove a previous run's files (``--overwrite``)."""
    for name in RUN_FILES:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    found = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found += _differences(a, b, f"{prefix}{key}.")
        elif a != b and key not in ("time_limit_minutes", "save_every", "log_every", "device", "num_workers"):
            found.append(f"{prefix}{key}: {a!r} in the run, {b!r} now")
    return found


class RunLog:
    """``log.jsonl`` / ``validation.jsonl`` (append-only, cut back to the resumed step) and TensorBoard."""

    def __init__(self, run_dir: pathlib.Path, start_step: int, enabled: bool):
        self.enabled = enabled
        self.run_dir = run_dir
        self.entries = self._read(LOG_FILE, start_step)
        self.validations = self._read(VALIDATION_FILE, start_step)
        self.writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run_dir / "tensorboard"), purge_step=start_step + 1 if start_step else None)

    def _read(self, name: str, start_step: int) -> list[dict]:
        path = self.run_dir / name
        if not self.enabled or not path.is_file():
            return []
        kept = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        kept = [entry for entry in kept if entry["step"] <= start_step]
        path.write_text("".join(json.dumps(entry) + "\n" for entry in kept))
        return kept

    def _append(self, name: str, entry: dict) -> None:
        with (self.run_dir / name).open("a") as file:
            file.write(json.dumps(entry) + "\n")

    def step(self, entry: dict) -> None:
        if not self.enabled:
            return
        self.entries.append(entry)
        self._append(LOG_FILE, entry)
        for key, value in entry.items():
            if key != "step":
                self.writer.add_scalar(f"train/{key}", value, entry["step"])

    def validation(self, entry: dict) -> None:
        if not self.enabled:
            return
        self.validations.append(entry)
        self._append(VALIDATION_FILE, entry)
        for key in ("giou", "ciou", "p50", "p50_95"):
            self.writer.add_scalar(f"val/{key}", entry[key], entry["step"])
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def train(recipe: Recipe, data_root: str | pathlib.Path, run_dir: str | pathlib.Path, *, overwrite: bool = False,
          progress: bool | None = None) -> TrainingResult:
    """Train ``recipe`` on the dataset at ``data_root``; write everything into ``run_dir``."""
    device = training_device(recipe)
    group = join_process_group(device.type)
    try:
        return Trainer(recipe, pathlib.Path(data_root), pathlib.Path(run_dir), device, group, overwrite,
                       progress).run()
    finally:
        group.close()


class Trainer:
    """One process's share of a training run (see :func:`train`)."""

    def __init__(self, recipe: Recipe, data_root: pathlib.Path, run_dir: pathlib.Path, device: torch.device,
                 group: ProcessGroup, overwrite: bool, progress: bool | None):
        self.started = time.monotonic()
        self.recipe, self.data_root, self.run_dir, self.device, self.group = recipe, data_root, run_dir, device, group
        self.is_main = group.is_main
        self.progress = progress if self.is_main else False
        self.resume = check_run_dir(run_dir, recipe, overwrite)
        group.barrier()
        if self.is_main:
            if self.resume is None and run_dir.is_dir():
                clear_run_dir(run_dir)
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / RECIPE_FILE).write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))
        torch.manual_seed(recipe.run.seed + group.rank)
        self.samples, self.selection, corrupt = load_training_samples(data_root, recipe.data, recipe.run.seed,
                                                                      self.progress)
        self.val_samples = []
        if recipe.data.val_split:
            self.val_samples = load_split(data_root, recipe.data.val_split)[: recipe.data.val_samples]
        self.dtype = weight_dtype(recipe, device)
        self.loaded = load_starting_model(recipe, run_dir, self.samples, device, self.dtype, self.is_main,
                                          group.barrier)
        self.hashes = weight_hashes(self.loaded) if self.is_main else {}
        self.model = self.loaded.model
        configure_trainable(self.model, recipe.trainable)
        self.layout = BatchLayout(recipe.run.micro_batch, recipe.run.grad_accum, group.world_size, group.rank)
        self.steps_per_epoch = self.layout.steps_per_epoch(len(self.samples))
        self.total_steps = recipe.run.max_steps or recipe.run.epochs * self.steps_per_epoch
        self.dataset = InstructPartTrainingSet(self.samples, recipe.data, recipe.run.seed, self.loaded.tokenizer,
                                               self.loaded.clip_processor, self.loaded.use_im_start_end)
        self.training = SegmentationTraining(self.model, recipe.loss).train()
        _freeze_what_the_loss_misses(self.training, self.dataset, self.layout)
        float32_trainables(self.model)
        if recipe.run.gradient_checkpointing:
            self.model.mllm.language_model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False})
        self.wrapped = scale.wrap(self.training, recipe.run.strategy, group, device)
        self.trainable = [p for p in self.wrapped.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.trainable, lr=recipe.optim.lr, betas=tuple(recipe.optim.betas),
                                           weight_decay=recipe.optim.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, linear_warmup_decay(recipe.optim.warmup_steps, self.total_steps))
        self.state = {"step": 0, "best": None, "last_validation": None, "skipped": corrupt, "seconds": 0.0}
        if self.resume is not None:
            self.state.update(load_training_state(run_dir, self.wrapped, self.optimizer, self.scheduler, group.rank))
            self._say(f"resuming {run_dir} at step {self.state['step']} of {self.total_steps}")
        self.seconds_before = self.state["seconds"]
        if self.is_main:
            LOG.info("%s; %d samples (%s); %d steps of %d samples", count_parameters(self.model), len(self.samples),
                     self.selection, self.total_steps, self.layout.global_batch)

    def _say(self, text: str) -> None:
        if self.is_main:
            print(f"[train] {text}", flush=True)

    def elapsed(self) -> float:
        return self.seconds_before + time.monotonic() - self.started

    def run(self) -> TrainingResult:
        recipe, state = self.recipe, self.state
        log = RunLog(self.run_dir, state["step"], self.is_main)
        autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if self.dtype == torch.bfloat16
                    else contextlib.nullcontext())
        loader = training_loader(self.dataset, self.layout, self.steps_per_epoch, self.total_steps, state["step"],
                                 recipe.data.num_workers)
        val_every = recipe.run.val_every or self.steps_per_epoch
        limit = recipe.run.time_limit_minutes
        deadline = self.started + 60 * limit if limit else math.inf
        bar = progress_bar(self.total_steps, "training", "step", self.progress, initial=state["step"])
        sums, window_start, micro = {}, time.monotonic(), 0
        try:
            for batch in loader:
                sync = micro == recipe.run.grad_accum - 1
                with scale.gradient_sync(self.wrapped, sync):
                    with autocast:
                        losses = self.wrapped(batch)
                    (losses["total"] / recipe.run.grad_accum).backward()
                for key, value in losses.items():
                    sums[key] = sums.get(key, 0.0) + float(value.detach())
                state["skipped"] += batch.skipped
                micro += 1
                if not sync:
                    continue
                micro = 0
                self._optimiser_step()
                step = state["step"]
                bar.update()
                if step % recipe.run.log_every == 0 or step == self.total_steps:
                    entry = self._log_entry(step, sums, window_start)
                    log.step(entry)
                    bar.set_postfix(loss=f"{entry['loss/total']:.3f}", samples_s=f"{entry['samples_per_s']:.1f}")
                    sums, window_start = {}, time.monotonic()
                out_of_time = time.monotonic() > deadline
                finished = step >= self.total_steps or out_of_time
                if step % val_every == 0 or finished:
                    self._validate_and_keep_best(log, step)
                if step % recipe.run.save_every == 0 or finished:
                    state["seconds"] = self.elapsed()
                    save_training_state(self.run_dir, self.wrapped, self.optimizer, self.scheduler,
                                        dict(state, recipe=recipe.to_dict(), finished=finished), self.group.rank,
                                        self.group.barrier)
                if out_of_time:
                    self._say(f"time limit of {limit} min reached at step {step}")
                    break
        finally:
            bar.close()
            log.close()
        if self.is_main and log.entries:
            plot_training_curves(log.entries, log.validations, self.run_dir / CURVES_FILE,
                                 f"{recipe.name}: {len(self.samples)} samples, {state['step']} steps")
        self.group.barrier()
        return TrainingResult(self.run_dir / CHECKPOINT_DIR, state["step"], state["best"], state["last_validation"],
                              sorted(set(state["skipped"])), self.elapsed())

    def _optimiser_step(self) -> None:
        torch.nn.utils.clip_grad_norm_(self.trainable, self.recipe.optim.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state["step"] += 1

    def _log_entry(self, step: int, sums: dict, window_start: float) -> dict:
        run = self.recipe.run
        steps = (step - 1) % run.log_every + 1
        means = scale.mean_over_ranks({k: v / (run.grad_accum * steps) for k, v in sums.items()}, self.group)
        elapsed = max(time.monotonic() - window_start, 1e-9)
        entry = {"step": step, "lr": self.scheduler.get_last_lr()[0],
                 "samples_per_s": steps * self.layout.global_batch / elapsed}
        entry.update({f"loss/{key}": value for key, value in means.items()})
        return entry

    def _validate_and_keep_best(self, log: RunLog, step: int) -> None:
        """Validate (every rank); export the model when it is the best so far (or when nothing validates)."""
        recipe, state = self.recipe, self.state
        metrics = None
        if self.val_samples:
            with scale.gathered_for_inference(self.wrapped):
                metrics = validate(self.model, self.loaded, self.val_samples, recipe.data.val_instruction,
                                   self.group.rank, self.group.world_size)
            metrics = dict(metrics, step=step)
            log.validation(metrics)
            state["last_validation"] = metrics
            self._say(f"step {step}: validation gIoU {metrics['giou']:.2f} cIoU {metrics['ciou']:.2f} "
                      f"P@50 {metrics['p50']:.2f} ({metrics['n']} {recipe.data.val_split} samples)")
        if metrics is not None and state["best"] is not None and metrics["giou"] <= state["best"]["giou"]:
            return
        state["best"] = metrics
        full_state = scale.full_state_dict(self.wrapped, self.group)
        if self.is_main:
            self._export(full_state, step, metrics)
        self.group.barrier()

    def _export(self, full_state: dict, step: int, metrics: dict | None) -> None:
        recipe = self.recipe
        provenance = {
            "trained": True,
            "kind": recipe.model.kind,
            "recipe": recipe.name,
            "recipe_values": recipe.to_dict(),
            "base": self.hashes,
            "data": {"root": str(self.data_root.resolve()), "split": recipe.data.split,
                     "samples": len(self.samples), "selection": self.selection,
                     "instructions": recipe.data.instructions,
                     "skipped_images": sorted(set(self.state["skipped"]))},
            "steps": step,
            "planned_steps": self.total_steps,
            "validation": {"split": recipe.data.val_split, "instruction": recipe.data.val_instruction,
                           "mode": "teacher_forced", "metrics": metrics},
            "processes": self.group.world_size,
            "strategy": recipe.run.strategy,
            "seconds": round(self.elapsed(), 1),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "software": {"instructpart_ros": __version__, "torch": torch.__version__,
                         "python": platform.python_version()},
        }
        towers = write_towers(self.loaded, full_state, self.run_dir) if recipe.model.init == "tiny" else None
        temporary, final = self.run_dir / f"{CHECKPOINT_DIR}.tmp", self.run_dir / CHECKPOINT_DIR
        shutil.rmtree(temporary, ignore_errors=True)
        export_checkpoint(self.loaded, full_state, temporary, provenance, recipe.trainable.lora, self.dtype,
                          adapter=recipe.run.export == "adapter", towers=towers)
        shutil.rmtree(final, ignore_errors=True)
        temporary.rename(final)


def _freeze_what_the_loss_misses(training: SegmentationTraining, dataset, layout: BatchLayout) -> None:
    """One forward/backward on this rank's first micro-batch (RNG untouched) to find unreached weights."""
    batch = collate([dataset[key] for key in layout.micro_batch_keys(0, 0, 0)])
    with torch.random.fork_rng(devices=[torch.cuda.current_device()] if torch.cuda.is_available() else []):
        training(batch)["total"].backward()
    freeze_unreached(training)
