"""One optimiser step of PISA training, timed, with gradient checkpointing beside the same step without it.

Everything runs through the training package as ``instructpart train`` does: the
InstructPart reader, ``InstructPartTrainingSet`` and ``collate`` on a micro-batch written
in the dataset's layout; ``configure_trainable`` (peft LoRA r8 on q_proj/v_proj, the
[SEG] projection, mask decoder and fusion layers); the one-pass freeze of weights the
loss never reaches; float32 trainables; ``SegmentationTraining`` forward and backward
under the trainer's precision (bf16 autocast on CUDA); the trainer's AdamW, schedule,
gradient clipping and optimiser step; the recipe's gradient checkpointing.

Baseline: the same step with gradient checkpointing off, measured in the same run on the
same model (interleaved steps). Checkpointing is the one recipe switch that trades time for
memory without changing what is learnt (same loss, same gradients; the JSON shows both
variants' loss and gradient norm from the same weights), so the comparison says what it
costs and what it saves. (LoRA off vs on would change what trains, not how.)

- ``tiny``: the tiny PISA (``model.tiny``) written and loaded as a checkpoint; runs anywhere
  (well under a minute on a 2-core CPU).
- ``full``: LLaMA-7B + CLIP ViT-L/14 + DINOv2 ViT-L/14 fusion + SAM decoder with random
  weights (bench/_full_size.py), on CUDA; reports peak GPU memory.
- ``--device meta`` (with ``--size full``): no timing; builds the full-size model on the
  meta device and prints its memory budget (parameters, weights, gradients, AdamW state,
  the activations the autograd graph keeps) for both variants, so a GPU's fit is known
  before one is rented.

The recipe is the paper's (``config/pisa_instructpart.yaml``, or ``lisa_instructpart.yaml``
with ``--kind lisa``) unless ``--recipe``; its model paths and data split are not used.
The micro-batch is the recipe's ``micro_batch`` (2) images at InstructPart's sizes (the
test split's two most common: 2000x1500 and 1500x2000; losses are computed at that
resolution) with a 14-word task instruction in LISA's question template. The JSON also
extrapolates the paper's fine-tune (1,800 samples x the recipe's epochs) to 1 and 8 GPUs.

    python bench/train_step.py [--size auto|tiny|full] [--device cpu|cuda|meta] [--kind pisa|lisa]
        [--image-sizes 2000x1500,1500x2000] [--recipe FILE] [--set section.field=value ...] [--out FILE]
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import pathlib
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch._subclasses.fake_tensor import FakeTensorMode

from instructpart_ros.evaluation.dataset import INSTRUCTION_NAMES, sample_id
from instructpart_ros.model.dinov2_image_encoder import DinoFusionConfig
from instructpart_ros.model.tiny import write_tiny_checkpoints
from instructpart_ros.training.data import BatchLayout, InstructPartTrainingSet, TrainingBatch, collate
from instructpart_ros.training.data import load_training_samples
from instructpart_ros.training.model_setup import load_starting_model, weight_dtype
from instructpart_ros.training.recipe import Recipe, load_recipe
from instructpart_ros.training.step import SegmentationTraining
from instructpart_ros.training.trainable import (LORA_MARKER, configure_trainable, float32_trainables,
                                                 freeze_unreached)
from instructpart_ros.training.trainer import (build_optimizer, optimiser_step, precision_context,
                                               set_gradient_checkpointing)
from _common import emit, machine
from _full_size import INSTRUCTION, full_size_model

VARIANTS = {"gradient_checkpointing": True, "no_checkpointing_baseline": False}
BENCH_SPLIT = "test"  # a split name every reader version accepts; the bench's own data, not InstructPart's
PAPER_TRAIN_SAMPLES = 1800
PAPER_RECIPE = str(pathlib.Path(__file__).resolve().parents[1] / "config" / "{kind}_instructpart.yaml")
GPU_COUNTS = (1, 8)
GB = 2**30
# The six InstructPart instructions of the bench's sample (task, rewritten task, four part-name forms).
BENCH_INSTRUCTIONS = (INSTRUCTION, "Which part of the knife do I grip when slicing bread?",
                      "Where is the handle of the knife in this image?",
                      "Where is the handle of the knife that can hold in this image?",
                      "handle of the knife", "handle of the knife that can hold")
assert len(BENCH_INSTRUCTIONS) == len(INSTRUCTION_NAMES)
SCALING_ASSUMPTION = (
    "linear scaling under DDP: every GPU runs the measured micro-batch time; the gradient all-reduce "
    "(only the trainable tensors, about 0.1 GB in float32, once per optimiser step) overlaps the backward "
    "pass; data loading keeps up (workers); validation, checkpoint saves and start-up are not included")


# ----------------------------------------------------------------------------- data


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"2000x1500,1500x2000"`` -> [(width, height), ...]."""
    try:
        sizes = [tuple(int(v) for v in item.lower().split("x")) for item in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or any(len(size) != 2 or min(size) < 32 for size in sizes):
        raise argparse.ArgumentTypeError(f"--image-sizes {text!r}: expected WIDTHxHEIGHT[,WIDTHxHEIGHT...], "
                                         "each side at least 32, e.g. 2000x1500,1500x2000")
    return sizes


def write_bench_split(root: pathlib.Path, sizes: list[tuple[int, int]], seed: int) -> None:
    """One image per size, with a part mask and six instructions, in InstructPart's layout under ``root``."""
    rng = np.random.default_rng(seed)
    folder = root / BENCH_SPLIT
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    entries = []
    for index, (width, height) in enumerate(sizes):
        image_path = f"bench{index}.jpg"
        sid = sample_id(image_path, "knife", "handle")
        coarse = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
        coarse.resize((width, height), Image.BICUBIC).save(folder / "images" / f"{sid}.jpg", quality=90)
        rows, cols = np.ogrid[:height, :width]
        ellipse = ((rows - height / 2) / (height / 4)) ** 2 + ((cols - width / 3) / (width / 5)) ** 2 <= 1
        Image.fromarray(ellipse.astype(np.uint8) * 255).save(folder / "masks" / f"{sid}.png")
        entries.append({"image_path": image_path, "part_list": [
            {"object": "knife", "part": "handle", "affordance": "hold", "action": "hold",
             "instruction": list(BENCH_INSTRUCTIONS)}]})
    (folder / f"data_{BENCH_SPLIT}.json").write_text(json.dumps(entries))


def bench_recipe(path: str | pathlib.Path, overrides: list[str], device: torch.device) -> Recipe:
    """The recipe in ``path``, reading the bench's split with the task instruction.

    On the meta device every sample gets the same question template, so the micro-batch needs no
    padding mask (transformers inspects a padding mask's values, which meta tensors lack).
    """
    recipe = load_recipe(path, overrides)
    style = "inference" if device.type == "meta" else recipe.data.question_style
    recipe.data = dataclasses.replace(recipe.data, split=BENCH_SPLIT, train_samples=None, instructions=["human"],
                                      question_style=style, val_split=None, hflip=0.0, color_jitter=0.0)
    return recipe


# ----------------------------------------------------------------------------- model


def starting_model(size: str, kind: str, recipe: Recipe, samples, device: torch.device, dtype: torch.dtype,
                   workdir: pathlib.Path):
    """The model a run of ``recipe`` would start from: the tiny checkpoint loaded, or full size at random."""
    if size == "full":
        fusion = DinoFusionConfig(**recipe.model.fusion) if recipe.model.fusion else None
        return full_size_model(kind, device, dtype, workdir / f"full-{kind}", fusion)
    paths = write_tiny_checkpoints(workdir / f"tiny-{kind}", kind=kind, seed=recipe.run.seed)
    start = {"init": kind, "checkpoint" if kind == "pisa" else "lisa": paths["checkpoint"]}
    model = dataclasses.replace(recipe.model, vision_tower=paths["vision_tower"], dinov2=paths["dinov2"], **start)
    return load_starting_model(dataclasses.replace(recipe, model=model), workdir, samples, device, dtype, True,
                               lambda: None)


def prepare(model, recipe: Recipe, batch: TrainingBatch,
            device: torch.device) -> tuple[SegmentationTraining, int | None]:
    """The trainer's set-up, in its order; the module and how many tensors the first pass froze (None: skipped).

    On the meta device nothing can be evaluated: the unreached-weight pass is skipped (so a
    few never-trained tensors count as trainable) and trainables keep the weights' dtype.
    """
    configure_trainable(model, recipe.trainable)
    training = SegmentationTraining(model, recipe.loss).train()
    unreached = None
    if device.type != "meta":
        training(batch)["total"].backward()
        unreached = len(freeze_unreached(training))
        float32_trainables(model)
    set_gradient_checkpointing(model, recipe.run.gradient_checkpointing)
    return training, unreached


# ----------------------------------------------------------------------------- measuring


class Clock:
    """Wall time that waits for the device, and its peak memory since the last reset."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.device = device

    def now(self) -> float:
        if self.cuda:
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def reset_peak(self) -> None:
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak_gb(self) -> float | None:
        return torch.cuda.max_memory_allocated(self.device) / GB if self.cuda else None

    def allocated_gb(self) -> float | None:
        return torch.cuda.memory_allocated(self.device) / GB if self.cuda else None


def saved_activation_bytes(training: SegmentationTraining, batch: TrainingBatch, dtype: torch.dtype) -> int:
    """Bytes one forward pass keeps for its backward (each storage once; weights and buffers excluded).

    Gradient checkpointing keeps only each checkpointed layer's inputs here; the layer it
    recomputes during the backward is transient and not counted. A meta model runs under a
    ``FakeTensorMode`` (transformers skips its data-dependent mask checks for fake tensors),
    whose fake copies of the weights are excluded the same way.
    """
    meta = training.device.type == "meta"
    fake = FakeTensorMode(allow_non_fake_inputs=True) if meta else None
    weights = [fake.from_tensor(t) if fake else t for t in [*training.parameters(), *training.buffers()]]
    weight_ids = {id(t) for t in weights}
    weight_storages = {t.untyped_storage()._cdata for t in weights}
    kept: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        base = tensor if tensor._base is None else tensor._base  # e.g. a transposed weight
        if id(base) not in weight_ids and storage._cdata not in weight_storages:
            kept[storage._cdata] = storage.nbytes()
        return tensor

    precision = contextlib.nullcontext() if meta else precision_context(dtype)
    hooks = torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor)
    with hooks, precision, fake or contextlib.nullcontext():
        losses = training(batch)
    del losses
    return sum(kept.values())


def memory_budget(training: SegmentationTraining, batch: TrainingBatch, dtype: torch.dtype,
                  checkpointing: bool) -> dict:
    """Parameters and the bytes a step needs: frozen weights as stored, trainables as float32 weight +
    gradient + AdamW's two moments (16 bytes each), and each variant's saved activations.
    Gradient checkpointing is left as ``checkpointing``."""
    parameters = list(training.parameters())
    trainable = [p for p in parameters if p.requires_grad]
    lora = sum(p.numel() for n, p in training.named_parameters() if p.requires_grad and LORA_MARKER in n)
    frozen_bytes = sum(p.numel() * p.element_size() for p in parameters if not p.requires_grad)
    trainable_count = sum(p.numel() for p in trainable)
    static = {"frozen_weights_gb": frozen_bytes / GB, "trainable_weights_fp32_gb": 4 * trainable_count / GB,
              "gradients_fp32_gb": 4 * trainable_count / GB, "adamw_state_fp32_gb": 8 * trainable_count / GB}
    activations = {}
    for variant, enabled in VARIANTS.items():
        set_gradient_checkpointing(training.model, enabled)
        activations[variant] = saved_activation_bytes(training, batch, dtype) / GB
    set_gradient_checkpointing(training.model, checkpointing)
    steady = sum(static.values())
    budget = {
        "parameters": {"total": sum(p.numel() for p in parameters), "trainable": trainable_count, "lora": lora,
                       "frozen_dtype": str(dtype).removeprefix("torch.")},
        "gb": {key: round(value, 3) for key, value in static.items()},
        "saved_activations_gb": {key: round(value, 3) for key, value in activations.items()},
        "estimated_step_gb": {key: round(steady + value, 3) for key, value in activations.items()},
        "not_counted": "transient backward buffers (one recomputed LLM layer with checkpointing, attention and "
                       "matmul workspaces), the CUDA context (about 0.5 GB) and allocator fragmentation",
    }
    if training.device.type == "meta":
        budget["meta_device"] = ("attention ran PyTorch's math kernel, which keeps each layer's attention "
                                 "probabilities without checkpointing (a GPU's flash attention does not): the "
                                 "baseline's activations are an upper bound; without autocast, so trainable "
                                 "modules' activations count in bf16; the unreached-weight pass cannot run, so a "
                                 "few never-trained tensors count as trainable")
    return budget


def grad_norm(parameters: list[torch.nn.Parameter]) -> float:
    norms = [p.grad.float().norm() for p in parameters if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.stack(norms)))


@dataclass
class TrainingStep:
    """The trainer's micro-batch and optimiser step on one prepared model and batch."""

    training: SegmentationTraining
    batch: TrainingBatch
    dtype: torch.dtype
    recipe: Recipe
    total_steps: int

    def __post_init__(self):
        self.trainable = [p for p in self.training.parameters() if p.requires_grad]
        self.optimizer, self.scheduler = build_optimizer(self.trainable, self.recipe.optim, self.total_steps)

    def checkpointing(self, enabled: bool) -> None:
        set_gradient_checkpointing(self.training.model, enabled)

    def forward_backward(self) -> dict[str, torch.Tensor]:
        """Forward under the trainer's precision, backward of the total loss."""
        with precision_context(self.dtype):
            losses = self.training(self.batch)
        losses["total"].backward()
        return losses

    def optimiser_step(self) -> None:
        optimiser_step(self.trainable, self.optimizer, self.scheduler, self.recipe.optim.grad_clip)

    def same_maths_warm_up(self) -> dict:
        """Each variant's loss and gradient norm from the same weights and RNG state; the last variant's
        pass ends with an optimiser step, so AdamW has allocated its state before anything is timed."""
        found = {}
        for variant, enabled in VARIANTS.items():
            self.optimizer.zero_grad(set_to_none=True)
            self.checkpointing(enabled)
            torch.manual_seed(self.recipe.run.seed)
            losses = self.forward_backward()
            found[variant] = {"loss": float(losses["total"].detach()), "grad_norm": grad_norm(self.trainable)}
        self.optimiser_step()
        return found

    def time_steps(self, clock: Clock, steps: int) -> dict[str, dict]:
        """``steps`` optimiser steps of one micro-batch per variant, the variants interleaved."""
        laps = {variant: {"forward_backward_ms": [], "optimizer_ms": [], "peak_gpu_memory_gb": []}
                for variant in VARIANTS}
        for _ in range(steps):
            for variant, enabled in VARIANTS.items():
                self.checkpointing(enabled)
                clock.reset_peak()
                start = clock.now()
                self.forward_backward()
                middle = clock.now()
                self.optimiser_step()
                end = clock.now()
                laps[variant]["forward_backward_ms"].append(1e3 * (middle - start))
                laps[variant]["optimizer_ms"].append(1e3 * (end - middle))
                laps[variant]["peak_gpu_memory_gb"].append(clock.peak_gb())
        return laps


def summarise(laps: dict, recipe: Recipe) -> dict:
    """Medians per variant, and the recipe's optimiser step (``grad_accum`` micro-batches) from them."""
    micro, accum = recipe.run.micro_batch, recipe.run.grad_accum
    result = {}
    for variant, lap in laps.items():
        fb, opt = statistics.median(lap["forward_backward_ms"]), statistics.median(lap["optimizer_ms"])
        recipe_step_ms = accum * fb + opt
        entry = {"forward_backward_ms": round(fb, 2), "optimizer_ms": round(opt, 2),
                 "step_ms": round(fb + opt, 2),  # one micro-batch, then the optimiser
                 "recipe_step_ms": round(recipe_step_ms, 2),  # grad_accum micro-batches, then the optimiser
                 "samples_per_s": round(1e3 * micro * accum / recipe_step_ms, 3),
                 "forward_backward_ms_every_step": [round(v, 2) for v in lap["forward_backward_ms"]]}
        if lap["peak_gpu_memory_gb"][0] is not None:
            entry["peak_gpu_memory_gb"] = round(max(lap["peak_gpu_memory_gb"]), 3)
        result[variant] = entry
    return result


def fine_tune_steps(recipe: Recipe, train_samples: int, gpus: int) -> tuple[BatchLayout, int]:
    """The trainer's batch layout on ``gpus`` processes and its optimiser steps over the recipe's epochs."""
    layout = BatchLayout(recipe.run.micro_batch, recipe.run.grad_accum, world_size=gpus)
    return layout, layout.steps_per_epoch(train_samples) * recipe.run.epochs


def significant(value: float, digits: int = 4) -> float:
    """``value`` to ``digits`` significant digits: a fast step's few minutes keep their precision, which
    a fixed number of decimals of an hour would not."""
    return float(f"{value:.{digits}g}")


def fine_tune_cost(samples_per_s: dict[str, float], recipe: Recipe, train_samples: int) -> dict:
    """What ``train_samples`` x the recipe's epochs cost at the measured rate on 1 and 8 GPUs (see the assumption)."""
    cost = {"train_samples": train_samples, "epochs": recipe.run.epochs, "assumption": SCALING_ASSUMPTION, "gpus": {}}
    for gpus in GPU_COUNTS:
        layout, steps = fine_tune_steps(recipe, train_samples, gpus)
        samples = steps * layout.global_batch  # the trainer drops each epoch's last partial global batch
        cost["gpus"][str(gpus)] = {
            "global_batch": layout.global_batch, "optimizer_steps": steps, "samples_seen": samples,
            "hours": {variant: significant(samples / (rate * gpus) / 3600) for variant, rate in samples_per_s.items()},
            "gpu_hours": {variant: significant(samples / rate / 3600) for variant, rate in samples_per_s.items()}}
    return cost


# ----------------------------------------------------------------------------- one run


def set_up(size: str, kind: str, device: torch.device, args, workdir: pathlib.Path) -> tuple[TrainingStep, dict]:
    """Data, model and the trainer's set-up for one run; what it is, for the report."""
    recipe = bench_recipe(args.recipe or PAPER_RECIPE.format(kind=kind), args.set, device)
    micro = recipe.run.micro_batch
    sizes = [args.image_sizes[i % len(args.image_sizes)] for i in range(micro)]
    dtype = torch.bfloat16 if device.type == "meta" else weight_dtype(recipe, device)
    data_root = workdir / f"data-{size}-{kind}"
    write_bench_split(data_root, sizes, recipe.run.seed)
    samples, _, _ = load_training_samples(data_root, recipe.data, recipe.run.seed, progress=False)
    torch.manual_seed(recipe.run.seed)
    start = time.perf_counter()
    loaded = starting_model(size, kind, recipe, samples, device, dtype, workdir)
    build_s = time.perf_counter() - start
    dataset = InstructPartTrainingSet(samples, recipe.data, recipe.run.seed, loaded.tokenizer, loaded.clip_processor,
                                      loaded.use_im_start_end)
    batch = collate([dataset[(0, position)] for position in range(micro)])
    training, unreached = prepare(loaded.model, recipe, batch, device)
    image_tokens = loaded.model.mllm.vision_tower.embeddings.num_patches
    entry = {
        "size": size, "kind": kind, "recipe": recipe.name, "device": str(device), "weights_dtype": str(dtype).removeprefix("torch."),
        "precision": "bf16 autocast" if dtype == torch.bfloat16 else "fp32",
        "build_s": round(build_s, 2), "micro_batch": micro, "grad_accum": recipe.run.grad_accum,
        "image_sizes_wh": [list(s) for s in sizes],
        "sequence_tokens": [len(p.before_image) + image_tokens + len(p.after_image) + len(a)
                            for p, a in zip(batch.prompts, batch.answers)],
        "question_style": recipe.data.question_style,
        "lora": dataclasses.asdict(recipe.trainable.lora) if recipe.trainable.lora else None,
        "recipe_gradient_checkpointing": recipe.run.gradient_checkpointing,
        "tensors_frozen_as_unreached": unreached,
    }
    _, total_steps = fine_tune_steps(recipe, args.train_samples, 1)
    return TrainingStep(training, batch, dtype, recipe, total_steps), entry


def measure(step: TrainingStep, device: torch.device, args) -> dict:
    """Same-maths check, warm-up, the timed steps of both variants, the comparison and the fine-tune cost."""
    clock = Clock(device)
    report = {"same_weights_check": step.same_maths_warm_up()}
    allocated = clock.allocated_gb()
    report["resident_gpu_memory_gb"] = None if allocated is None else round(allocated, 3)
    variants = summarise(step.time_steps(clock, args.steps), step.recipe)
    checkpointed, baseline = variants["gradient_checkpointing"], variants["no_checkpointing_baseline"]
    comparison = {"time_ratio": round(checkpointed["step_ms"] / baseline["step_ms"], 3)}
    if "peak_gpu_memory_gb" in checkpointed:
        comparison["peak_gpu_memory_gb_saved"] = round(
            baseline["peak_gpu_memory_gb"] - checkpointed["peak_gpu_memory_gb"], 3)
    report.update(variants=variants, checkpointing_vs_baseline=comparison,
                  fine_tune_cost=fine_tune_cost({v: variants[v]["samples_per_s"] for v in VARIANTS}, step.recipe,
                                                args.train_samples))
    return report


def run(size: str, kind: str, device: torch.device, args, workdir: pathlib.Path) -> dict:
    step, entry = set_up(size, kind, device, args, workdir)
    entry["memory_budget"] = memory_budget(step.training, step.batch, step.dtype,
                                           step.recipe.run.gradient_checkpointing)
    if device.type != "meta":
        entry.update(measure(step, device, args))
    return entry


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("auto", "tiny", "full"), default="auto",
                        help="auto: tiny, plus full when CUDA is available")
    parser.add_argument("--kind", choices=("pisa", "lisa"), default="pisa")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="cpu, cuda[:N], or meta (full size: the memory budget only, no timing)")
    parser.add_argument("--image-sizes", type=parse_sizes, default=parse_sizes("2000x1500,1500x2000"),
                        help="WIDTHxHEIGHT of each micro-batch image, repeated to fill it "
                             "(default: InstructPart's two most common sizes)")
    parser.add_argument("--recipe", help="a training recipe YAML (default: the paper's, "
                                         "config/pisa_instructpart.yaml or config/lisa_instructpart.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="override a recipe value, e.g. run.micro_batch=4 (repeatable)")
    parser.add_argument("--steps", type=int, default=3, help="timed optimiser steps per variant (after warm-up)")
    parser.add_argument("--train-samples", type=int, default=PAPER_TRAIN_SAMPLES,
                        help="training-set size for the fine-tune extrapolation (the paper's: 1800)")
    parser.add_argument("--out", type=pathlib.Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    sizes = {"auto": ["tiny"] + (["full"] if device.type == "cuda" else []), "tiny": ["tiny"], "full": ["full"]}
    if device.type == "meta":
        if args.size == "tiny":
            parser.error("--device meta builds the full size only (--size full): the tiny model runs on a CPU")
        sizes["auto"] = ["full"]
    elif "full" in sizes[args.size] and device.type != "cuda":
        parser.error("--size full needs --device cuda (or --device meta for its memory budget): a 7B model with "
                     "random weights on a CPU is not a useful number")
    report = {"machine": machine(torch=torch.__version__, threads=torch.get_num_threads()),
              "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None, "runs": []}
    with tempfile.TemporaryDirectory() as workdir:
        for size in sizes[args.size]:
            entry = run(size, args.kind, device, args, pathlib.Path(workdir))
            report["runs"].append(entry)
            if "variants" in entry:
                print(f"{args.kind}/{size}: {entry['variants']['gradient_checkpointing']['step_ms']} ms per step "
                      f"({entry['variants']['no_checkpointing_baseline']['step_ms']} ms without checkpointing)",
                      file=sys.stderr)
    report["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
