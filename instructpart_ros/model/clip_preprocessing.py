"""CLIP's input pixels: the checkpoint's own image processor, or the same steps on the GPU.

``CLIPImageProcessorPil`` (what LISA used) resizes the shortest side with PIL on the CPU,
which costs several milliseconds on a 1280x800 frame: a sixth of the per-query budget
on a GPU. On CUDA the same geometry (shortest side to ``size``, long side truncated,
centre crop) runs with torch's antialiased bicubic resize, rounded to 8 bits like PIL's,
after copying only the uint8 frame; the tests bound its difference to the processor.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

from .image_preprocessing import PilResize, normalisation_constants, rgb_to_device


def _device_path_applies(processor: CLIPImageProcessorPil, rgb: np.ndarray) -> bool:
    """The fast path covers the standard CLIP recipe on frames at least as large as the crop."""
    standard = (processor.do_resize and processor.do_center_crop and processor.do_rescale and processor.do_normalize
                and "shortest_edge" in processor.size and processor.rescale_factor == 1 / 255)
    crop = processor.crop_size
    return bool(standard) and min(rgb.shape[:2]) >= max(crop["height"], crop["width"])


# CLIPImageProcessor's resample (PIL BICUBIC in LISA's openai/clip-vit-large-patch14 processor).
CLIP_PROCESSOR_RESIZE = PilResize(Image.Resampling.BICUBIC)


def clip_pixels_on_device(
    rgb: np.ndarray, processor: CLIPImageProcessorPil, device: torch.device, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """(1, 3, crop, crop) CLIP pixel values computed with torch on ``device``."""
    height, width = rgb.shape[:2]
    short = processor.size["shortest_edge"]
    if height <= width:
        size = (short, int(short * width / height))
    else:
        size = (int(short * height / width), short)
    image = CLIP_PROCESSOR_RESIZE.with_torch(rgb_to_device(rgb, device), size)
    crop_height, crop_width = processor.crop_size["height"], processor.crop_size["width"]
    top, left = (size[0] - crop_height) // 2, (size[1] - crop_width) // 2
    image = image[:, :, top:top + crop_height, left:left + crop_width]
    mean, std = normalisation_constants(
        tuple(255.0 * value for value in processor.image_mean),
        tuple(255.0 * value for value in processor.image_std),
        image.device,
    )
    return ((image - mean) / std).to(dtype)


def clip_pixels(rgb: np.ndarray, processor: CLIPImageProcessorPil, device: torch.device) -> torch.Tensor:
    """CLIP pixel values for ``rgb``: on the GPU for CUDA devices, else the processor itself (exact)."""
    if device.type == "cuda" and _device_path_applies(processor, rgb):
        return clip_pixels_on_device(rgb, processor, device)
    return processor(images=rgb, return_tensors="pt")["pixel_values"]
