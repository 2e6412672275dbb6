"""SAM image encoder and the shared resize / normalise / pad preprocessing."""
import numpy as np
import pytest
import torch
from PIL import Image
from transformers import SamVisionConfig

from instructpart_ros.model.image_preprocessing import check_rgb_image, preprocess_rgb, resized_shape
from instructpart_ros.model.sam_image_encoder import SAM_PIXEL_MEAN, SAM_PIXEL_STD, SamImageEncoder

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
    pre = preprocess_rgb(rgb, size=64, mean=SAM_PIXEL_MEAN, std=SAM_PIXEL_STD, device="cpu", dtype=torch.float32)
    expected = (rgb.astype(np.float32) - np.float32(SAM_PIXEL_MEAN)) / np.float32(SAM_PIXEL_STD)
    np.testing.assert_allclose(pre.pixel_values[0, :, :40].permute(1, 2, 0).numpy(), expected, atol=1e-6)


def test_resize_matches_pil_bicubic_on_real_frame(knife_dir):
    """LISA resizes with PIL (bicubic); the on-device resize stays within a grey level almost everywhere."""
    rgb = np.asarray(Image.open(knife_dir / "color.png").convert("RGB"))
    pre = preprocess_rgb(rgb, size=1024, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), device="cpu", dtype=torch.float32)
    assert pre.original_size == (800, 1280) and pre.resized_size == (640, 1024)
    ours = pre.pixel_values[0, :, :640].permute(1, 2, 0).numpy()
    pil = np.asarray(Image.fromarray(rgb).resize((1024, 640), Image.Resampling.BICUBIC), dtype=np.float32)
    difference = np.abs(ours - pil)
    assert difference.mean() < 0.5
    assert (difference > 1).mean() < 0.01
    assert np.all(ours == np.round(ours)) and ours.min() >= 0 and ours.max() <= 255  # 8-bit like PIL


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
