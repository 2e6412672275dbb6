"""Which weights train: LoRA adapters on the LLM (``peft``), plus whole modules by name.

Everything starts frozen; the recipe's flags unfreeze module groups and ``peft`` adds
LoRA to the LLM's attention projections. Parameters the loss never reaches (SAM's
multi-mask heads, CLIP's layers above the one LISA reads, ...) are found with one
backward pass and frozen again, so every trainable tensor really trains and DDP needs
no unused-parameter search.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from peft import LoraConfig, inject_adapter_in_model

from instructpart_ros.model.part_model import PartSegmentationModel

from .recipe import TrainableRecipe

LOG = logging.getLogger(__name__)
LORA_MARKER = "lora_"
ADAPTER_NAME = "default"


def _groups(model: PartSegmentationModel) -> dict[str, list[torch.nn.Module]]:
    mllm, encoder = model.mllm, model.image_encoder
    llm = mllm.language_model
    groups = {
        "llm": [llm],
        "lm_head_embed_tokens": [llm.lm_head, llm.get_input_embeddings()],
        "text_hidden_fcs": [mllm.text_hidden_fcs],
        "mask_decoder": [model.mask_decoder.mask_decoder],  # SAM's decoder; the prompt encoder stays frozen (LISA)
        "mm_projector": [mllm.mm_projector],
        "vision_tower": [mllm.vision_tower],
    }
    if model.kind == "pisa":
        groups["image_fusion"] = [encoder.neck, encoder.upsample]
        groups["dinov2"] = [encoder.dinov2]
    else:
        groups["sam_image_encoder"] = [encoder]
    return groups


def add_lora(model: PartSegmentationModel, recipe: TrainableRecipe) -> None:
    """Inject LoRA adapters (``peft``) into the LLM's ``target_modules``, in place."""
    lora = recipe.lora
    config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                        target_modules=list(lora.target_modules), bias="none")
    inject_adapter_in_model(config, model.mllm.language_model, adapter_name=ADAPTER_NAME)


def configure_trainable(model: PartSegmentationModel, recipe: TrainableRecipe) -> list[str]:
    """Freeze everything, add LoRA, unfreeze the recipe's groups; the trainable parameter names."""
    model.requires_grad_(False)
    if recipe.lora is not None:
        add_lora(model, recipe)
        for name, parameter in model.named_parameters():
            if LORA_MARKER in name:
                parameter.requires_grad_(True)
    groups = _groups(model)
    for group, modules in groups.items():
        if getattr(recipe, group, False):
            for module in modules:
                module.requires_grad_(True)
    wanted = [name for name in ("image_fusion", "dinov2") if getattr(recipe, name) and name not in groups]
    if wanted and model.kind == "lisa":
        LOG.warning("trainable.%s applies to PISA only; ignored for LISA", ", ".join(wanted))
    names = trainable_names(model)
    if not names:
        raise ValueError("the recipe trains nothing: enable trainable.lora or some trainable.* group")
    return names


def trainable_names(model: torch.nn.Module) -> list[str]:
    return [name for name, parameter in model.named_parameters() if parameter.requires_grad]


def freeze_unreached(model: torch.nn.Module) -> list[str]:
    """After one backward pass: freeze trainable parameters the loss does not reach; their names.

    Unreached = no gradient, or an all-zero one (SAM computes its unused multi-mask heads and
    then drops them). LoRA's ``A`` matrices are exempt: their first gradient is exactly zero
    because ``B`` starts at zero.
    """
    unreached = [name for name, p in model.named_parameters()
                 if p.requires_grad and LORA_MARKER not in name and (p.grad is None or not p.grad.any())]
    for name, parameter in model.named_parameters():
        if name in unreached:
            parameter.requires_grad_(False)
        parameter.grad = None
    if unreached:
        modules = sorted({name.rsplit(".", 2)[0] for name in unreached})
        LOG.info("%d tensor(s) the loss does not reach stay frozen, in %s", len(unreached), ", ".join(modules))
    return unreached


def float32_trainables(model: torch.nn.Module) -> None:
    """Trainable weights in float32 (optimizer precision); frozen ones keep the load dtype."""
    for parameter in model.parameters():
        if parameter.requires_grad and parameter.dtype != torch.float32:
            parameter.data = parameter.data.float()


@dataclass(frozen=True)
class ParameterCount:
    trainable: int
    total: int

    def __str__(self) -> str:
        return f"{self.trainable:,} of {self.total:,} parameters train ({100 * self.trainable / self.total:.2f}%)"


def count_parameters(model: torch.nn.Module) -> ParameterCount:
    parameters = list(model.parameters())
    return ParameterCount(sum(p.numel() for p in parameters if p.requires_grad), sum(p.numel() for p in parameters))
