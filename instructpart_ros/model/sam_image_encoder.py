"""LISA's image features: SAM's ViT image encoder (transformers' `SamVisionEncoder`)."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn
from transformers import SamConfig, SamVisionConfig
from transformers.models.sam.modeling_sam import SamVisionEncoder

from instructpart_ros.model.image_preprocessing import PilResize, PreprocessedImage, preprocess_rgb

SAM_PIXEL_MEAN = (123.675, 116.28, 103.53)
SAM_PIXEL_STD = (58.395, 57.12, 57.375)
# segment-anything's ResizeLongestSide.apply_image, which LISA's chat.py, ValDataset and training
# use: torchvision's resize of a PIL image with its default InterpolationMode.BILINEAR.
SEGMENT_ANYTHING_RESIZE = PilResize(Image.Resampling.BILINEAR)


class SamImageEncoder(nn.Module):
    """SAM image encoder: square RGB input -> (B, C, g, g) embeddings for the mask decoder.

    Its parameters are named `vision_encoder.*`, exactly the transformers names that
    `convert_segment_anything_keys` produces, so the converted SAM weights under that
    prefix load with `load_state_dict(strict=True)`.
    """

    def __init__(self, vision_encoder: SamVisionEncoder):
        super().__init__()
        self.vision_encoder = vision_encoder
        image_size = vision_encoder.config.image_size
        if not isinstance(image_size, int):
            raise ValueError(f"SamImageEncoder needs a square input size, got image_size={image_size}")
        self.image_size = image_size

    @classmethod
    def from_config(cls, config: SamConfig | SamVisionConfig) -> SamImageEncoder:
        """A randomly initialised encoder of the given sizes (build under `torch.device("meta")` to skip init)."""
        vision_config = config.vision_config if isinstance(config, SamConfig) else config
        return cls(SamVisionEncoder(vision_config))

    def preprocess(self, rgb: np.ndarray) -> PreprocessedImage:
        """HxWx3 uint8 RGB -> longest side resized as segment-anything does, SAM-normalised, zero-padded."""
        weight = self.vision_encoder.patch_embed.projection.weight
        return preprocess_rgb(
            rgb, size=self.image_size, resize=SEGMENT_ANYTHING_RESIZE, mean=SAM_PIXEL_MEAN, std=SAM_PIXEL_STD,
            device=weight.device, dtype=weight.dtype,
        )

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) pixels -> (B, output_channels, S / patch, S / patch) image embeddings."""
        dtype = self.vision_encoder.patch_embed.projection.weight.dtype
        return self.vision_encoder(pixel_values.to(dtype)).last_hidden_state
