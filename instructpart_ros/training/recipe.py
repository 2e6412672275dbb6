"""Training recipes: one YAML file per recipe in ``config/``, every choice a typed field.

A recipe is a :class:`Recipe` of sections (``model``, ``trainable``, ``data``, ``loss``,
``optim``, ``run``). Defaults are LISA's (dvlab-research/LISA ``train_ds.py``); a YAML
file overrides any of them, and ``--set section.field=value`` on the command line
overrides the file. Unknown names and values of the wrong type are errors naming the
field and the file.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import types
import typing
from dataclasses import dataclass, field

import yaml

from instructpart_ros.evaluation.dataset import INSTRUCTION_NAMES

MODEL_INITS = ("pisa_from_lisa", "pisa", "lisa", "tiny")
PRECISIONS = ("auto", "bf16", "fp32")
STRATEGIES = ("ddp", "fsdp")
QUESTION_STYLES = ("lisa", "inference")


@dataclass
class LoraRecipe:
    """LoRA on the LLM (LISA: r 8, alpha 16, dropout 0.05 on q_proj and v_proj)."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])


@dataclass
class ModelRecipe:
    """Where training starts.

    init: ``pisa_from_lisa`` (LISA-7B-v1's LLM/projector/[SEG] projection/SAM decoder, a frozen
    DINOv2, new fusion layers), ``pisa`` (continue from a PISA checkpoint), ``lisa`` (tune LISA
    itself: the paper's LISA-tuned baseline) or ``tiny`` (a from-scratch tiny PISA, sizes in
    ``tiny``, for CPU tests and demos).
    """

    init: str = "pisa_from_lisa"
    lisa: str | None = None
    checkpoint: str | None = None
    vision_tower: str | None = None
    dinov2: str | None = None
    fusion: dict = field(default_factory=dict)
    tiny: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return "lisa" if self.init == "lisa" else "pisa"


@dataclass
class TrainableRecipe:
    """Which weights train; everything else is frozen (LISA's choice by default)."""

    lora: LoraRecipe | None = field(default_factory=LoraRecipe)
    llm: bool = False  # the whole LLM (a from-scratch tiny model; excludes lora)
    lm_head_embed_tokens: bool = False  # LISA trains them; off by default to keep 7B memory low
    text_hidden_fcs: bool = True
    mask_decoder: bool = True
    image_fusion: bool = True  # PISA's fusion neck and upsampling
    mm_projector: bool = False
    vision_tower: bool = False
    dinov2: bool = False
    sam_image_encoder: bool = False


@dataclass
class DataRecipe:
    """What is read and how each step's samples are drawn."""

    split: str = "train"
    train_samples: int | None = None  # the paper's ablation: 200, 600, 1200, 1800 (nested)
    instructions: list[str] = field(default_factory=lambda: list(INSTRUCTION_NAMES))
    question_style: str = "lisa"  # LISA's question/answer templates, or only the inference prompt
    val_split: str | None = "test"
    val_samples: int | None = None
    val_instruction: str = "human"
    hflip: float = 0.0  # probability of a horizontal flip (image and mask together)
    color_jitter: float = 0.0  # max relative brightness/contrast change
    num_workers: int = 2


@dataclass
class LossRecipe:
    """LISA's loss: token CE x 1.0 + per-pixel BCE x 2.0 + DICE x 0.5 (``iou``: SAM's IoU head, off)."""

    ce: float = 1.0
    bce: float = 2.0
    dice: float = 0.5
    iou: float = 0.0


@dataclass
class OptimRecipe:
    """AdamW with linear warm-up then linear decay to 0, gradient clipping (LISA's values)."""

    lr: float = 3e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    weight_decay: float = 0.0
    warmup_steps: int = 100
    grad_clip: float = 1.0


@dataclass
class RunRecipe:
    """Length, batching, precision, scale-out, checkpoints and validation."""

    epochs: int = 10
    max_steps: int | None = None  # optimiser steps; overrides epochs when set
    micro_batch: int = 2  # samples per process per forward pass
    grad_accum: int = 10  # micro-batches per optimiser step
    precision: str = "auto"  # bf16 autocast on CUDA, fp32 on CPU
    gradient_checkpointing: bool = True
    strategy: str = "ddp"  # ddp, or fsdp (fully_shard) for 7B on smaller GPUs
    seed: int = 0
    device: str = "auto"
    save_every: int = 50  # optimiser steps between training_state saves (exact resume)
    val_every: int = 0  # optimiser steps between validations; 0: at the end of each epoch
    log_every: int = 1
    time_limit_minutes: float | None = None  # stop (and export) after this long
    export: str = "merged"  # merged: LoRA folded into the LLM; adapter: also the LoRA adapter alone


@dataclass
class Recipe:
    """A whole training recipe."""

    name: str = "custom"
    model: ModelRecipe = field(default_factory=ModelRecipe)
    trainable: TrainableRecipe = field(default_factory=TrainableRecipe)
    data: DataRecipe = field(default_factory=DataRecipe)
    loss: LossRecipe = field(default_factory=LossRecipe)
    optim: OptimRecipe = field(default_factory=OptimRecipe)
    run: RunRecipe = field(default_factory=RunRecipe)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def fingerprint(self) -> str:
        """The recipe as canonical JSON, minus what may change when a run is resumed."""
        values = self.to_dict()
        for volatile in ("time_limit_minutes", "save_every", "log_every", "device"):
            values["run"].pop(volatile)
        values["data"].pop("num_workers")
        return json.dumps(values, sort_keys=True)


