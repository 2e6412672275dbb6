"""PISA's frozen DINOv2 + multi-layer fusion + upsampling to the SAM decoder grid."""
import numpy as np
import pytest
import torch
from PIL import Image
from transformers import Dinov2Config, Dinov2Model

from instructpart_ros.model.dinov2_image_encoder import (
    DINOV2_RESIZE,
    IMAGENET_MEAN,
    IMAGENET_STD,
    DinoFusionConfig,
    Dinov2FusionEncoder,
)
from instructpart_ros.model.image_preprocessing import resized_shape

TINY_DINO = Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
                         image_size=518, patch_size=14)


def _encoder(config=None, seed=0):
    torch.manual_seed(seed)
    return Dinov2FusionEncoder(Dinov2Model(TINY_DINO), config)


@pytest.fixture(scope="module")
def encoder():
    return _encoder()


@pytest.fixture(scope="module")
def pixels(encoder):
    rgb = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    return encoder.preprocess(rgb).pixel_values


def test_default_output_is_the_decoder_grid(encoder, pixels):
    assert pixels.shape == (1, 3, 518, 518)
    with torch.no_grad():
        embeddings = encoder(pixels)
    assert embeddings.shape == (1, 256, 64, 64) and embeddings.dtype == torch.float32
    assert encoder.patch_grid == 37 and len(encoder.upsample.stages) == 1


@pytest.mark.parametrize(
    ("input_size", "decoder_grid", "stages"), [(224, 64, 2), (448, 64, 1), (602, 64, 1), (224, 16, 0), (294, 50, 2)]
)
def test_other_input_sizes_reach_the_decoder_grid(input_size, decoder_grid, stages):
    encoder = _encoder(DinoFusionConfig(input_size=input_size, decoder_grid=decoder_grid, out_channels=64))
    rgb = np.random.default_rng(1).integers(0, 256, (60, 90, 3), dtype=np.uint8)
    pre = encoder.preprocess(rgb)
    assert pre.pixel_values.shape == (1, 3, input_size, input_size)
    with torch.no_grad():
        assert encoder(pre.pixel_values).shape == (1, 64, decoder_grid, decoder_grid)
    assert len(encoder.upsample.stages) == stages


def test_preprocess_uses_imagenet_statistics(encoder):
    colour = np.array([250, 0, 128], np.uint8)
    pre = encoder.preprocess(np.broadcast_to(colour, (518, 259, 3)).copy())
    assert pre.resized_size == (518, 259)
    expected = (colour - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(pre.pixel_values[0, :, 100, 100].numpy(), expected, atol=1e-5)
    assert pre.pixel_values[0, :, :, 259:].abs().max() == 0


def pil_bicubic(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """DINOv2's own resampling (its transforms and image processor): PIL BICUBIC."""
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.BICUBIC))


