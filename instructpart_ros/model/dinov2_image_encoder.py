"""PISA's image features: a frozen DINOv2 with multi-layer fusion, upsampled to the SAM decoder's grid."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from transformers import Dinov2Model
from transformers.models.sam.modeling_sam import SamLayerNorm

from instructpart_ros.model.image_preprocessing import PilResize, PreprocessedImage, preprocess_rgb

# ImageNet mean/std in 0..255 units (DINOv2's normalisation).
IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)
# PISA's own choice (no released reference): the frozen DINOv2 sees images resampled as in its
# pretraining and evaluation transforms and its checkpoints' image processor, all bicubic.
DINOV2_RESIZE = PilResize(Image.Resampling.BICUBIC)

FUSION_PREFIXES = ("neck.", "upsample.")


@dataclass(frozen=True)
class DinoFusionConfig:
    """Sizes of the layers PISA trains on top of the frozen DINOv2.

    num_fused_layers: how many of the last DINOv2 blocks are fused.
    out_channels: embedding width the SAM mask decoder expects.
    input_size: square input side in pixels (a multiple of DINOv2's patch size).
    decoder_grid: side of the embedding grid given to the decoder (4x that is its mask).
    """

    num_fused_layers: int = 3
    out_channels: int = 256
    input_size: int = 518
    decoder_grid: int = 64

    def __post_init__(self):
        for name in ("num_fused_layers", "out_channels", "input_size", "decoder_grid"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"DinoFusionConfig.{name} must be a positive integer, got {value!r}")


class DinoFusionNeck(nn.Module):
    """Fuses per-layer patch tokens: Linear + LayerNorm each, softmax-weighted sum, MLP to out_channels."""

    def __init__(self, hidden_size: int, out_channels: int, num_layers: int):
        super().__init__()
        self.projections = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.LayerNorm(hidden_size)) for _ in range(num_layers)
        )
        self.fusion_logits = nn.Parameter(torch.zeros(num_layers))
        self.mlp = nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.GELU(), nn.Linear(hidden_size, out_channels))

    def layer_weights(self) -> torch.Tensor:
        """The fusion weights, softmax of the learned logits (float32, sums to 1)."""
        return self.fusion_logits.float().softmax(dim=0)

    def forward(self, layer_tokens: Sequence[torch.Tensor]) -> torch.Tensor:
        """One (B, N, D) token tensor per fused layer (oldest first) -> (B, N, out_channels)."""
        if len(layer_tokens) != len(self.projections):
            raise ValueError(f"expected tokens of {len(self.projections)} layers, got {len(layer_tokens)}")
        weights = self.layer_weights().to(layer_tokens[0].dtype)
        fused = sum(
            weight * project(tokens) for weight, project, tokens in zip(weights, self.projections, layer_tokens)
        )
        return self.mlp(fused)


class GridUpsampler(nn.Module):
    """(B, C, g, g) -> (B, C, G, G): stride-2 transposed convolutions, each followed by a bilinear resize.

    Uses the fewest doublings that reach G; after the k-th of n doublings the map is
    resized to G / 2**(n - k), so the last one lands exactly on G. A grid already at
    least G only gets the bilinear resize.
    """

    def __init__(self, channels: int, in_grid: int, out_grid: int):
        super().__init__()
        doublings = max(0, math.ceil(math.log2(out_grid / in_grid)))
        self.stage_sizes = [round(out_grid / 2 ** (doublings - k)) for k in range(1, doublings + 1)]
        self.out_grid = out_grid
        self.stages = nn.ModuleList(
            nn.Sequential(
                nn.ConvTranspose2d(channels, channels, kernel_size=2, stride=2),
                SamLayerNorm(channels, data_format="channels_first"),
            )
            for _ in range(doublings)
        )
        self.activation = nn.GELU()

    @staticmethod
    def _resize(grid: torch.Tensor, size: int) -> torch.Tensor:
        if grid.shape[-2:] == (size, size):
            return grid
        return F.interpolate(grid, (size, size), mode="bilinear", align_corners=False)

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        for index, (stage, size) in enumerate(zip(self.stages, self.stage_sizes)):
            if index:
                grid = self.activation(grid)
            grid = self._resize(stage(grid), size)
        return self._resize(grid, self.out_grid)


class Dinov2FusionEncoder(nn.Module):
    """PISA image encoder: RGB -> frozen DINOv2 -> fused last layers -> (B, out_channels, G, G).

    `dinov2.*` parameters are frozen (no gradients, always in eval mode); only the
    `neck.*` (fusion) and `upsample.*` parameters are trainable. New layers are created
    on DINOv2's device and dtype.
    """

    def __init__(self, dinov2: Dinov2Model, config: DinoFusionConfig | None = None):
        super().__init__()
        config = config or DinoFusionConfig()
        depth, patch = dinov2.config.num_hidden_layers, dinov2.config.patch_size
        if not isinstance(patch, int):
            raise ValueError(f"Dinov2FusionEncoder needs square DINOv2 patches, got patch_size={patch}")
        if config.num_fused_layers > depth:
            raise ValueError(
                f"num_fused_layers={config.num_fused_layers} but this DINOv2 has only {depth} blocks: "
                f"use at most {depth}"
            )
        if config.input_size % patch:
            raise ValueError(
                f"input_size={config.input_size} is not a multiple of DINOv2's patch size {patch}: "
                f"use e.g. {round(config.input_size / patch) * patch}"
            )
        self.config = config
        self.patch_grid = config.input_size // patch
        self.dinov2 = dinov2.requires_grad_(False).eval()
        reference = dinov2.embeddings.patch_embeddings.projection.weight
        self.neck = DinoFusionNeck(dinov2.config.hidden_size, config.out_channels, config.num_fused_layers)
        self.upsample = GridUpsampler(config.out_channels, self.patch_grid, config.decoder_grid)
        self.neck.to(reference.device, reference.dtype)
        self.upsample.to(reference.device, reference.dtype)

    def train(self, mode: bool = True) -> Dinov2FusionEncoder:
        super().train(mode)
        if not any(p.requires_grad for p in self.dinov2.parameters()):
            self.dinov2.eval()  # frozen: dropout and friends stay off while the neck trains
        return self

    def preprocess(self, rgb: np.ndarray) -> PreprocessedImage:
        """HxWx3 uint8 RGB -> longest side resized to `input_size` (bicubic), ImageNet-normalised, zero-padded.

        Training and inference both call this method, so they see the same pixels.
        """
        weight = self.dinov2.embeddings.patch_embeddings.projection.weight
        return preprocess_rgb(
            rgb,
            size=self.config.input_size,
            resize=DINOV2_RESIZE,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            device=weight.device,
            dtype=weight.dtype,
        )

    def patch_tokens(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        """Patch tokens (B, g*g, D) of the last `num_fused_layers` blocks, each through DINOv2's final norm."""
        side = self.config.input_size
        if pixel_values.ndim != 4 or tuple(pixel_values.shape[1:]) != (3, side, side):
            raise ValueError(
                f"expected pixel values of shape (B, 3, {side}, {side}) (see preprocess), "
                f"got {tuple(pixel_values.shape)}"
            )
        dtype = self.dinov2.embeddings.patch_embeddings.projection.weight.dtype
        # PISA keeps DINOv2 frozen: no graph for it. A from-scratch tiny recipe may train it.
        trains_dinov2 = torch.is_grad_enabled() and any(p.requires_grad for p in self.dinov2.parameters())
        with torch.set_grad_enabled(trains_dinov2):
            outputs = self.dinov2(pixel_values=pixel_values.to(dtype), output_hidden_states=True)
            layers = outputs.hidden_states[-self.config.num_fused_layers :]
            return [self.dinov2.layernorm(hidden[:, 1:]) for hidden in layers]  # drop the CLS token

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) pixels -> (B, out_channels, decoder_grid, decoder_grid) image embeddings."""
        fused = self.neck(self.patch_tokens(pixel_values))
        batch, _, channels = fused.shape
        grid = fused.transpose(1, 2).reshape(batch, channels, self.patch_grid, self.patch_grid)
        return self.upsample(grid)

    def fusion_state_dict(self) -> dict[str, torch.Tensor]:
        """The trainable weights only (`neck.*`, `upsample.*`): what a PISA checkpoint stores."""
        return {key: value for key, value in self.state_dict().items() if key.startswith(FUSION_PREFIXES)}

    def load_fusion_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Load `neck.*` / `upsample.*` weights strictly: missing or unexpected names raise a `ValueError`."""
        expected = set(self.fusion_state_dict())
        missing, unexpected = sorted(expected - set(state_dict)), sorted(set(state_dict) - expected)
        if missing or unexpected:
            raise ValueError(f"DINOv2 fusion weights do not match: missing {missing}, unexpected {unexpected}")
        self.load_state_dict(state_dict, strict=False)
