"""The whole network of one kind (LISA or PISA) as one module."""
from __future__ import annotations

import pathlib
from dataclasses import dataclass

from torch import nn
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

from .multimodal_llm import MultimodalLLM
from .tokenizer import LisaTokenizer

KINDS = ("lisa", "pisa")
# Frozen towers loaded from their own directories, never stored in a LISA/PISA checkpoint.
EXTERNAL_PREFIXES = ("mllm.vision_tower.", "image_encoder.dinov2.")


class PartSegmentationModel(nn.Module):
    """MultimodalLLM ([SEG] prompt) + image encoder (SAM ViT for LISA, DINOv2 fusion for PISA) + mask decoder."""

    def __init__(self, kind: str, mllm: MultimodalLLM, image_encoder: nn.Module, mask_decoder: nn.Module):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.kind = kind
        self.mllm = mllm
        self.image_encoder = image_encoder
        self.mask_decoder = mask_decoder

    def checkpoint_state_dict(self) -> dict:
        """Every tensor a checkpoint stores: all but the frozen CLIP/DINOv2 towers."""
        return {name: t for name, t in self.state_dict().items() if not name.startswith(EXTERNAL_PREFIXES)}


@dataclass
class LoadedModel:
    """A model with what running it needs: its tokenizer, CLIP's image processor, its prompt style.

    ``source`` is the checkpoint directory, ``vision_tower``/``dinov2`` the tower directories used,
    ``provenance`` its ``provenance.json`` (None when it has none).
    """

    model: PartSegmentationModel
    tokenizer: LisaTokenizer
    clip_processor: CLIPImageProcessorPil
    use_im_start_end: bool
    source: pathlib.Path
    vision_tower: str
    dinov2: str | None = None
    provenance: dict | None = None
