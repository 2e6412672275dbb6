"""Training data: InstructPart-layout splits read through the evaluation reader, drawn
deterministically so that any number of processes, accumulation steps and restarts see
exactly the same samples.

Epoch ``e`` visits the samples in a permutation seeded by (seed, e). Optimiser step ``s``
takes the global batch ``perm[s*G:(s+1)*G]`` with ``G = micro_batch * grad_accum *
world_size``; micro-batch ``k`` of rank ``r`` is its slice ``[(k*W + r)*m, (k*W + r + 1)*m)``.
Everything random about one item (instruction variant, question and answer template,
augmentation) is seeded by (seed, epoch, position), never by a worker's RNG, so a resumed
run or another process layout draws the same items.
"""
from __future__ import annotations

import ctypes
import functools
import logging
import os
import pathlib
import random
import signal
import sys
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from instructpart_ros.evaluation.dataset import DatasetError, InstructPartSample, load_split, read_rgb
from instructpart_ros.evaluation.progress import progress_bar
from instructpart_ros.evaluation.scoring import read_binary_mask
from instructpart_ros.model.clip_preprocessing import clip_pixels
from instructpart_ros.model.prompt import PromptIds

from .conversation import build_conversation
from .recipe import DataRecipe

LOG = logging.getLogger(__name__)


def item_rng(seed: int, epoch: int, position: int) -> random.Random:
    """The RNG of one item, the same in any process and after any restart."""
    return random.Random(f"instructpart-train:{seed}:{epoch}:{position}")


def epoch_order(num_samples: int, seed: int, epoch: int) -> list[int]:
    """The order in which epoch ``epoch`` visits the samples."""
    order = list(range(num_samples))
    random.Random(f"instructpart-epoch:{seed}:{epoch}").shuffle(order)
    return order


def released_subset(root: pathlib.Path, count: int) -> str | None:
    """The released split of ``count`` training samples (InstructPart ships ``train/train{200,600,1200,1800}``,
    each holding the one before), when ``root`` has it."""
    name = f"train{count}"
    return name if (root / "train" / name / "data_train.json").is_file() else None


def nested_subset(samples: list[InstructPartSample], count: int, seed: int) -> list[InstructPartSample]:
    """The first ``count`` samples of one fixed seeded order: smaller subsets lie inside larger ones,
    as the paper's data-size ablation (appendix D) grows one pool 200 -> 600 -> 1200 -> 1800."""
    if count > len(samples):
        raise DatasetError(f"--train-samples {count} but the split has only {len(samples)} samples: "
                           f"use at most {len(samples)}")
    order = sorted(range(len(samples)), key=lambda i: random.Random(f"subset:{seed}:{samples[i].id}").random())
    return [samples[i] for i in sorted(order[:count])]


def check_samples(samples: list[InstructPartSample], progress: bool | None = None) -> tuple[list, list[str]]:
    """Samples whose mask is readable, non-empty and its image's size, and the ids of those
    whose image cannot be opened (skipped, and counted by the caller).

    A missing or bad mask is an error naming the file: training on it would teach noise.
    """
    kept, corrupt = [], []
    with progress_bar(len(samples), "checking data", "sample", progress) as bar:
        for sample in samples:
            size = _image_size(sample)
            if size is None:
                corrupt.append(sample.id)
                LOG.warning("skipping sample %s: its image %s cannot be opened", sample.id, sample.image_path)
            else:
                _check_mask(sample, size)
                kept.append(sample)
            bar.update()
    return kept, corrupt


def _image_size(sample: InstructPartSample) -> tuple[int, int] | None:
    if not sample.image_path.is_file():
        raise DatasetError(f"sample {sample.id}: image {sample.image_path} does not exist")
    try:
        with Image.open(sample.image_path) as image:
            return image.size
    except (OSError, SyntaxError):
        return None


def _check_mask(sample: InstructPartSample, image_size: tuple[int, int]) -> None:
    if not sample.mask_path.is_file():
        raise DatasetError(f"sample {sample.id}: mask {sample.mask_path} does not exist")
    try:
        mask = read_binary_mask(sample.mask_path)
    except Exception as error:  # cv2/PIL decode errors
        raise DatasetError(f"sample {sample.id}: mask {sample.mask_path} cannot be read ({error})") from error
    if not mask.any():
        raise DatasetError(f"sample {sample.id}: mask {sample.mask_path} is empty (no non-zero pixel): "
                           "fix the annotation or remove the entry from the split's JSON")
    width, height = image_size
    if mask.shape != (height, width):
        raise DatasetError(f"sample {sample.id}: mask {sample.mask_path} is {mask.shape[1]}x{mask.shape[0]} "
                           f"but image {sample.image_path} is {width}x{height}")


