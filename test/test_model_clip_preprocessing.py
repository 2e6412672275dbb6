"""CLIP pixels: the checkpoint's processor on CPU, the same recipe with torch on the GPU."""
import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

from instructpart_ros.model.clip_preprocessing import CLIP_PROCESSOR_RESIZE, clip_pixels, clip_pixels_on_device

PROCESSOR = CLIPImageProcessorPil()  # openai/clip-vit-large-patch14's settings: shortest side 224, crop 224
GREY_LEVELS = torch.tensor(PROCESSOR.image_std).view(1, 3, 1, 1) * 255


@pytest.fixture(scope="module")
def knife(knife_dir):
    return cv2.cvtColor(cv2.imread(str(knife_dir / "color.png")), cv2.COLOR_BGR2RGB)


def test_cpu_uses_the_processor_itself(knife):
    expected = PROCESSOR(images=knife, return_tensors="pt")["pixel_values"]
    assert torch.equal(clip_pixels(knife, PROCESSOR, torch.device("cpu")), expected)


# Shortest side to 224 from below (up) and above (down), square, landscape and portrait.
@pytest.mark.parametrize(("height", "width"), [(100, 100), (500, 500), (150, 260), (260, 150), (400, 700), (700, 400)])
def test_cpu_pixels_are_the_processors_value_for_value(height, width):
    rgb = np.random.default_rng(height + width).integers(0, 256, (height, width, 3), dtype=np.uint8)
    expected = PROCESSOR(images=rgb, return_tensors="pt")["pixel_values"]
    assert torch.equal(clip_pixels(rgb, PROCESSOR, torch.device("cpu")), expected)


def test_the_gpu_path_resamples_with_the_processors_filter():
    """CLIP stays bicubic: the on-device resize mirrors the processor's own PIL filter, not SAM's bilinear."""
    assert PROCESSOR.resample == Image.Resampling.BICUBIC
    assert CLIP_PROCESSOR_RESIZE.filter == PROCESSOR.resample


WINDOWS = [(slice(None), slice(None)), (slice(None), slice(0, 700)), (slice(100, 700), slice(200, 1100))]


@pytest.mark.parametrize("window", WINDOWS)
def test_the_torch_recipe_matches_the_processor(knife, window):
    """Landscape, portrait and cropped frames: same geometry, resampling within PIL's rounding."""
    rgb = np.ascontiguousarray(knife[window])
    expected = PROCESSOR(images=rgb, return_tensors="pt")["pixel_values"]
    got = clip_pixels_on_device(rgb, PROCESSOR, torch.device("cpu"))
    assert got.shape == expected.shape == (1, 3, 224, 224)
    difference = ((got - expected) * GREY_LEVELS).abs()
    assert difference.mean() < 0.25  # grey levels
    assert (difference > 1.01).float().mean() < 0.01
