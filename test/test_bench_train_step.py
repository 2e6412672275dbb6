"""bench/train_step.py: the tiny training step on CPU, and the full-size memory budget on the meta device."""
import json
import math
import pathlib
import sys

import pytest

from instructpart_ros.model.tiny import TinySizes

BENCH = pathlib.Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
import train_step  # noqa: E402  (bench/ is not a package)


def run_bench(tmp_path, *args) -> dict:
    out = tmp_path / "train_step.json"
    assert train_step.main([*args, "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert len(report["runs"]) == 1
    return report["runs"][0]


def test_tiny_step_on_cpu_reports_both_variants_and_the_fine_tune_cost(tmp_path):
    run = run_bench(tmp_path, "--size", "tiny", "--device", "cpu", "--steps", "1", "--image-sizes", "320x240,240x320")
    assert (run["size"], run["kind"], run["recipe"]) == ("tiny", "pisa", "pisa_instructpart")
    assert (run["micro_batch"], run["grad_accum"]) == (2, 10)
    assert run["image_sizes_wh"] == [[320, 240], [240, 320]]
    assert run["precision"] == "fp32" and run["recipe_gradient_checkpointing"] is True
    # the trainer's set-up ran: peft LoRA r8 on q_proj/v_proj of every tiny layer, SAM's unused heads frozen
    sizes = TinySizes()
    budget = run["memory_budget"]
    assert budget["parameters"]["lora"] == sizes.llm_layers * 2 * 8 * (sizes.llm_hidden + sizes.llm_hidden)
    assert 0 < budget["parameters"]["trainable"] < budget["parameters"]["total"]
    assert run["tensors_frozen_as_unreached"] > 0
    # checkpointing keeps only the LLM layers' inputs: fewer saved bytes, the same maths
    saved = budget["saved_activations_gb"]
    assert saved["gradient_checkpointing"] < saved["no_checkpointing_baseline"]
    same = run["same_weights_check"]
    assert same["gradient_checkpointing"]["loss"] == pytest.approx(same["no_checkpointing_baseline"]["loss"], rel=1e-6)
    assert same["gradient_checkpointing"]["grad_norm"] == pytest.approx(
        same["no_checkpointing_baseline"]["grad_norm"], rel=1e-5)
    assert math.isfinite(same["gradient_checkpointing"]["loss"]) and same["gradient_checkpointing"]["grad_norm"] > 0
    for variant in ("gradient_checkpointing", "no_checkpointing_baseline"):
        timing = run["variants"][variant]
        assert timing["forward_backward_ms"] > 0 and timing["optimizer_ms"] > 0
        assert timing["recipe_step_ms"] == pytest.approx(10 * timing["forward_backward_ms"] + timing["optimizer_ms"],
                                                         abs=0.1)  # each figure rounded to 0.01 ms
        assert timing["samples_per_s"] == pytest.approx(20_000 / timing["recipe_step_ms"], rel=1e-3)
        assert "peak_gpu_memory_gb" not in timing  # CPU: no GPU figure is made up
    assert run["checkpointing_vs_baseline"]["time_ratio"] == pytest.approx(
        run["variants"]["gradient_checkpointing"]["step_ms"] / run["variants"]["no_checkpointing_baseline"]["step_ms"],
        rel=1e-2)
    # 1,800 samples x 10 epochs: 90 steps of 20 on one GPU, 11 steps of 160 per epoch on 8 (DDP, linear scaling)
    cost = run["fine_tune_cost"]
    assert (cost["train_samples"], cost["epochs"]) == (1800, 10) and "linear scaling" in cost["assumption"]
    one, eight = cost["gpus"]["1"], cost["gpus"]["8"]
    assert (one["optimizer_steps"], one["samples_seen"]) == (900, 18000)
    assert (eight["global_batch"], eight["optimizer_steps"], eight["samples_seen"]) == (160, 110, 17600)
    rate = run["variants"]["gradient_checkpointing"]["samples_per_s"]
    assert one["hours"]["gradient_checkpointing"] == pytest.approx(18000 / rate / 3600, rel=1e-2)
    assert eight["hours"]["gradient_checkpointing"] == pytest.approx(17600 / rate / 8 / 3600, rel=1e-2)


def test_full_size_pisa_builds_on_meta_and_fits_its_memory_budget(tmp_path):
    run = run_bench(tmp_path, "--size", "full", "--device", "meta")
    assert "variants" not in run  # nothing is timed on the meta device
    budget = run["memory_budget"]
    parameters = budget["parameters"]
    # LoRA r8 on q_proj and v_proj of LLaMA-7B's 32 layers (4096 wide)
    assert parameters["lora"] == 32 * 2 * 8 * (4096 + 4096)
    # LLaMA-7B (6.74e9 with LISA's 32,004 words) + CLIP ViT-L + DINOv2 ViT-L + SAM decoder + fusion
    assert 7.3e9 < parameters["total"] < 7.5e9
    frozen = parameters["total"] - parameters["trainable"]
    assert budget["gb"]["frozen_weights_gb"] == pytest.approx(2 * frozen / 2**30, rel=1e-3)  # bf16
    assert budget["gb"]["adamw_state_fp32_gb"] == pytest.approx(8 * parameters["trainable"] / 2**30, abs=1e-3)
    saved = budget["saved_activations_gb"]
    assert 0 < saved["gradient_checkpointing"] < saved["no_checkpointing_baseline"] / 4
    assert run["sequence_tokens"][0] > 256  # CLIP's 256 image tokens plus the conversation
