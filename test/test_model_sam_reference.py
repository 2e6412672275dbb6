"""The segment-anything -> transformers mapping against segment-anything itself.

segment-anything's package `__init__` imports torchvision (not installable here), so the
test registers an empty stand-in package pointing at the installed directory and
imports only its `modeling` and `build_sam` submodules, which need nothing but torch.
"""
import functools
import importlib.util
import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import SamModel

from instructpart_ros.model.mask_decoder import PartMaskDecoder
from instructpart_ros.model.sam_checkpoint import convert_segment_anything_keys, sam_config_from_state_dict
from instructpart_ros.model.sam_image_encoder import SamImageEncoder

TOLERANCE = 1e-5
TINY = dict(image_size=64, patch_size=8, hidden=32, depth=4, heads=2, window=4, global_attn=[1, 3], mlp_ratio=3,
            prompt_dim=32, mask_in_chans=8, decoder_depth=2, decoder_mlp=48, iou_hidden=40)


@pytest.fixture(scope="module")
def segment_anything():
    spec = importlib.util.find_spec("segment_anything")
    if spec is None:
        pytest.fail("segment-anything is not installed: pip install segment-anything (test dependency)")
    stand_in = types.ModuleType("segment_anything")
    stand_in.__path__ = list(spec.submodule_search_locations)
    saved = {name: module for name, module in sys.modules.items() if name.split(".")[0] == "segment_anything"}
    for name in saved:
        del sys.modules[name]
    sys.modules["segment_anything"] = stand_in
    try:
        modeling = importlib.import_module("segment_anything.modeling")
        build_sam = importlib.import_module("segment_anything.build_sam")
        yield types.SimpleNamespace(modeling=modeling, build_sam=build_sam)
    finally:
        for name in [name for name in sys.modules if name.split(".")[0] == "segment_anything"]:
            del sys.modules[name]
        sys.modules.update(saved)


@pytest.fixture(scope="module")
def reference_sam(segment_anything):
    """A tiny segment-anything SAM with every tensor randomised (1-D ones around their init)."""
    sa = segment_anything.modeling
    t = TINY
    grid = t["image_size"] // t["patch_size"]
    torch.manual_seed(0)
    sam = sa.Sam(
        image_encoder=sa.ImageEncoderViT(
            img_size=t["image_size"], patch_size=t["patch_size"], embed_dim=t["hidden"], depth=t["depth"],
            num_heads=t["heads"], mlp_ratio=t["mlp_ratio"], out_chans=t["prompt_dim"], qkv_bias=True,
            norm_layer=functools.partial(torch.nn.LayerNorm, eps=1e-6), use_rel_pos=True,
            window_size=t["window"], global_attn_indexes=t["global_attn"],
        ),
        prompt_encoder=sa.PromptEncoder(
            embed_dim=t["prompt_dim"], image_embedding_size=(grid, grid),
            input_image_size=(t["image_size"], t["image_size"]), mask_in_chans=t["mask_in_chans"],
        ),
        mask_decoder=sa.MaskDecoder(
            num_multimask_outputs=3,
            transformer=sa.TwoWayTransformer(depth=t["decoder_depth"], embedding_dim=t["prompt_dim"],
                                             mlp_dim=t["decoder_mlp"], num_heads=8),
            transformer_dim=t["prompt_dim"], iou_head_depth=3, iou_head_hidden_dim=t["iou_hidden"],
        ),
    ).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, tensor in sam.state_dict().items():
            noise = 0.2 * torch.randn(tensor.shape, generator=generator)
            tensor.copy_(tensor + noise if tensor.ndim == 1 else noise)
    return sam


@pytest.fixture(scope="module")
def resize_longest_side(segment_anything):
    """segment-anything's own `ResizeLongestSide`, on the two torchvision functions it calls.

    torchvision cannot be installed here; its source gives, for a uint8 HxWx3 array,
    `to_pil_image` = an RGB PIL image and `resize(image, [h, w])` with the default
    InterpolationMode.BILINEAR = `image.resize((w, h), Image.BILINEAR)`.
    """
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.to_pil_image = Image.fromarray
    functional.resize = lambda image, size: image.resize(tuple(size[::-1]), Image.Resampling.BILINEAR)
    stand_ins = {"torchvision": types.ModuleType("torchvision"),
                 "torchvision.transforms": types.ModuleType("torchvision.transforms"),
                 "torchvision.transforms.functional": functional}
    saved = {name: sys.modules.pop(name) for name in stand_ins if name in sys.modules}
    sys.modules.update(stand_ins)
    try:
        return importlib.import_module("segment_anything.utils.transforms").ResizeLongestSide
    finally:
        for name in stand_ins:
            del sys.modules[name]
        sys.modules.update(saved)


