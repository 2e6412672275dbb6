"""Name conversion and size inference for SAM weights, on a tiny transformers SamModel."""
import pytest
import torch
from transformers import SamConfig, SamModel

from instructpart_ros.model.sam_checkpoint import (
    convert_segment_anything_keys,
    sam_config_from_state_dict,
    to_segment_anything_keys,
)

TINY_CONFIG = dict(
    vision_config=dict(hidden_size=24, num_hidden_layers=3, num_attention_heads=3, image_size=48, patch_size=8,
                       window_size=2, global_attn_indexes=[2], output_channels=32, num_pos_feats=16, mlp_dim=40),
    prompt_encoder_config=dict(hidden_size=32, image_size=48, patch_size=8, mask_input_channels=8),
    mask_decoder_config=dict(hidden_size=32, mlp_dim=24, num_hidden_layers=3, iou_head_depth=4,
                             iou_head_hidden_dim=20, num_attention_heads=4),
)


@pytest.fixture(scope="module")
def hf_state_dict():
    torch.manual_seed(0)
    return SamModel(SamConfig(**TINY_CONFIG)).state_dict()


@pytest.fixture(scope="module")
def sa_state_dict(hf_state_dict):
    return to_segment_anything_keys(hf_state_dict)


def test_segment_anything_names_are_the_real_ones(sa_state_dict):
    assert "image_encoder.blocks.2.attn.rel_pos_h" in sa_state_dict
    assert "image_encoder.neck.3.bias" in sa_state_dict
    assert "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix" in sa_state_dict
    assert "prompt_encoder.mask_downscaling.6.weight" in sa_state_dict
    assert "mask_decoder.transformer.norm_final_attn.weight" in sa_state_dict
    # A depth-4 MLP head is layers.0..3 in segment-anything.
    assert {k for k in sa_state_dict if k.startswith("mask_decoder.iou_prediction_head.")} == {
        f"mask_decoder.iou_prediction_head.layers.{i}.{p}" for i in range(4) for p in ("weight", "bias")
    }
    assert not any(k.startswith(("vision_encoder.", "shared_image_embedding.")) for k in sa_state_dict)


def test_conversions_are_inverse_and_share_tensors(hf_state_dict, sa_state_dict):
    # The two tied copies of the positional matrix become one name and back.
    assert len(sa_state_dict) == len(hf_state_dict) - 1
    round_trip = convert_segment_anything_keys(sa_state_dict)
    assert list(round_trip) == list(convert_segment_anything_keys(to_segment_anything_keys(round_trip)))
    assert set(round_trip) == set(hf_state_dict)
    for key, tensor in hf_state_dict.items():
        assert torch.equal(round_trip[key], tensor), key
    assert set(to_segment_anything_keys(round_trip)) == set(sa_state_dict)
    # Renaming only: the very same tensor objects, no copies.
    assert {id(tensor) for tensor in round_trip.values()} == {id(tensor) for tensor in sa_state_dict.values()}


def test_mlp_heads_shift_middle_layers(sa_state_dict):
    converted = convert_segment_anything_keys(sa_state_dict)
    mapping = {
        "mask_decoder.iou_prediction_head.layers.0.bias": "mask_decoder.iou_prediction_head.proj_in.bias",
        "mask_decoder.iou_prediction_head.layers.1.bias": "mask_decoder.iou_prediction_head.layers.0.bias",
        "mask_decoder.iou_prediction_head.layers.2.bias": "mask_decoder.iou_prediction_head.layers.1.bias",
        "mask_decoder.iou_prediction_head.layers.3.bias": "mask_decoder.iou_prediction_head.proj_out.bias",
        "mask_decoder.output_hypernetworks_mlps.2.layers.2.weight":
            "mask_decoder.output_hypernetworks_mlps.2.proj_out.weight",
    }
    for sa_key, hf_key in mapping.items():
        assert converted[hf_key] is sa_state_dict[sa_key]