class RecipeError(ValueError):
    """A recipe file or override that does not fit :class:`Recipe`."""


def _convert(value, annotation, where: str):
    """``value`` checked (and gently converted) against a field's type annotation."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(value, option, where)
            except RecipeError as error:
                errors.append(str(error))
        raise RecipeError(errors[0])
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise RecipeError(f"{where} must be a mapping of {annotation.__name__} fields, got {value!r}")
        return _build(annotation, value, where)
    if origin is list:
        (item,) = typing.get_args(annotation)
        if not isinstance(value, list):
            raise RecipeError(f"{where} must be a list, got {value!r}")
        return [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if annotation is dict:
        if not isinstance(value, dict):
            raise RecipeError(f"{where} must be a mapping, got {value!r}")
        return dict(value)
    if annotation is bool:
        if not isinstance(value, bool):
            raise RecipeError(f"{where} must be true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecipeError(f"{where} must be an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RecipeError(f"{where} must be a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise RecipeError(f"{where} must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported recipe annotation {annotation!r} at {where}")


def _build(cls, values: dict, where: str):
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise RecipeError(f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    converted = {name: _convert(value, hints[name], f"{where}.{name}" if where else name)
                 for name, value in values.items()}
    return cls(**converted)


def _check(recipe: Recipe, where: str) -> Recipe:
    choices = (("model.init", recipe.model.init, MODEL_INITS), ("run.precision", recipe.run.precision, PRECISIONS),
               ("run.strategy", recipe.run.strategy, STRATEGIES), ("run.export", recipe.run.export, ("merged", "adapter")),
               ("data.question_style", recipe.data.question_style, QUESTION_STYLES),
               ("data.val_instruction", recipe.data.val_instruction, INSTRUCTION_NAMES))
    for name, value, allowed in choices:
        if value not in allowed:
            raise RecipeError(f"{where}: {name}={value!r} is not one of {', '.join(allowed)}")
    unknown = [name for name in recipe.data.instructions if name not in INSTRUCTION_NAMES]
    if unknown or not recipe.data.instructions:
        raise RecipeError(f"{where}: data.instructions must name some of {', '.join(INSTRUCTION_NAMES)}, "
                          f"got {recipe.data.instructions}")
    positive = (("run.epochs", recipe.run.epochs), ("run.micro_batch", recipe.run.micro_batch),
                ("run.grad_accum", recipe.run.grad_accum), ("run.save_every", recipe.run.save_every),
                ("run.log_every", recipe.run.log_every))
    for name, value in positive:
        if value < 1:
            raise RecipeError(f"{where}: {name} must be at least 1, got {value}")
    for name, value in (("run.max_steps", recipe.run.max_steps), ("data.train_samples", recipe.data.train_samples),
                        ("data.val_samples", recipe.data.val_samples)):
        if value is not None and value < 1:
            raise RecipeError(f"{where}: {name} must be at least 1 (or null), got {value}")
    if recipe.trainable.llm and recipe.trainable.lora is not None:
        raise RecipeError(f"{where}: trainable.llm trains the whole LLM; set trainable.lora to null with it")
    if not 0.0 <= recipe.data.hflip <= 1.0:
        raise RecipeError(f"{where}: data.hflip is a probability in [0, 1], got {recipe.data.hflip}")
    if recipe.optim.lr <= 0 or recipe.optim.warmup_steps < 0 or len(recipe.optim.betas) != 2:
        raise RecipeError(f"{where}: optim needs lr > 0, warmup_steps >= 0 and two betas")
    return recipe


def parse_override(text: str) -> tuple[list[str], object]:
    """``section.field=value`` (value parsed as YAML) -> (path, value)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"--set {text!r}: expected section.field=value, e.g. optim.lr=1e-4")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as error:
        raise RecipeError(f"--set {text!r}: the value is not valid YAML ({error})") from error
    return key.strip().split("."), value


def load_recipe(path: str | pathlib.Path | None = None, overrides: list[str] = ()) -> Recipe:
    """The recipe in ``path`` (YAML; default: all defaults) with ``section.field=value`` overrides."""
    values: dict = {}
    where = "the default recipe"
    if path is not None:
        path = pathlib.Path(path)
        where = str(path)
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError:
            raise RecipeError(f"recipe {path} does not exist: pass one of the files in config/ "
                              "(e.g. config/pisa_instructpart.yaml)") from None
        except yaml.YAMLError as error:
            raise RecipeError(f"{path} is not valid YAML: {error}") from error
        if not isinstance(values, dict):
            raise RecipeError(f"{path} must hold a mapping of recipe sections")
    for override in overrides:
        keys, value = parse_override(override)
        node = values
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise RecipeError(f"--set {override!r}: {key} is not a section")
        node[keys[-1]] = value
    return _checked_recipe(values, where)


def _checked_recipe(values: dict, where: str) -> Recipe:
    try:
        recipe = _build(Recipe, values, "")
    except RecipeError as error:
        raise RecipeError(f"{where}: {error}") from None
    return _check(recipe, where)


def recipe_from_dict(values: dict, where: str = "a saved recipe") -> Recipe:
    """A :class:`Recipe` from :meth:`Recipe.to_dict` output (e.g. a run's saved recipe)."""
    return _checked_recipe(values, where)