@pytest.fixture(scope="module")
def converted(reference_sam):
    state_dict = reference_sam.state_dict()
    return sam_config_from_state_dict(state_dict), convert_segment_anything_keys(state_dict)


def _part(weights, prefix, keep=True):
    return {key: value for key, value in weights.items() if key.startswith(prefix) == keep}


def test_config_recovers_every_size_of_tiny_sam(converted):
    config, _ = converted
    vision, prompt, decoder = config.vision_config, config.prompt_encoder_config, config.mask_decoder_config
    t = TINY
    assert (vision.hidden_size, vision.num_hidden_layers, vision.num_attention_heads) == (
        t["hidden"], t["depth"], t["heads"])
    assert list(vision.global_attn_indexes) == t["global_attn"]
    assert (vision.window_size, vision.image_size, vision.patch_size) == (t["window"], t["image_size"], t["patch_size"])
    assert (vision.mlp_dim, vision.output_channels, vision.num_pos_feats) == (
        t["hidden"] * t["mlp_ratio"], t["prompt_dim"], t["prompt_dim"] // 2)
    assert vision.qkv_bias is True
    assert (prompt.hidden_size, prompt.mask_input_channels, prompt.num_point_embeddings) == (
        t["prompt_dim"], t["mask_in_chans"], 4)
    assert prompt.image_embedding_size == t["image_size"] // t["patch_size"]
    assert (decoder.hidden_size, decoder.num_hidden_layers, decoder.mlp_dim) == (
        t["prompt_dim"], t["decoder_depth"], t["decoder_mlp"])
    assert (decoder.num_attention_heads, decoder.attention_downsample_rate, decoder.num_multimask_outputs) == (8, 2, 3)
    assert (decoder.iou_head_depth, decoder.iou_head_hidden_dim, decoder.layer_norm_eps) == (3, t["iou_hidden"], 1e-5)


def test_image_encoder_matches_segment_anything(reference_sam, converted):
    config, weights = converted
    encoder = SamImageEncoder.from_config(config).eval()
    encoder.load_state_dict(_part(weights, "vision_encoder."), strict=True)
    pixels = torch.randn(2, 3, TINY["image_size"], TINY["image_size"], generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = reference_sam.image_encoder(pixels)
        actual = encoder(pixels)
    assert actual.shape == (2, TINY["prompt_dim"], 8, 8)
    assert expected.abs().mean() > 0.1  # a real signal, not all zeros
    torch.testing.assert_close(actual, expected, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize(("height", "width"), [(20, 20), (200, 200), (30, 50), (50, 30), (150, 90), (90, 151)])
def test_preprocess_is_lisas_resize_longest_side_then_sam_preprocess(reference_sam, converted, resize_longest_side,
                                                                     height, width):
    """As LISA's chat.py: `ResizeLongestSide(S).apply_image`, then `Sam.preprocess` (normalise, pad): exactly."""
    rgb = np.random.default_rng(height * width).integers(0, 256, (height, width, 3), dtype=np.uint8)
    resized = resize_longest_side(TINY["image_size"]).apply_image(rgb)
    expected = reference_sam.preprocess(torch.from_numpy(resized).permute(2, 0, 1).contiguous()[None])
    pre = SamImageEncoder.from_config(converted[0]).preprocess(rgb)
    assert pre.resized_size == resized.shape[:2]
    assert torch.equal(pre.pixel_values, expected)


def test_part_mask_decoder_matches_segment_anything(reference_sam, converted):
    """Same image embeddings and sparse prompt, multimask_output=False, as LISA calls SAM."""
    config, weights = converted
    decoder = PartMaskDecoder.from_config(config).eval()
    decoder.load_state_dict(_part(weights, "vision_encoder.", keep=False), strict=True)
    generator = torch.Generator().manual_seed(3)
    embeddings = torch.randn(2, TINY["prompt_dim"], 8, 8, generator=generator)
    prompts = torch.randn(2, 1, TINY["prompt_dim"], generator=generator)
    sa = reference_sam
    with torch.no_grad():
        sparse, dense = sa.prompt_encoder(points=None, boxes=None, masks=None)
        expected = [
            sa.mask_decoder(
                image_embeddings=embeddings[i : i + 1],
                image_pe=sa.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=torch.cat([sparse, prompts[i : i + 1]], dim=1),
                dense_prompt_embeddings=dense,
                multimask_output=False,
            )
            for i in range(2)
        ]
        logits, scores = decoder(embeddings, prompts)
    assert logits.shape == (2, 1, 32, 32) and scores.shape == (2, 1)
    torch.testing.assert_close(logits, torch.cat([e[0] for e in expected]), atol=TOLERANCE, rtol=0)
    torch.testing.assert_close(scores, torch.cat([e[1] for e in expected]), atol=TOLERANCE, rtol=0)
    torch.testing.assert_close(
        decoder.image_positional_encoding(8, 8), sa.prompt_encoder.get_dense_pe(), atol=TOLERANCE, rtol=0
    )


def test_every_converted_tensor_matches_with_point_box_and_mask_prompts(reference_sam, converted):
    """The whole transformers SamModel, so point, box and mask-prompt weights are checked too."""
    config, weights = converted
    model = SamModel(config).eval()
    model.load_state_dict(weights, strict=True)
    generator = torch.Generator().manual_seed(4)
    pixels = torch.randn(2, 3, 64, 64, generator=generator)
    points = torch.rand(2, 3, 2, generator=generator) * 64
    labels = torch.tensor([[1, 0, 1], [0, 1, 1]])
    boxes = torch.tensor([[3.0, 5.0, 40.0, 50.0], [10.0, 10.0, 60.0, 30.0]])
    mask_input = torch.randn(2, 1, 32, 32, generator=generator)
    sa = reference_sam
    with torch.no_grad():
        sa_embeddings = sa.image_encoder(sa.preprocess(pixels))
        sparse, dense = sa.prompt_encoder(points=(points, labels), boxes=boxes, masks=mask_input)
        expected = [
            sa.mask_decoder(sa_embeddings[i : i + 1], sa.prompt_encoder.get_dense_pe(), sparse[i : i + 1],
                            dense[i : i + 1], multimask_output=True)
            for i in range(2)
        ]
        actual = model(pixel_values=sa.preprocess(pixels), input_points=points[:, None], input_labels=labels[:, None],
                       input_boxes=boxes[:, None], input_masks=mask_input, multimask_output=True)
    torch.testing.assert_close(actual.pred_masks[:, 0], torch.cat([e[0] for e in expected]), atol=TOLERANCE, rtol=0)
    torch.testing.assert_close(actual.iou_scores[:, 0], torch.cat([e[1] for e in expected]), atol=TOLERANCE, rtol=0)


def test_vit_h_sizes_recovered_and_loadable_from_meta_state_dict(segment_anything):
    """Full-size SAM ViT-H built on the meta device: its known sizes, and a strict load of every tensor."""
    with torch.device("meta"):
        state_dict = segment_anything.build_sam.build_sam_vit_h().state_dict()
    config = sam_config_from_state_dict(state_dict)
    vision = config.vision_config
    assert (vision.hidden_size, vision.num_hidden_layers, vision.num_attention_heads) == (1280, 32, 16)
    assert list(vision.global_attn_indexes) == [7, 15, 23, 31]
    assert (vision.window_size, vision.image_size, vision.patch_size, vision.mlp_dim) == (14, 1024, 16, 5120)
    assert (vision.output_channels, vision.num_pos_feats) == (256, 128)
    decoder = config.mask_decoder_config
    assert (decoder.hidden_size, decoder.num_hidden_layers, decoder.mlp_dim) == (256, 2, 2048)
    assert (decoder.iou_head_hidden_dim, decoder.num_attention_heads) == (256, 8)
    assert config.prompt_encoder_config.mask_input_channels == 16

    weights = convert_segment_anything_keys(state_dict)
    with torch.device("meta"):
        encoder = SamImageEncoder.from_config(config)
        mask_decoder = PartMaskDecoder.from_config(config)
    encoder.load_state_dict(_part(weights, "vision_encoder."), strict=True, assign=True)
    mask_decoder.load_state_dict(_part(weights, "vision_encoder.", keep=False), strict=True, assign=True)
    assert sum(p.numel() for p in encoder.parameters()) == 637_026_048  # SAM ViT-H's image encoder
