"""PartMaskDecoder on any embedding grid, and mask post-processing back to the image size."""
import numpy as np
import pytest
import torch
from transformers import SamConfig, SamModel

from instructpart_ros.model.image_preprocessing import PreprocessedImage, postprocess_masks, preprocess_rgb
from instructpart_ros.model.mask_decoder import PartMaskDecoder
from instructpart_ros.model.sam_image_encoder import SEGMENT_ANYTHING_RESIZE

DIM = 32


def _tiny_config(grid=64):
    """A SAM config whose prompt encoder sees a grid x grid embedding (patch 4)."""
    return SamConfig(
        vision_config=dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, image_size=4 * grid,
                           patch_size=4, output_channels=DIM, num_pos_feats=DIM // 2, global_attn_indexes=[0]),
        prompt_encoder_config=dict(hidden_size=DIM, image_size=4 * grid, patch_size=4, mask_input_channels=8),
        mask_decoder_config=dict(hidden_size=DIM, mlp_dim=48, iou_head_hidden_dim=DIM),
    )


TINY = _tiny_config()


@pytest.fixture(scope="module")
def decoder():
    torch.manual_seed(0)
    return PartMaskDecoder.from_config(TINY).eval()


def _inputs(batch, grid, prompts=1, seed=0):
    generator = torch.Generator().manual_seed(seed)
    height, width = (grid, grid) if isinstance(grid, int) else grid
    return (torch.randn(batch, DIM, height, width, generator=generator),
            torch.randn(batch, prompts, DIM, generator=generator))


@pytest.mark.parametrize("grid", [64, 37, 16, (12, 20)])
def test_output_is_four_times_the_grid(decoder, grid):
    embeddings, prompt = _inputs(1, grid)
    with torch.no_grad():
        logits, scores = decoder(embeddings, prompt)
    height, width = embeddings.shape[-2:]
    assert logits.shape == (1, 1, 4 * height, 4 * width) and scores.shape == (1, 1)
    assert torch.isfinite(logits).all()
    assert decoder.image_positional_encoding(height, width).shape == (1, DIM, height, width)


@pytest.mark.parametrize("grid", [64, 37])
def test_positional_encoding_matches_transformers_for_that_grid(decoder, grid):
    """transformers' SamModel configured for a grid x grid embedding computes the same encoding."""
    model = SamModel(_tiny_config(grid))
    model.shared_image_embedding.load_state_dict(decoder.shared_image_embedding.state_dict())
    torch.testing.assert_close(decoder.image_positional_encoding(grid, grid),
                               model.get_image_wide_positional_embeddings(), atol=1e-5, rtol=0)


def test_batches_and_several_prompts_equal_separate_queries(decoder):
    embeddings, prompts = _inputs(2, 16, prompts=3, seed=1)
    with torch.no_grad():
        logits, scores = decoder(embeddings, prompts)
        assert logits.shape == (2, 3, 64, 64) and scores.shape == (2, 3)
        for image in range(2):
            for query in range(3):
                single_logits, single_score = decoder(
                    embeddings[image : image + 1], prompts[image : image + 1, query : query + 1]
                )
                torch.testing.assert_close(logits[image, query], single_logits[0, 0], atol=1e-5, rtol=0)
                torch.testing.assert_close(scores[image, query], single_score[0, 0], atol=1e-5, rtol=0)
    assert not torch.allclose(logits[0, 0], logits[0, 1])  # the prompt matters


def test_positional_matrix_is_shared(decoder):
    assert decoder.prompt_encoder.shared_embedding is decoder.shared_image_embedding
    names = set(decoder.state_dict())
    assert {"shared_image_embedding.positional_embedding", "prompt_encoder.shared_embedding.positional_embedding",
            "prompt_encoder.no_mask_embed.weight", "mask_decoder.iou_token.weight"} <= names
    assert {name.split(".")[0] for name in names} == {"shared_image_embedding", "prompt_encoder", "mask_decoder"}


def test_bad_shapes_are_refused(decoder):
    embeddings, prompt = _inputs(2, 8)
    with pytest.raises(ValueError, match=r"image embeddings of shape \(B, 32, g, g\), got \(2, 16, 8, 8\)"):
        decoder(embeddings[:, :16], prompt)
    with pytest.raises(ValueError, match=r"prompt embeddings of shape \(2, P, 32\) for 2 image\(s\), got \(1, 1, 32\)"):
        decoder(embeddings, prompt[:1])
    with pytest.raises(ValueError, match=r"got \(2, 32\)"):
        decoder(embeddings, prompt[:, 0])


def test_runs_in_bfloat16(decoder):
    half = PartMaskDecoder.from_config(TINY).eval()
    half.load_state_dict(decoder.state_dict())
    half.to(torch.bfloat16)
    embeddings, prompt = _inputs(1, 64, seed=2)
    with torch.no_grad():
        logits, scores = half(embeddings, prompt)  # float32 inputs are cast to the decoder's dtype
        reference, _ = decoder(embeddings, prompt)
    assert logits.dtype == scores.dtype == torch.bfloat16
    assert ((logits.float() > 0) == (reference > 0)).float().mean() > 0.97


def _geometry(original, side=64):
    rgb = np.zeros((*original, 3), np.uint8)
    return preprocess_rgb(rgb, size=side, resize=SEGMENT_ANYTHING_RESIZE, mean=(0.0,) * 3, std=(1.0,) * 3,
                          device="cpu", dtype=torch.float32)


@pytest.mark.parametrize("original", [(64, 64), (100, 50), (50, 100), (33, 33), (1, 200), (480, 640)])
def test_postprocess_gives_exactly_the_image_size(original):
    logits = postprocess_masks(torch.randn(2, 1, 16, 16, dtype=torch.bfloat16), _geometry(original))
    assert logits.shape == (2, 1, *original) and logits.dtype == torch.float32


def test_postprocess_crops_the_padding():
    """A 100x50 image fills the left half of the padded square; positive logits over its content only."""
    pre = _geometry((100, 50))
    assert pre.resized_size == (64, 32)
    content = -torch.ones(1, 1, 16, 16)
    content[..., :, :8] = 1.0  # the image's columns (32 of 64 padded) -> low-res columns 0..7
    assert (postprocess_masks(content, pre) > 0).all()

    left_half = -torch.ones(1, 1, 16, 16)
    left_half[..., :, :4] = 1.0  # left half of the image content
    mask = (postprocess_masks(left_half, pre) > 0)[0, 0]
    assert mask[:, :24].all() and not mask[:, 26:].any()


def test_postprocess_keeps_the_top_of_a_wide_image():
    pre = PreprocessedImage(torch.zeros(1, 3, 64, 64), original_size=(20, 80), resized_size=(16, 64), padded_size=64)
    low_res = -torch.ones(1, 1, 16, 16)
    low_res[..., :2, :] = 1.0  # top 8 of the 16 content rows
    mask = (postprocess_masks(low_res, pre) > 0)[0, 0]
    assert mask.shape == (20, 80)
    assert mask[:9].all() and not mask[11:].any()


def test_postprocess_refuses_wrong_rank():
    with pytest.raises(ValueError, match=r"\(B, N, h, w\), got \(16, 16\)"):
        postprocess_masks(torch.zeros(16, 16), _geometry((10, 10)))


def test_postprocess_is_available_on_the_decoder():
    pre = _geometry((30, 40))
    torch.testing.assert_close(PartMaskDecoder.postprocess_masks(torch.ones(1, 1, 16, 16), pre), torch.ones(1, 1, 30, 40))