# Up- and downscaling to 518 px, square, landscape and portrait.
@pytest.mark.parametrize(("height", "width"), [(100, 100), (800, 800), (300, 400), (400, 300), (800, 1280), (900, 600)])
def test_dinov2_path_is_pil_bicubic_value_for_value(encoder, height, width):
    rgb = np.random.default_rng(height * width).integers(0, 256, (height, width, 3), dtype=np.uint8)
    pre = encoder.preprocess(rgb)
    new_h, new_w = resized_shape(height, width, 518)
    resized = torch.from_numpy(pil_bicubic(rgb, new_h, new_w)).permute(2, 0, 1)
    normalised = (resized - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(3, 1, 1)
    assert torch.equal(pre.pixel_values[0], torch.nn.functional.pad(normalised, (0, 518 - new_w, 0, 518 - new_h)))


def test_dinov2_gpu_path_stays_close_to_pil_bicubic(knife_dir):
    """The CUDA arithmetic on CPU tensors: PIL also clips between its passes, so a few edge values differ more."""
    rgb = np.asarray(Image.open(knife_dir / "color.png").convert("RGB"))
    ours = DINOV2_RESIZE.with_torch(torch.from_numpy(rgb).permute(2, 0, 1)[None].float(), (324, 518))
    difference = np.abs(ours[0].permute(1, 2, 0).numpy() - pil_bicubic(rgb, 324, 518))
    assert difference.mean() < 0.25  # measured 0.14
    assert (difference > 1).mean() < 0.01  # measured 0.3 %


def test_dinov2_is_frozen_and_only_fusion_layers_train():
    encoder = _encoder().train()
    assert encoder.training and encoder.neck.training and encoder.upsample.training
    assert not encoder.dinov2.training
    assert not any(module.training for module in encoder.dinov2.modules())
    trainable = [name for name, parameter in encoder.named_parameters() if parameter.requires_grad]
    assert trainable and all(name.startswith(("neck.", "upsample.")) for name in trainable)
    assert not any(parameter.requires_grad for parameter in encoder.dinov2.parameters())

    pixels = encoder.preprocess(np.full((50, 50, 3), 90, np.uint8)).pixel_values
    encoder(pixels).square().mean().backward()
    assert all(encoder.get_parameter(name).grad is not None for name in trainable)
    assert all(parameter.grad is None for parameter in encoder.dinov2.parameters())


def test_patch_tokens_are_the_last_layers_after_the_final_norm(encoder, pixels):
    with torch.no_grad():
        tokens = encoder.patch_tokens(pixels)
        outputs = encoder.dinov2(pixel_values=pixels, output_hidden_states=True)
    assert len(tokens) == 3 and all(t.shape == (1, 37 * 37, 32) for t in tokens)
    torch.testing.assert_close(tokens[-1], outputs.last_hidden_state[:, 1:])
    torch.testing.assert_close(tokens[0], encoder.dinov2.layernorm(outputs.hidden_states[-3])[:, 1:])


def _single_layer_path(encoder, tokens, layer):
    neck = encoder.neck
    fused = neck.mlp(neck.projections[layer](tokens[layer]))
    grid = fused.transpose(1, 2).reshape(1, -1, 37, 37)
    return encoder.upsample(grid)


def test_fusion_weights_are_a_softmax(pixels):
    encoder = _encoder()
    torch.testing.assert_close(encoder.neck.layer_weights(), torch.full((3,), 1 / 3))
    with torch.no_grad():
        tokens = encoder.patch_tokens(pixels)
        encoder.neck.fusion_logits.copy_(torch.tensor([0.0, 0.0, 40.0]))
        torch.testing.assert_close(encoder.neck.layer_weights(), torch.tensor([0.0, 0.0, 1.0]))
        torch.testing.assert_close(encoder(pixels), _single_layer_path(encoder, tokens, 2), atol=1e-5, rtol=0)
        encoder.neck.fusion_logits.copy_(torch.tensor([40.0, 0.0, 0.0]))
        torch.testing.assert_close(encoder(pixels), _single_layer_path(encoder, tokens, 0), atol=1e-5, rtol=0)
        assert not torch.allclose(encoder(pixels), _single_layer_path(encoder, tokens, 2), atol=1e-3)


def test_fusion_weights_save_and_load_separately_from_dinov2(encoder, pixels):
    weights = encoder.fusion_state_dict()
    assert weights and all(name.startswith(("neck.", "upsample.")) for name in weights)
    assert "neck.fusion_logits" in weights and "upsample.stages.0.0.weight" in weights
    other = _encoder(seed=1)
    other.dinov2.load_state_dict(encoder.dinov2.state_dict())
    with torch.no_grad():
        assert not torch.allclose(other(pixels), encoder(pixels))
        other.load_fusion_state_dict(weights)
        torch.testing.assert_close(other(pixels), encoder(pixels))
    incomplete = {k: v for k, v in weights.items() if k != "neck.fusion_logits"}
    with pytest.raises(ValueError, match=r"missing \['neck.fusion_logits'\], unexpected \[\]"):
        other.load_fusion_state_dict(incomplete)


def test_runs_in_bfloat16(encoder, pixels):
    half = Dinov2FusionEncoder(Dinov2Model(TINY_DINO).to(torch.bfloat16))
    assert half.neck.mlp[0].weight.dtype == torch.bfloat16  # new layers follow DINOv2's dtype
    half.load_state_dict({k: v.to(torch.bfloat16) for k, v in encoder.state_dict().items()})
    pre = half.preprocess(np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8))
    assert pre.pixel_values.dtype == torch.bfloat16
    with torch.no_grad():
        low, full = half(pre.pixel_values), encoder(pixels)
    assert low.dtype == torch.bfloat16 and low.shape == (1, 256, 64, 64)
    torch.testing.assert_close(low.float(), full, atol=0.15, rtol=0.05)


def test_bad_configurations_and_inputs_are_refused(encoder):
    with pytest.raises(ValueError, match="num_fused_layers=5 but this DINOv2 has only 4 blocks: use at most 4"):
        _encoder(DinoFusionConfig(num_fused_layers=5))
    with pytest.raises(ValueError, match="input_size=500 is not a multiple of DINOv2's patch size 14: use e.g. 504"):
        _encoder(DinoFusionConfig(input_size=500))
    with pytest.raises(ValueError, match="DinoFusionConfig.out_channels must be a positive integer, got 0"):
        DinoFusionConfig(out_channels=0)
    with pytest.raises(ValueError, match=r"shape \(B, 3, 518, 518\) \(see preprocess\), got \(1, 3, 224, 224\)"):
        encoder(torch.zeros(1, 3, 224, 224))
