"""SAM image encoder and the shared resize / normalise / pad preprocessing."""
import numpy as np
import pytest
import torch
from PIL import Image
from transformers import SamVisionConfig

from instructpart_ros.model.image_preprocessing import PilResize, check_rgb_image, preprocess_rgb, resized_shape
from instructpart_ros.model.sam_image_encoder import (
    SAM_PIXEL_MEAN,
    SAM_PIXEL_STD,
    SEGMENT_ANYTHING_RESIZE,
    SamImageEncoder,
)

TINY_VISION = SamVisionConfig(hidden_size=24, num_hidden_layers=2, num_attention_heads=2, image_size=64,
                              patch_size=8, window_size=4, global_attn_indexes=[1], output_channels=32)


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return SamImageEncoder.from_config(TINY_VISION).eval()


@pytest.mark.parametrize(
    ("height", "width", "side", "expected"),
    [(800, 1280, 1024, (640, 1024)), (1280, 800, 1024, (1024, 640)), (1024, 1024, 1024, (1024, 1024)),
     (333, 500, 518, (345, 518)), (1, 5000, 1024, (1, 1024)), (7, 3, 64, (64, 27))],
)
def test_resized_shape_follows_segment_anything_rounding(height, width, side, expected):
    assert resized_shape(height, width, side) == expected


@pytest.mark.parametrize(("height", "width"), [(30, 50), (50, 30), (64, 64), (20, 20), (1, 90)])
def test_preprocess_pads_bottom_right_with_zeros(encoder, height, width):
    """A constant-colour image: the content region holds its normalised colour, the padding exactly 0."""
    colour = np.array([10, 200, 30], dtype=np.uint8)
    pre = encoder.preprocess(np.broadcast_to(colour, (height, width, 3)).copy())
    new_h, new_w = resized_shape(height, width, 64)
    assert pre.pixel_values.shape == (1, 3, 64, 64) and pre.pixel_values.dtype == torch.float32
    assert (pre.original_size, pre.resized_size, pre.padded_size) == ((height, width), (new_h, new_w), 64)
    normalised = (colour - np.array(SAM_PIXEL_MEAN)) / np.array(SAM_PIXEL_STD)
    content = pre.pixel_values[0, :, :new_h, :new_w]
    torch.testing.assert_close(content, torch.tensor(normalised, dtype=torch.float32).view(3, 1, 1).expand_as(content))
    padding = pre.pixel_values[0].clone()
    padding[:, :new_h, :new_w] = 1.0
    assert torch.count_nonzero(padding == 0) == 3 * (64 * 64 - new_h * new_w)


def test_unresized_image_is_normalised_exactly():
    rgb = np.random.default_rng(0).integers(0, 256, (40, 64, 3), dtype=np.uint8)
    pre = preprocess_rgb(rgb, size=64, resize=SEGMENT_ANYTHING_RESIZE, mean=SAM_PIXEL_MEAN, std=SAM_PIXEL_STD,
                         device="cpu", dtype=torch.float32)
    expected = (rgb.astype(np.float32) - np.float32(SAM_PIXEL_MEAN)) / np.float32(SAM_PIXEL_STD)
    np.testing.assert_allclose(pre.pixel_values[0, :, :40].permute(1, 2, 0).numpy(), expected, atol=1e-6)


def pil_bilinear(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """LISA's SAM-path resize: segment-anything's ResizeLongestSide calls torchvision's resize on a PIL
    image, i.e. `Image.resize((w, h), BILINEAR)` (torchvision's default interpolation)."""
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.BILINEAR))


