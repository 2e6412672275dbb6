"""Per-stage latency of one segmentation query, KV-cache decoding beside LISA's full recompute.

For each kind (PISA, LISA) and size it times ``PartSegmenter.segment`` stage by stage
(preprocess, clip, llm_prefill, llm_decode, image_encoder, mask_decoder, postprocess,
total), then every decode step twice in the same run: with the KV cache (this package)
and recomputing the whole sequence each step (what LISA's code does, the baseline).

- ``tiny``: the tiny checkpoints of ``model.tiny`` loaded through ``load_segmenter``
  (also times loading); runs anywhere.
- ``full``: full-size configurations (LLaMA-7B, CLIP ViT-L/14, DINOv2 ViT-L/14 at 518 or
  SAM ViT-H at 1024, SAM's decoder) with random weights, on CUDA only; reports peak GPU
  memory. Targets for PISA on one H100 in bf16: under 60 ms per query, under 16 GB.

Random weights never emit [SEG] by themselves, so the answer is scripted ("Sure, [SEG]."
by default): every step still runs the LM head and its argmax; only the chosen token is
replaced, so the work per step is the real one. The image is the real knife frame when
``INSTRUCTPART_DATA`` is set, else a random 1280x800 one.

    python bench/model_latency.py [--size auto|tiny|full] [--kind pisa|lisa|both] [--out FILE]
"""
from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import tempfile
import time

import cv2
import numpy as np
import torch
from instructpart_ros.model import PartSegmenter, load_segmenter
from instructpart_ros.model.clip_preprocessing import clip_pixels
from instructpart_ros.model.prompt import build_prompt_ids
from instructpart_ros.model.module_loading import resolve_dtype
from instructpart_ros.model.timing import StageTimer
from instructpart_ros.model.tiny import write_tiny_checkpoints
from _common import emit, machine
from _full_size import INSTRUCTION, full_size_model

TARGET_QUERY_MS, TARGET_GPU_MEMORY_GB = 60.0, 16.0


def benchmark_image() -> np.ndarray:
    data = os.environ.get("INSTRUCTPART_DATA")
    if data and (pathlib.Path(data) / "shapegrasp-knife" / "color.png").is_file():
        return cv2.cvtColor(cv2.imread(str(pathlib.Path(data) / "shapegrasp-knife" / "color.png")), cv2.COLOR_BGR2RGB)
    return np.random.default_rng(0).integers(0, 256, (800, 1280, 3), dtype=np.uint8)


def script_answer(segmenter: PartSegmenter, answer: str) -> list[int]:
    """Make ``segmenter`` answer ``answer`` + </s>; the LM head still runs at every step."""
    tokenizer, mllm = segmenter.tokenizer, segmenter.model.mllm
    script = tokenizer.encode_text(answer) + [tokenizer.eos_token_id]
    computed_next_token = mllm._next_token
    position = iter(())

    def next_token(hidden: torch.Tensor) -> int:
        computed_next_token(hidden)  # the real cost: LM head, argmax, device sync
        return next(position)

    def rewind(*args, **kwargs):
        nonlocal position
        position = iter(script)
        return generate(*args, **kwargs)

    generate = mllm.generate
    mllm._next_token = next_token
    mllm.generate = rewind
    return script


# ----------------------------------------------------------------------------- full size


def full_size_segmenter(kind: str, device: torch.device, dtype: torch.dtype, workdir: pathlib.Path) -> PartSegmenter:
    """LLaMA-7B + CLIP ViT-L/14 + (DINOv2 ViT-L/14 fusion | SAM ViT-H) + SAM decoder, random weights."""
    return PartSegmenter(full_size_model(kind, device, dtype, workdir), max_new_tokens=64)


# ----------------------------------------------------------------------------- timing


def decode_step_times(segmenter: PartSegmenter, rgb: np.ndarray, script: list[int]) -> dict[str, list[float]]:
    """Milliseconds of each decode step: with the KV cache, and recomputing everything (LISA)."""
    mllm, tokenizer = segmenter.model.mllm, segmenter.tokenizer
    with torch.inference_mode():
        pixels = clip_pixels(rgb, segmenter.clip_processor, segmenter.device)
        prompt = build_prompt_ids(tokenizer, INSTRUCTION)
        inputs = mllm.prompt_embeddings(prompt, mllm.encode_image(pixels))
        timer = StageTimer(segmenter.device)
        mllm.generate(inputs, timer=timer)
        cached = timer.laps.get("llm_decode", [])
        full, sequence = [], inputs
        for token in script[:-1]:  # the token fed at each decode step
            sequence = torch.cat([sequence, mllm.embed_tokens([token])], dim=1)
            step = StageTimer(segmenter.device)
            with step.stage("step"):
                hidden = mllm.language_model.model(inputs_embeds=sequence, use_cache=False).last_hidden_state[:, -1]
                int(mllm.language_model.lm_head(hidden).argmax(dim=-1))
            full.append(step.timings["step"])
    return {"kv_cache": cached, "full_recompute_baseline": full}


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {stage: round(statistics.median(run[stage] for run in runs), 3) for stage in runs[0]}


