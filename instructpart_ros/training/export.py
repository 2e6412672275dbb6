"""Writing what training made: a checkpoint the rest of the package loads unchanged.

PISA goes out in :func:`load_pisa`'s layout, LISA in LISA-7B-v1's, both with LoRA folded
into the LLM weights (``W + B·A·alpha/r``); ``run.export: adapter`` also writes the LoRA
adapter alone in ``peft``'s layout. A from-scratch tiny recipe also writes the CLIP
tower and DINOv2 it trained, next to the checkpoint.
"""
from __future__ import annotations

import json
import pathlib
import shutil

import torch

from instructpart_ros.model.components import quiet_transformers
from instructpart_ros.model.lisa_checkpoint import join_lisa_state_dict, lisa_config_dict, write_lisa_checkpoint
from instructpart_ros.model.part_model import EXTERNAL_PREFIXES, LoadedModel
from instructpart_ros.model.pisa_checkpoint import save_pisa
from instructpart_ros.model.provenance import write_provenance
from instructpart_ros.model.sam_checkpoint import to_segment_anything_keys
from instructpart_ros.model.tokenizer import TOKENIZER_FILES
from instructpart_ros.model.weight_files import write_safetensors

from .recipe import LoraRecipe
from .trainable import ADAPTER_NAME

BASE_LAYER = ".base_layer."
LORA_A, LORA_B = f".lora_A.{ADAPTER_NAME}.weight", f".lora_B.{ADAPTER_NAME}.weight"
ADAPTER_DIR = "adapter"


def merge_lora(state: dict[str, torch.Tensor], lora: LoraRecipe | None) -> dict[str, torch.Tensor]:
    """``state`` under the model's own names, each LoRA pair folded into its base weight."""
    merged = {}
    for name, tensor in state.items():
        if ".lora_" in name:
            continue
        if BASE_LAYER in name:
            prefix, leaf = name.split(BASE_LAYER)
            if leaf == "weight":
                a, b = state[prefix + LORA_A].float(), state[prefix + LORA_B].float()
                tensor = (tensor.float() + (b @ a) * (lora.alpha / lora.r)).to(tensor.dtype)
            name = f"{prefix}.{leaf}"
        merged[name] = tensor
    return merged


def lora_adapter(state: dict[str, torch.Tensor], prefix: str = "mllm.language_model.") -> dict[str, torch.Tensor]:
    """The LoRA tensors under peft's saved names (``base_model.model.<module>.lora_A.weight``)."""
    return {
        "base_model.model." + name.removeprefix(prefix).replace(f".{ADAPTER_NAME}.", "."): tensor
        for name, tensor in state.items() if ".lora_" in name
    }


def write_adapter(directory: pathlib.Path, state: dict[str, torch.Tensor], lora: LoraRecipe, base: str) -> None:
    """``adapter/adapter_model.safetensors`` + ``adapter_config.json`` as ``peft`` saves a LoRA."""
    target = directory / ADAPTER_DIR
    target.mkdir(parents=True, exist_ok=True)
    write_safetensors(lora_adapter(state), target)
    (target / "model.safetensors").rename(target / "adapter_model.safetensors")
    config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": base, "r": lora.r,
              "lora_alpha": lora.alpha, "lora_dropout": lora.dropout, "target_modules": list(lora.target_modules),
              "bias": "none", "fan_in_fan_out": False, "inference_mode": True}
    (target / "adapter_config.json").write_text(json.dumps(config, indent=2))


def _cast(state: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    return {name: t.to(dtype) if t.is_floating_point() else t for name, t in state.items()}


def _sub(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {name.removeprefix(prefix): t for name, t in state.items() if name.startswith(prefix)}


def write_towers(loaded: LoadedModel, state: dict[str, torch.Tensor], run_dir: pathlib.Path) -> dict[str, str]:
    """Save the (trained) CLIP tower and DINOv2 as ``run_dir/vision_tower`` and ``run_dir/dinov2``."""
    model = loaded.model
    towers = {"vision_tower": (model.mllm.vision_tower, "mllm.vision_tower."),
              "dinov2": (model.image_encoder.dinov2, "image_encoder.dinov2.")}
    paths = {}
    for name, (tower, prefix) in towers.items():
        target = run_dir / name
        with quiet_transformers():
            tower.save_pretrained(target, state_dict={k: v.contiguous() for k, v in _sub(state, prefix).items()})
        paths[name] = str(target.resolve())
    shutil.copyfile(pathlib.Path(loaded.vision_tower) / "preprocessor_config.json",
                    run_dir / "vision_tower" / "preprocessor_config.json")
    return paths


def export_checkpoint(loaded: LoadedModel, state: dict[str, torch.Tensor], directory: pathlib.Path,
                      provenance: dict, lora: LoraRecipe | None, dtype: torch.dtype,
                      adapter: bool = False, towers: dict[str, str] | None = None) -> pathlib.Path:
    """Write ``state`` (the full model state, LoRA unmerged) as a loadable checkpoint in ``directory``.

    ``towers``: the ``vision_tower``/``dinov2`` directories its config.json names (default: those
    it was loaded with; a tiny recipe passes the ones :func:`write_towers` wrote).
    """
    towers = towers or {}
    directory.mkdir(parents=True, exist_ok=True)
    merged = _cast(merge_lora(state, lora), dtype)
    kept = {name: t for name, t in merged.items() if not name.startswith(EXTERNAL_PREFIXES)}
    if loaded.model.kind == "pisa":
        record = LoadedModel(loaded.model, loaded.tokenizer, loaded.clip_processor, loaded.use_im_start_end,
                             loaded.source, towers.get("vision_tower", loaded.vision_tower),
                             towers.get("dinov2", loaded.dinov2), provenance)
        save_pisa(record, directory, kept)
    else:
        _export_lisa(loaded, kept, directory)
        write_provenance(directory, provenance)
    if adapter and lora is not None:
        write_adapter(directory, state, lora, str(provenance.get("base", {}).get("checkpoint", {}).get("path", "")))
    return directory


def _export_lisa(loaded: LoadedModel, state: dict[str, torch.Tensor], directory: pathlib.Path) -> None:
    """LISA-7B-v1's layout: LLaMA names, ``model.mm_projector.*``, ``model.text_hidden_fcs.*``, SAM's names."""
    mllm = loaded.model.mllm
    sam = {**_sub(state, "image_encoder."), **_sub(state, "mask_decoder.")}
    joined = join_lisa_state_dict(_sub(state, "mllm.language_model."), _sub(state, "mllm.mm_projector."),
                                  _sub(state, "mllm.text_hidden_fcs."), to_segment_anything_keys(sam))
    config = lisa_config_dict(mllm.language_model.config, mllm.mm_projector.in_features, mllm.out_dim,
                              loaded.vision_tower)
    config["mm_use_im_start_end"] = loaded.use_im_start_end
    write_lisa_checkpoint(directory, config, joined, num_shards=2)
    for name in TOKENIZER_FILES:
        source = loaded.source / name
        if source.is_file():
            shutil.copyfile(source, directory / name)