def noise(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


# Up- and downscaling, square, landscape and portrait, to the tiny encoder's 64 px.
SHAPES = [(20, 20), (200, 200), (30, 50), (50, 30), (150, 90), (90, 151), (1, 90)]


@pytest.mark.parametrize(("height", "width"), SHAPES)
def test_sam_path_is_pil_bilinear_value_for_value(encoder, height, width):
    """The encoder's preprocess is exactly LISA's: PIL BILINEAR, then (x - mean) / std, then zero padding."""
    rgb = noise(height, width)
    pre = encoder.preprocess(rgb)
    new_h, new_w = resized_shape(height, width, 64)
    resized = torch.from_numpy(pil_bilinear(rgb, new_h, new_w)).permute(2, 0, 1)
    normalised = (resized - torch.tensor(SAM_PIXEL_MEAN).view(3, 1, 1)) / torch.tensor(SAM_PIXEL_STD).view(3, 1, 1)
    expected = torch.nn.functional.pad(normalised, (0, 64 - new_w, 0, 64 - new_h))
    assert torch.equal(pre.pixel_values[0], expected)


KNIFE_WINDOWS = {"landscape, down": (slice(None), slice(None)), "portrait, up": (slice(None), slice(0, 700))}


@pytest.fixture(scope="module")
def knife(knife_dir):
    return np.asarray(Image.open(knife_dir / "color.png").convert("RGB"))


def _raw_sam_pixels(rgb: np.ndarray) -> np.ndarray:
    """The resized content of the SAM ViT-H (1024 px) input, before normalisation, as HxWx3."""
    pre = preprocess_rgb(rgb, size=1024, resize=SEGMENT_ANYTHING_RESIZE, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
                         device="cpu", dtype=torch.float32)
    height, width = pre.resized_size
    return pre.pixel_values[0, :, :height, :width].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("window", KNIFE_WINDOWS.values(), ids=KNIFE_WINDOWS.keys())
def test_sam_path_on_the_real_frame_is_pil_bilinear(knife, window):
    """HxW 800x1280 -> 640x1024 and 800x700 -> 1024x896: every value is PIL's (bicubic was off by up to 26)."""
    rgb = np.ascontiguousarray(knife[window])
    ours = _raw_sam_pixels(rgb)
    expected = pil_bilinear(rgb, *ours.shape[:2])
    assert ours.shape[:2] in {(640, 1024), (1024, 896)}
    np.testing.assert_array_equal(ours, expected)


@pytest.mark.parametrize("window", KNIFE_WINDOWS.values(), ids=KNIFE_WINDOWS.keys())
def test_gpu_path_is_within_one_grey_level_of_pil_bilinear(knife, window):
    """The CUDA path's arithmetic (torch's antialiased bilinear, rounded), run on CPU tensors."""
    rgb = np.ascontiguousarray(knife[window])
    height, width = resized_shape(*rgb.shape[:2], 1024)
    image = torch.from_numpy(rgb).permute(2, 0, 1)[None].float()
    ours = SEGMENT_ANYTHING_RESIZE.with_torch(image, (height, width))[0].permute(1, 2, 0).numpy()
    difference = np.abs(ours - pil_bilinear(rgb, height, width))
    assert difference.max() <= 1
    assert difference.mean() < 0.25  # measured 0.16-0.17
    assert np.all(ours == np.round(ours)) and ours.min() >= 0 and ours.max() <= 255


@pytest.mark.parametrize(("height", "width"), SHAPES)
def test_gpu_path_is_within_one_grey_level_of_pil_bilinear_when_scaling_up_and_down(height, width):
    rgb = noise(height, width, seed=1)
    size = resized_shape(height, width, 64)
    ours = SEGMENT_ANYTHING_RESIZE.with_torch(torch.from_numpy(rgb).permute(2, 0, 1)[None].float(), size)
    assert np.abs(ours[0].permute(1, 2, 0).numpy() - pil_bilinear(rgb, *size)).max() <= 1


def test_only_filters_with_a_torch_counterpart_are_accepted():
    with pytest.raises(ValueError, match="supports the PIL filters BILINEAR, BICUBIC, got .*LANCZOS"):
        PilResize(Image.Resampling.LANCZOS)


@pytest.mark.parametrize(
    ("image", "error", "message"),
    [
        (np.zeros((8, 8), np.uint8), ValueError, r"shape \(H, W, 3\), got shape \(8, 8\)"),
        (np.zeros((8, 8, 4), np.uint8), ValueError, r"got shape \(8, 8, 4\): convert grayscale/RGBA"),
        (np.zeros((8, 8, 3), np.float32), ValueError, "dtype uint8, got float32: scale float images"),
        (np.zeros((0, 8, 3), np.uint8), ValueError, "non-empty image"),
        ([[0, 0, 0]], TypeError, "numpy array .* got list"),
    ],
)
def test_bad_images_are_refused_with_the_fix(image, error, message):
    with pytest.raises(error, match=message):
        check_rgb_image(image)


def test_encoder_output_shape_and_non_square_input(encoder):
    rgb = np.random.default_rng(1).integers(0, 256, (48, 80, 3), dtype=np.uint8)
    pre = encoder.preprocess(rgb)
    with torch.no_grad():
        embeddings = encoder(pre.pixel_values)
    assert embeddings.shape == (1, 32, 8, 8) and embeddings.dtype == torch.float32
    assert sorted(k.split(".")[0] for k in encoder.state_dict()) == ["vision_encoder"] * len(encoder.state_dict())


def test_encoder_runs_in_bfloat16(encoder):
    half = SamImageEncoder.from_config(TINY_VISION).eval()
    half.load_state_dict(encoder.state_dict())
    half.to(torch.bfloat16)
    rgb = np.random.default_rng(2).integers(0, 256, (64, 40, 3), dtype=np.uint8)
    pre = half.preprocess(rgb)
    assert pre.pixel_values.dtype == torch.bfloat16
    with torch.no_grad():
        low, full = half(pre.pixel_values), encoder(encoder.preprocess(rgb).pixel_values)
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), full, atol=0.1, rtol=0.05)
