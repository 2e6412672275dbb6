"""Loading the pieces of a segmenter onto a device: CLIP, DINOv2, the multimodal LLM, SAM parts."""
from __future__ import annotations

import logging
import pathlib
from contextlib import contextmanager

import torch
from transformers import CLIPVisionModel, Dinov2Model, LlamaConfig, LlamaForCausalLM, SamConfig
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
from transformers.utils import logging as hf_logging

from .mask_decoder import PartMaskDecoder
from .module_loading import empty_weights, load_strict, local_directory
from .multimodal_llm import MultimodalLLM
from .sam_checkpoint import to_segment_anything_keys
from .sam_image_encoder import SamImageEncoder
from .tokenizer import LisaTokenizer

VISION_ENCODER_PREFIX = "vision_encoder."


@contextmanager
def quiet_transformers():
    """No load reports (they list CLIP's unused text tower; missing tensors are checked here) or progress bars."""
    previous, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity(logging.ERROR)
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(previous)
        if bars:
            hf_logging.enable_progress_bar()


def _from_pretrained(model_class, directory: pathlib.Path, device: torch.device, dtype: torch.dtype):
    with quiet_transformers():
        # Mismatched shapes are reported below, by name, instead of transformers' RuntimeError.
        model, info = model_class.from_pretrained(
            directory, dtype=dtype, local_files_only=True, output_loading_info=True, ignore_mismatched_sizes=True
        )
    missing = sorted(info["missing_keys"])
    mismatched = sorted(
        f"{name} {tuple(in_file)} in the file vs {tuple(in_config)} from config.json"
        for name, in_file, in_config in info["mismatched_keys"]
    )
    if missing or mismatched:
        raise ValueError(
            f"{directory} does not hold a complete {model_class.__name__}: {len(missing)} tensor(s) missing "
            f"{missing[:10]}, {len(mismatched)} of another shape {mismatched[:5]}: re-download the model"
        )
    return model.to(device).eval().requires_grad_(False)


def load_clip_tower(
    directory, device: torch.device, dtype: torch.dtype
) -> tuple[CLIPVisionModel, CLIPImageProcessorPil]:
    """The frozen CLIP vision tower and its image processor from a ``save_pretrained`` directory."""
    directory = local_directory(directory, "vision_tower", "CLIP ViT-L/14 (openai/clip-vit-large-patch14)")
    if not (directory / "preprocessor_config.json").is_file():
        raise ValueError(f"no preprocessor_config.json in {directory}: download the whole CLIP repository")
    tower = _from_pretrained(CLIPVisionModel, directory, device, dtype)
    return tower, CLIPImageProcessorPil.from_pretrained(directory)


def load_dinov2(directory, device: torch.device, dtype: torch.dtype) -> Dinov2Model:
    """The frozen DINOv2 backbone from a ``save_pretrained`` directory."""
    directory = local_directory(directory, "dinov2", "DINOv2 ViT-L/14 (facebook/dinov2-large)")
    return _from_pretrained(Dinov2Model, directory, device, dtype)


def build_multimodal_llm(
    llama_config: LlamaConfig,
    weights: dict[str, dict[str, torch.Tensor]],
    vision_tower: CLIPVisionModel,
    tokenizer: LisaTokenizer,
    *,
    out_dim: int,
    vision_select_layer: int,
    device: torch.device,
    dtype: torch.dtype,
    source: str,
    file_prefixes: dict[str, str],
) -> MultimodalLLM:
    """LLaMA + projector + ``text_hidden_fcs`` built empty on ``device`` and loaded strictly.

    ``weights`` maps ``llm`` / ``mm_projector`` / ``text_hidden_fcs`` to their tensors and
    ``file_prefixes`` to the prefix their names carry in the file (for error messages); the
    tokenizer must have exactly as many tokens as the embedding has rows.
    """
    if len(tokenizer) != llama_config.vocab_size:
        raise ValueError(
            f"the tokenizer has {len(tokenizer)} tokens but the LLM's embedding in {source} has "
            f"{llama_config.vocab_size} rows: use the tokenizer files shipped with the checkpoint"
        )
    expected_seg = llama_config.vocab_size - 1
    if tokenizer.seg_token_id != expected_seg:
        raise ValueError(
            f"[SEG] has id {tokenizer.seg_token_id} in the tokenizer, but LISA's [SEG] is the last of the "
            f"{llama_config.vocab_size} tokens (id {expected_seg}): use the tokenizer shipped with {source}"
        )
    with empty_weights(device, dtype):
        mllm = MultimodalLLM(
            vision_tower,
            LlamaForCausalLM(llama_config),
            seg_token_id=tokenizer.seg_token_id,
            eos_token_id=tokenizer.eos_token_id,
            out_dim=out_dim,
            vision_select_layer=vision_select_layer,
        )
    for part in ("llm", "mm_projector", "text_hidden_fcs"):
        module = mllm.language_model if part == "llm" else getattr(mllm, part)
        load_strict(module, weights[part], source, key_prefix=file_prefixes[part])
    return mllm.eval()


def segment_anything_names(module: torch.nn.Module, file_prefix: str) -> dict[str, str]:
    """transformers SAM name -> ``file_prefix`` + segment-anything name, for error messages."""
    placeholders = {name: torch.empty(0, device="meta") for name in module.state_dict()}
    owner = {id(tensor): name for name, tensor in placeholders.items()}
    converted = to_segment_anything_keys(placeholders)
    return {owner[id(tensor)]: file_prefix + name for name, tensor in converted.items()}


def _build_sam_part(module_class, sam_config: SamConfig, weights: dict[str, torch.Tensor], *, device, dtype,
                    source: str, file_prefix: str, file_uses_segment_anything_names: bool):
    with empty_weights(device, dtype):
        module = module_class.from_config(sam_config)
    if file_uses_segment_anything_names:
        load_strict(module, weights, source, file_names=segment_anything_names(module, file_prefix))
    else:
        load_strict(module, weights, source, key_prefix=file_prefix)
    return module.eval()


def build_sam_image_encoder(
    sam_config: SamConfig,
    sam_weights: dict[str, torch.Tensor],
    *,
    device,
    dtype,
    source: str,
    file_prefix: str = "",
    file_uses_segment_anything_names: bool = True,
) -> SamImageEncoder:
    """SAM's image encoder from transformers-named SAM weights (the ``vision_encoder.*`` ones).

    Error messages name tensors as the file does: ``file_prefix`` + their (segment-anything) name.
    """
    weights = {name: t for name, t in sam_weights.items() if name.startswith(VISION_ENCODER_PREFIX)}
    return _build_sam_part(SamImageEncoder, sam_config, weights, device=device, dtype=dtype, source=source,
                           file_prefix=file_prefix, file_uses_segment_anything_names=file_uses_segment_anything_names)


def build_mask_decoder(
    sam_config: SamConfig,
    sam_weights: dict[str, torch.Tensor],
    *,
    device,
    dtype,
    source: str,
    file_prefix: str = "",
    file_uses_segment_anything_names: bool = True,
) -> PartMaskDecoder:
    """Prompt encoder + mask decoder from transformers-named SAM weights (all but ``vision_encoder.*``)."""
    weights = {name: t for name, t in sam_weights.items() if not name.startswith(VISION_ENCODER_PREFIX)}
    return _build_sam_part(PartMaskDecoder, sam_config, weights, device=device, dtype=dtype, source=source,
                           file_prefix=file_prefix, file_uses_segment_anything_names=file_uses_segment_anything_names)
