"""The model a recipe starts from, loaded for training (``model.init``)."""
from __future__ import annotations

import logging
import pathlib

import torch

from instructpart_ros.evaluation.dataset import InstructPartSample
from instructpart_ros.model.lisa_checkpoint import load_lisa
from instructpart_ros.model.module_loading import resolve_device
from instructpart_ros.model.part_model import LoadedModel
from instructpart_ros.model.pisa_checkpoint import load_pisa, pisa_from_lisa
from instructpart_ros.model.dinov2_image_encoder import DinoFusionConfig
from instructpart_ros.model.tiny import tiny_sizes, write_tiny_checkpoints

from .conversation import ANSWERS, PART_NAME_QUESTIONS, SENTENCE_QUESTIONS
from .recipe import ModelRecipe, Recipe

LOG = logging.getLogger(__name__)
TINY_BASE = "base"
TINY_DONE = ".complete"


def training_device(recipe: Recipe) -> torch.device:
    if recipe.run.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return resolve_device(recipe.run.device)


def weight_dtype(recipe: Recipe, device: torch.device) -> torch.dtype:
    """Frozen weights: bfloat16 under bf16 autocast on CUDA, else float32 (trainables are always float32)."""
    precision = recipe.run.precision
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    if precision == "bf16" and device.type != "cuda":
        raise ValueError("run.precision=bf16 needs a CUDA device: use fp32 (or auto) on CPU")
    return torch.bfloat16 if precision == "bf16" else torch.float32


def tokenizer_corpus(samples: list[InstructPartSample]) -> list[str]:
    """Text a from-scratch tokenizer learns its pieces from: the split's instructions and LISA's templates."""
    texts = [text for sample in samples for text in sample.instructions.values()]
    templates = [t.format(sent="", class_name="") for t in SENTENCE_QUESTIONS + PART_NAME_QUESTIONS]
    return sorted(set(texts)) + templates + list(ANSWERS)


def write_tiny_base(run_dir: pathlib.Path, model: ModelRecipe, samples: list[InstructPartSample],
                    seed: int) -> dict[str, str]:
    """The from-scratch tiny PISA of ``model.tiny`` under ``run_dir/base`` (reused when already there)."""
    base = run_dir / TINY_BASE
    paths = {"checkpoint": str(base / "pisa-tiny"), "vision_tower": str(base / "clip-vit-tiny"),
             "dinov2": str(base / "dinov2-tiny")}
    if (base / TINY_DONE).is_file():
        return paths
    written = write_tiny_checkpoints(base, kind="pisa", seed=seed, sizes=tiny_sizes(model.tiny),
                                     corpus=tokenizer_corpus(samples))
    (base / TINY_DONE).write_text("written by instructpart train\n")
    assert written == paths
    return paths


def load_starting_model(recipe: Recipe, run_dir: pathlib.Path, samples: list[InstructPartSample],
                        device: torch.device, dtype: torch.dtype, is_main: bool, barrier) -> LoadedModel:
    """Load where training starts, on ``device``; the tiny base is written by the main process only."""
    model = recipe.model
    if model.init == "tiny":
        if is_main:
            write_tiny_base(run_dir, model, samples, recipe.run.seed)
        barrier()
        paths = write_tiny_base(run_dir, model, samples, recipe.run.seed)
        return load_pisa(paths["checkpoint"], paths["vision_tower"], paths["dinov2"], device, dtype)
    if model.init == "pisa_from_lisa":
        _require(model, "lisa", "--lisa LISA_DIR (LISA-7B-v1)")
        _require(model, "dinov2", "--dinov2 DINOV2_DIR (dinov2-large)")
        fusion = DinoFusionConfig(**model.fusion) if model.fusion else None
        return pisa_from_lisa(model.lisa, model.dinov2, model.vision_tower, fusion, device, dtype, recipe.run.seed)
    if model.init == "pisa":
        _require(model, "checkpoint", "--checkpoint PISA_DIR")
        return load_pisa(model.checkpoint, model.vision_tower, model.dinov2, device, dtype)
    _require(model, "lisa", "--lisa LISA_DIR (LISA-7B-v1)")
    return load_lisa(model.lisa, model.vision_tower, device, dtype)


def _require(model: ModelRecipe, name: str, flag: str) -> None:
    if not getattr(model, name):
        raise ValueError(f"model.init={model.init} needs model.{name}: pass {flag} or set it in the recipe")