def measure(segmenter: PartSegmenter, rgb: np.ndarray, answer: str, warmup: int, repeats: int) -> dict:
    script = script_answer(segmenter, answer)
    for _ in range(warmup):
        segmenter.segment(rgb, INSTRUCTION)
    if segmenter.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(segmenter.device)
    results = [segmenter.segment(rgb, INSTRUCTION) for _ in range(repeats)]
    if not all(result.found for result in results):
        raise RuntimeError(f"the scripted answer {answer!r} did not give a [SEG]: {results[0].reason}")
    stages = median_of([result.timings for result in results])
    steps = [decode_step_times(segmenter, rgb, script) for _ in range(repeats)]
    kv = [statistics.median(run["kv_cache"]) for run in steps]
    full = [statistics.median(run["full_recompute_baseline"]) for run in steps]
    decode_steps = len(steps[0]["kv_cache"])
    prompt = build_prompt_ids(segmenter.tokenizer, INSTRUCTION)
    image_tokens = segmenter.model.mllm.vision_tower.embeddings.num_patches
    report = {
        "answer": results[0].answer,
        "prompt_tokens": len(prompt.before_image) + image_tokens + len(prompt.after_image),
        "decode_steps": decode_steps,
        "stages_ms": stages,
        "query_ms": stages["total"],
        "decode_step_ms": {"kv_cache": round(statistics.median(kv), 3),
                           "full_recompute_baseline": round(statistics.median(full), 3),
                           "kv_cache_every_step": [round(v, 3) for v in steps[-1]["kv_cache"]],
                           "full_recompute_every_step": [round(v, 3) for v in steps[-1]["full_recompute_baseline"]]},
        # The same query if each step recomputed the sequence, as LISA's generate does.
        "query_ms_full_recompute_baseline": round(
            stages["total"] - stages.get("llm_decode", 0.0) + decode_steps * statistics.median(full), 3),
    }
    if segmenter.device.type == "cuda":
        report["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated(segmenter.device) / 2**30, 3)
    return report


def run(kind: str, size: str, device: torch.device, dtype: torch.dtype, args, workdir: pathlib.Path) -> dict:
    rgb = benchmark_image()
    entry = {"kind": kind, "size": size, "device": str(device), "dtype": str(dtype).removeprefix("torch."),
             "image_hw": list(rgb.shape[:2])}
    if size == "tiny":
        paths = write_tiny_checkpoints(workdir / kind, kind=kind, seed=0)
        start = time.perf_counter()
        segmenter = load_segmenter(kind=kind, device=device, dtype=dtype, **paths)
        entry["load_ms"] = round((time.perf_counter() - start) * 1000, 1)
    else:
        segmenter = full_size_segmenter(kind, device, dtype, workdir / f"full-{kind}")
    entry.update(measure(segmenter, rgb, args.answer, args.warmup, args.repeats))
    if size == "full" and kind == "pisa":
        entry["targets"] = {"query_ms_under": TARGET_QUERY_MS, "met_query": entry["query_ms"] < TARGET_QUERY_MS,
                            "peak_gpu_memory_gb_under": TARGET_GPU_MEMORY_GB,
                            "met_memory": entry.get("peak_gpu_memory_gb", 1e9) < TARGET_GPU_MEMORY_GB}
    segmenter.release()
    return entry


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("auto", "tiny", "full"), default="auto",
                        help="auto: tiny, plus full when CUDA is available")
    parser.add_argument("--kind", choices=("pisa", "lisa", "both"), default="both")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default=None, help="default: bfloat16 on CUDA, float32 on CPU")
    parser.add_argument("--answer", default="Sure, [SEG].", help="the scripted answer (sets the decode steps)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=pathlib.Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    dtype = resolve_dtype(args.dtype or ("bfloat16" if device.type == "cuda" else "float32"))
    sizes = {"auto": ["tiny"] + (["full"] if device.type == "cuda" else []), "tiny": ["tiny"], "full": ["full"]}
    if "full" in sizes[args.size] and device.type != "cuda":
        parser.error("--size full needs --device cuda (a 7B model with random weights on CPU is not a useful number)")
    kinds = ["pisa", "lisa"] if args.kind == "both" else [args.kind]
    report = {"machine": machine(torch=torch.__version__, threads=torch.get_num_threads()),
              "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None, "runs": []}
    with tempfile.TemporaryDirectory() as workdir:
        for size in sizes[args.size]:
            for kind in kinds:
                report["runs"].append(run(kind, size, device, dtype, args, pathlib.Path(workdir)))
                print(f"{kind}/{size}: {report['runs'][-1]['query_ms']} ms per query", file=sys.stderr)
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
