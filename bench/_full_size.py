"""Full-size LISA/PISA with random weights, for benchmarks (bench/model_latency.py, bench/train_step.py).

LLaMA-7B (LISA-7B-v1's 32,004-word vocabulary) + CLIP ViT-L/14 at 224 + (DINOv2 ViT-L/14
fusion at 518 for PISA | SAM ViT-H at 1024 for LISA) + SAM's mask decoder, built with
:func:`empty_weights` (no slow random init, no float32 copy) on any device, ``meta``
included (shapes only: parameter counts and memory budgets without the memory).
The tokenizer is the tiny LLaMA-like sentencepiece one (real weights never reach a bench).
"""
from __future__ import annotations

import pathlib

import torch
from transformers import CLIPVisionConfig, CLIPVisionModel, Dinov2Config, Dinov2Model, LlamaConfig, LlamaForCausalLM
from transformers import SamConfig
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

from instructpart_ros.model.dinov2_image_encoder import DinoFusionConfig, Dinov2FusionEncoder
from instructpart_ros.model.mask_decoder import PartMaskDecoder
from instructpart_ros.model.module_loading import empty_weights
from instructpart_ros.model.multimodal_llm import MultimodalLLM
from instructpart_ros.model.part_model import LoadedModel, PartSegmentationModel
from instructpart_ros.model.sam_image_encoder import SamImageEncoder
from instructpart_ros.model.tiny import write_tiny_tokenizer

# A typical InstructPart task instruction: 14 words (the test split's human/GPT instructions: median 14.5).
INSTRUCTION = "If I want to cut the bread, which part of the knife should I hold?"

LLAMA_7B = LlamaConfig(vocab_size=32004, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                       num_attention_heads=32, max_position_embeddings=2048)
CLIP_VIT_L14 = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                                num_attention_heads=16, image_size=224, patch_size=14)
DINOV2_VIT_L14 = Dinov2Config(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, image_size=518,
                              patch_size=14)
SAM_VIT_H = SamConfig(vision_config={"hidden_size": 1280, "num_hidden_layers": 32, "num_attention_heads": 16,
                                     "global_attn_indexes": [7, 15, 23, 31], "mlp_dim": 5120})


def randomise_(model: torch.nn.Module) -> None:
    """Plausible random weights (normal 0.02, norms 1, biases 0), fast on a GPU.

    Buffers keep what their constructors computed (e.g. rotary frequencies), except SAM's
    random-Fourier matrix, which is a loaded buffer and so was left uninitialised.
    """
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.ndim == 1:
                parameter.fill_(1.0 if name.endswith("weight") else 0.0)
            else:
                parameter.normal_(0.0, 0.02)
        for name, buffer in model.named_buffers():
            if name.endswith("positional_embedding"):
                buffer.normal_(0.0, 1.0)


def full_size_model(kind: str, device: torch.device, dtype: torch.dtype, workdir: pathlib.Path,
                    fusion: DinoFusionConfig | None = None) -> LoadedModel:
    """The full-size ``kind`` ("pisa" or "lisa") with random weights on ``device``, in eval mode;
    ``fusion``: PISA's fusion layers (default: the paper's)."""
    tokenizer = write_tiny_tokenizer(workdir / "tokenizer")  # LLaMA-like pieces for the prompt's length
    with empty_weights(device, dtype):
        mllm = MultimodalLLM(CLIPVisionModel(CLIP_VIT_L14), LlamaForCausalLM(LLAMA_7B),
                             seg_token_id=tokenizer.seg_token_id, eos_token_id=tokenizer.eos_token_id)
        if kind == "pisa":
            image_encoder = Dinov2FusionEncoder(Dinov2Model(DINOV2_VIT_L14), fusion or DinoFusionConfig())
        else:
            image_encoder = SamImageEncoder.from_config(SAM_VIT_H)
        model = PartSegmentationModel(kind, mllm, image_encoder, PartMaskDecoder.from_config(SAM_VIT_H))
    randomise_(model)
    model.eval()
    return LoadedModel(model, tokenizer, CLIPImageProcessorPil(), True, workdir, "random")