def test_unknown_keys_are_refused_by_name(sa_state_dict):
    weights = dict(sa_state_dict)
    weights["model.visual_model.image_encoder.pos_embed"] = torch.zeros(1)
    weights["image_encoder.blocks.0.attn.qkv.scale"] = torch.zeros(1)
    with pytest.raises(ValueError) as error:
        convert_segment_anything_keys(weights)
    message = str(error.value)
    assert message.startswith("2 tensor(s) are not segment-anything SAM weights: ")
    assert "model.visual_model.image_encoder.pos_embed" in message and "image_encoder.blocks.0.attn.qkv.scale" in message
    assert "strip the 'model.visual_model.' prefix" in message
    with pytest.raises(ValueError, match=r"1 tensor\(s\) are not transformers SamModel weights: vision_encoder.extra"):
        to_segment_anything_keys({"vision_encoder.extra": torch.zeros(1)})


def test_long_unknown_lists_are_cut(sa_state_dict):
    weights = {f"lm_head.{i}": torch.zeros(1) for i in range(25)}
    with pytest.raises(ValueError, match=r"25 tensor\(s\) .* lm_head\.19 and 5 more\."):
        convert_segment_anything_keys(weights)


def test_pixel_constants_are_dropped(sa_state_dict):
    weights = dict(sa_state_dict, pixel_mean=torch.zeros(3, 1, 1), pixel_std=torch.ones(3, 1, 1))
    assert set(convert_segment_anything_keys(weights)) == set(convert_segment_anything_keys(sa_state_dict))


def test_untied_positional_copies_are_refused(hf_state_dict):
    weights = dict(hf_state_dict)
    weights["shared_image_embedding.positional_embedding"] = weights["shared_image_embedding.positional_embedding"] + 1
    with pytest.raises(ValueError, match="differ, but segment-anything has a single positional matrix"):
        to_segment_anything_keys(weights)


def test_config_recovers_tiny_config(sa_state_dict):
    config = sam_config_from_state_dict(sa_state_dict, mask_decoder_num_heads=4)
    expected = SamConfig(**TINY_CONFIG)
    for part in ("vision_config", "prompt_encoder_config", "mask_decoder_config"):
        recovered, built = getattr(config, part).to_dict(), getattr(expected, part).to_dict()
        # segment-anything's decoder LayerNorms use torch's default eps, not transformers' default.
        built.pop("layer_norm_eps"), recovered.pop("layer_norm_eps")
        built.pop("mlp_ratio", None), recovered.pop("mlp_ratio", None)
        assert recovered == built, part
    assert config.mask_decoder_config.layer_norm_eps == 1e-5


def test_decoder_only_weights_give_decoder_sizes(sa_state_dict):
    decoder_only = {k: v for k, v in sa_state_dict.items() if not k.startswith("image_encoder.")}
    config = sam_config_from_state_dict(decoder_only, mask_decoder_num_heads=4)
    assert config.mask_decoder_config.num_hidden_layers == 3
    assert config.vision_config.num_pos_feats == 16
    assert config.prompt_encoder_config.hidden_size == 32


def test_config_errors_name_the_problem(sa_state_dict):
    with pytest.raises(ValueError, match="cannot be split into 5 heads: pass the decoder's head count"):
        sam_config_from_state_dict(sa_state_dict, mask_decoder_num_heads=5)
    missing = {k: v for k, v in sa_state_dict.items() if k != "image_encoder.pos_embed"}
    with pytest.raises(ValueError, match="tensor 'image_encoder.pos_embed' is missing"):
        sam_config_from_state_dict(missing)
    gap = {k: v for k, v in sa_state_dict.items() if not k.startswith("image_encoder.blocks.1.")}
    with pytest.raises(ValueError, match=r"image_encoder.blocks.\* has indices \[0, 2\]"):
        sam_config_from_state_dict(gap)