def load_training_samples(root: str | pathlib.Path, recipe: DataRecipe, seed: int,
                          progress: bool | None = None) -> tuple[list[InstructPartSample], str, list[str]]:
    """The training samples (checked), how they were chosen, and the ids skipped for corrupt images.

    ``train_samples`` picks the released ``trainN`` split when the dataset has it, else a
    nested subset of ``split``.
    """
    root = pathlib.Path(root)
    count = recipe.train_samples
    released = released_subset(root, count) if count is not None else None
    split = released or recipe.split
    samples = load_split(root, split, check_files=False)
    how = f"the released {released} split" if released else f"all {len(samples)} samples of {split}"
    if count is not None and not released:
        samples = nested_subset(samples, count, seed)
        how = f"{count} of the {split} split (nested subsets, seed {seed})"
    samples, corrupt = check_samples(samples, progress)
    if not samples:
        raise DatasetError(f"split {split!r} under {root} has no usable samples")
    return samples, how, corrupt


@dataclass
class TrainingItem:
    """One sample ready for the model (CPU side)."""

    id: str
    variant: str
    rgb: np.ndarray
    mask: np.ndarray
    clip_pixels: torch.Tensor
    prompt: PromptIds
    answer_ids: list[int]
    skipped: list[str] = field(default_factory=list)


@dataclass
class TrainingBatch:
    """A micro-batch: lists per sample, CLIP pixels stacked."""

    ids: list[str]
    variants: list[str]
    rgbs: list[np.ndarray]
    masks: list[np.ndarray]
    clip_pixels: torch.Tensor
    prompts: list[PromptIds]
    answers: list[list[int]]
    skipped: list[str]

    def __len__(self) -> int:
        return len(self.ids)


def collate(items: list[TrainingItem]) -> TrainingBatch:
    return TrainingBatch(
        ids=[i.id for i in items], variants=[i.variant for i in items], rgbs=[i.rgb for i in items],
        masks=[i.mask for i in items], clip_pixels=torch.cat([i.clip_pixels for i in items]),
        prompts=[i.prompt for i in items], answers=[i.answer_ids for i in items],
        skipped=[s for i in items for s in i.skipped],
    )


