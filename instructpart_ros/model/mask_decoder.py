"""SAM's prompt encoder + mask decoder, driven by one sparse prompt embedding per query."""
from __future__ import annotations

import copy
import math

import torch
from torch import nn
from transformers import SamConfig
from transformers.models.sam.modeling_sam import SamMaskDecoder, SamPositionalEmbedding, SamPromptEncoder

from instructpart_ros.model.image_preprocessing import postprocess_masks

__all__ = ["PartMaskDecoder", "postprocess_masks"]


class PartMaskDecoder(nn.Module):
    """Image embeddings + [SEG] prompt embeddings -> low-resolution mask logits and IoU scores.

    Holds transformers' `shared_image_embedding`, `prompt_encoder` and `mask_decoder`
    under exactly the names `convert_segment_anything_keys` produces, so those converted
    SAM weights load with `load_state_dict(strict=True)`. The dense prompt is the prompt
    encoder's `no_mask_embed`, the image positional encoding is computed for whatever grid
    the embeddings have (64x64 for SAM ViT-H, the upsampled DINOv2 grid for PISA), and a
    single mask is predicted (`multimask_output=False`), as in LISA.
    """

    def __init__(self, config: SamConfig, attn_implementation: str = "sdpa"):
        super().__init__()
        decoder_config = copy.deepcopy(config.mask_decoder_config)
        decoder_config._attn_implementation = attn_implementation
        self.shared_image_embedding = SamPositionalEmbedding(config.vision_config)
        self.prompt_encoder = SamPromptEncoder(config)
        # One positional matrix, as in segment-anything and transformers' SamModel.
        self.prompt_encoder.shared_embedding = self.shared_image_embedding
        self.mask_decoder = SamMaskDecoder(decoder_config)

    @classmethod
    def from_config(cls, config: SamConfig) -> PartMaskDecoder:
        """A randomly initialised decoder of the sizes in `config` (e.g. from `sam_config_from_state_dict`)."""
        return cls(config)

    postprocess_masks = staticmethod(postprocess_masks)

    @property
    def embedding_dim(self) -> int:
        return self.prompt_encoder.no_mask_embed.weight.shape[1]

    def image_positional_encoding(self, height: int, width: int) -> torch.Tensor:
        """SAM's random-Fourier encoding of a height x width grid of cell centres -> (1, C, height, width).

        Computed in float32 (sin/cos of arguments of order 10 lose too much in bfloat16),
        returned in the decoder's dtype.
        """
        gaussian = self.shared_image_embedding.positional_embedding
        ys = (torch.arange(height, device=gaussian.device, dtype=torch.float32) + 0.5) / height
        xs = (torch.arange(width, device=gaussian.device, dtype=torch.float32) + 0.5) / width
        coords = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # (height, width, [x, y])
        angles = (2 * math.pi) * ((2 * coords - 1) @ gaussian.float())
        encoding = torch.cat([angles.sin(), angles.cos()], dim=-1)
        return encoding.permute(2, 0, 1).unsqueeze(0).to(gaussian.dtype)

    def forward(self, image_embeddings: torch.Tensor, sparse_prompt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, g, g) embeddings and (B, P, C) prompts -> logits (B, P, 4g, 4g), IoU scores (B, P).

        Each of the P prompt embeddings (P = 1 for one [SEG] token) is a separate query
        on its image.
        """
        dim = self.embedding_dim
        if image_embeddings.ndim != 4 or image_embeddings.shape[1] != dim:
            raise ValueError(
                f"expected image embeddings of shape (B, {dim}, g, g), got {tuple(image_embeddings.shape)}"
            )
        batch, _, height, width = image_embeddings.shape
        if sparse_prompt.ndim != 3 or sparse_prompt.shape[0] != batch or sparse_prompt.shape[2] != dim:
            raise ValueError(
                f"expected prompt embeddings of shape ({batch}, P, {dim}) for {batch} image(s), "
                f"got {tuple(sparse_prompt.shape)}"
            )
        dtype = self.mask_decoder.iou_token.weight.dtype
        positional = self.image_positional_encoding(height, width).expand(batch, -1, -1, -1)
        no_mask = self.prompt_encoder.no_mask_embed.weight.reshape(1, dim, 1, 1)  # broadcast, not expanded
        masks, iou_scores = self.mask_decoder(
            image_embeddings=image_embeddings.to(dtype),
            image_positional_embeddings=positional,
            sparse_prompt_embeddings=sparse_prompt.to(dtype).unsqueeze(2),  # one token per query
            dense_prompt_embeddings=no_mask,
            multimask_output=False,
        )
        return masks[:, :, 0], iou_scores[:, :, 0]