def augment(rgb: np.ndarray, mask: np.ndarray, rng: random.Random, hflip: float,
            color_jitter: float) -> tuple[np.ndarray, np.ndarray]:
    """Mask-preserving augmentation: a horizontal flip of both, brightness/contrast on the image."""
    if hflip and rng.random() < hflip:
        rgb, mask = rgb[:, ::-1], mask[:, ::-1]
    if color_jitter:
        brightness = 1.0 + rng.uniform(-color_jitter, color_jitter)
        contrast = 1.0 + rng.uniform(-color_jitter, color_jitter)
        mean = rgb.mean()
        rgb = np.clip((rgb.astype(np.float32) - mean) * contrast + mean * brightness, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(rgb), np.ascontiguousarray(mask)


class InstructPartTrainingSet(torch.utils.data.Dataset):
    """Items keyed by (epoch, position); see the module docstring for the order."""

    def __init__(self, samples: list[InstructPartSample], recipe: DataRecipe, seed: int, tokenizer,
                 clip_processor, use_im_start_end: bool):
        self.samples = samples
        self.recipe = recipe
        self.seed = seed
        self.tokenizer = tokenizer
        self.clip_processor = clip_processor
        self.use_im_start_end = use_im_start_end
        self._orders: dict[int, list[int]] = {}

    def __len__(self) -> int:
        return len(self.samples)

    def order(self, epoch: int) -> list[int]:
        if epoch not in self._orders:
            self._orders = {epoch: epoch_order(len(self.samples), self.seed, epoch)}
        return self._orders[epoch]

    def __getitem__(self, key: tuple[int, int]) -> TrainingItem:
        epoch, position = key
        rng = item_rng(self.seed, epoch, position)
        index = self.order(epoch)[position % len(self.samples)]
        skipped = []
        # A corrupt image is skipped (counted, named) and the next sample takes its place,
        # so batch sizes, and with them the data position, stay the same.
        for attempt in range(len(self.samples)):
            sample = self.samples[(index + attempt) % len(self.samples)]
            try:
                rgb = read_rgb(sample)
                break
            except (OSError, ValueError, SyntaxError) as error:
                LOG.warning("skipping sample %s: image %s cannot be decoded (%s)", sample.id, sample.image_path, error)
                skipped.append(sample.id)
        else:
            raise DatasetError("no image of the training split can be decoded")
        mask = read_binary_mask(sample.mask_path)
        variant = rng.choice(self.recipe.instructions)
        conversation = build_conversation(self.tokenizer, sample.instruction(variant), variant,
                                          self.recipe.question_style, rng, self.use_im_start_end)
        rgb, mask = augment(rgb, mask, rng, self.recipe.hflip, self.recipe.color_jitter)
        pixels = clip_pixels(rgb, self.clip_processor, torch.device("cpu"))
        return TrainingItem(sample.id, variant, rgb, mask, pixels, conversation.prompt, conversation.answer_ids,
                            skipped)


@dataclass(frozen=True)
class BatchLayout:
    """How a global batch is split: micro-batch size, accumulation steps, processes."""

    micro_batch: int
    grad_accum: int
    world_size: int = 1
    rank: int = 0

    @property
    def global_batch(self) -> int:
        return self.micro_batch * self.grad_accum * self.world_size

    def steps_per_epoch(self, num_samples: int) -> int:
        steps = num_samples // self.global_batch
        if steps == 0:
            raise DatasetError(
                f"the split has {num_samples} samples, fewer than one global batch of {self.global_batch} "
                f"(micro_batch {self.micro_batch} x grad_accum {self.grad_accum} x {self.world_size} processes): "
                "lower run.micro_batch or run.grad_accum")
        return steps

    def micro_batch_keys(self, epoch: int, step: int, micro: int) -> list[tuple[int, int]]:
        """(epoch, position) keys of this rank's micro-batch ``micro`` of optimiser step ``step``."""
        start = step * self.global_batch + (micro * self.world_size + self.rank) * self.micro_batch
        return [(epoch, start + i) for i in range(self.micro_batch)]


class StepBatches(torch.utils.data.Sampler):
    """Micro-batch keys for this rank from (``epoch``, ``step``) on, ``grad_accum`` per step."""

    def __init__(self, layout: BatchLayout, steps_per_epoch: int, total_steps: int, start_step: int):
        self.layout = layout
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = total_steps
        self.start_step = start_step

    def __len__(self) -> int:
        return (self.total_steps - self.start_step) * self.layout.grad_accum

    def __iter__(self):
        for global_step in range(self.start_step, self.total_steps):
            epoch, step = divmod(global_step, self.steps_per_epoch)
            for micro in range(self.layout.grad_accum):
                yield self.layout.micro_batch_keys(epoch, step, micro)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_trainer(trainer_pid: int, worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: a worker is SIGKILLed when its trainer dies, however it dies.

    A trainer killed with ``kill -9`` leaves its workers behind otherwise: torch's worker
    notices the orphaning, but on exit joins its queue's feeder thread, which blocks for ever
    on the pipe full of prefetched batches (the worker holds the pipe's read end too), so
    the orphan sleeps on holding its memory. Linux only; elsewhere a no-op.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        LOG.warning("worker %d: prctl(PR_SET_PDEATHSIG) failed (errno %d): it may outlive a killed trainer",
                    worker_id, ctypes.get_errno())
    if os.getppid() != trainer_pid:  # the trainer died before the line above took effect
        os._exit(1)


def training_loader(dataset: InstructPartTrainingSet, layout: BatchLayout, steps_per_epoch: int,
                    total_steps: int, start_step: int, num_workers: int) -> torch.utils.data.DataLoader:
    """A DataLoader yielding this rank's micro-batches in step order, from ``start_step`` on."""
    sampler = StepBatches(layout, steps_per_epoch, total_steps, start_step)
    return torch.utils.data.DataLoader(
        dataset, batch_sampler=sampler, collate_fn=collate, num_workers=num_workers,
        persistent_workers=False, prefetch_factor=2 if num_workers else None,
        worker_init_fn=functools.partial(die_with_trainer, os.getpid()) if num_workers else None)
