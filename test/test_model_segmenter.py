"""The public API end to end on tiny LISA and PISA checkpoints loaded through load_segmenter."""
import cv2
import numpy as np
import pytest
import torch

from PIL import Image

from instructpart_ros.model import PartSegmenter, SegmentationResult, load_segmenter
from instructpart_ros.model.dinov2_image_encoder import DINOV2_RESIZE, Dinov2FusionEncoder
from instructpart_ros.model.image_preprocessing import postprocess_masks
from instructpart_ros.model.sam_image_encoder import SEGMENT_ANYTHING_RESIZE, SamImageEncoder
from instructpart_ros.model.tiny import write_tiny_checkpoints

INSTRUCTION = "If I want to cut the bread, which part of the knife should I hold?"
STAGES = {"preprocess", "clip", "llm_prefill", "image_encoder", "mask_decoder", "postprocess", "total"}


@pytest.fixture(scope="module", params=["lisa", "pisa"])
def tiny(request, tmp_path_factory):
    paths = write_tiny_checkpoints(tmp_path_factory.mktemp(request.param), kind=request.param, seed=0)
    return {"kind": request.param, **paths}


def load(tiny, **overrides) -> PartSegmenter:
    return load_segmenter(**{**tiny, "device": "cpu", "dtype": "float32", **overrides})


@pytest.fixture(scope="module")
def segmenter(tiny):
    return load(tiny)


def image(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize("shape", [(64, 64), (48, 80), (81, 33)])
def test_mask_is_bool_at_exactly_the_input_size(segmenter, shape):
    rgb = image(*shape)
    result = segmenter.segment(rgb, INSTRUCTION)
    assert isinstance(result, SegmentationResult)
    assert (result.mask.shape, result.mask.dtype) == (shape, np.bool_)
    assert (result.found, result.reason, result.answer) == (True, "", "[SEG]")
    assert 0.0 <= result.score <= 1.0
    assert STAGES | {"llm_decode"} <= set(result.timings) and all(v >= 0 for v in result.timings.values())
    embedding = result.prompt_embedding
    assert (embedding.shape, embedding.dtype, embedding.device.type) == ((1, 256), torch.float32, "cpu")
    # The same pipeline by hand, from the returned prompt: the segmenter glues the parts as documented.
    model = segmenter.model
    with torch.no_grad():
        pre = model.image_encoder.preprocess(rgb)
        logits, _ = model.mask_decoder(model.image_encoder(pre.pixel_values), embedding[:, None, :])
        np.testing.assert_array_equal(result.mask, (postprocess_masks(logits, pre)[0, 0] > 0).numpy())


# Per kind: the image encoder, its resize, and that resize's reference PIL filter.
IMAGE_SIDE = {"lisa": (SamImageEncoder, SEGMENT_ANYTHING_RESIZE, Image.Resampling.BILINEAR),
              "pisa": (Dinov2FusionEncoder, DINOV2_RESIZE, Image.Resampling.BICUBIC)}


def test_inference_feeds_the_encoder_its_own_preprocess_the_function_training_calls(tiny, segmenter):
    """Training calls `model.image_encoder.preprocess`; inference must feed the encoder exactly those pixels,
    resized with the encoder's reference filter (SAM: PIL bilinear as LISA; PISA's DINOv2: PIL bicubic)."""
    encoder_class, resize, pil_filter = IMAGE_SIDE[tiny["kind"]]
    encoder = segmenter.model.image_encoder
    assert type(encoder) is encoder_class and resize.filter == pil_filter
    seen = []
    handle = encoder.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    rgb = image(90, 61, seed=7)
    try:
        segmenter.segment(rgb, INSTRUCTION)
    finally:
        handle.remove()
    pre = encoder.preprocess(rgb)
    assert len(seen) == 1 and torch.equal(seen[0], pre.pixel_values)
    # Undo the normalisation: the content is the reference PIL resize, value for value.
    height, width = pre.resized_size
    mean_std = encoder.preprocess(np.zeros((1, 1, 3), np.uint8)).pixel_values[0, :, 0, 0].view(3, 1, 1)
    one = encoder.preprocess(np.ones((1, 1, 3), np.uint8)).pixel_values[0, :, 0, 0].view(3, 1, 1)
    content = (pre.pixel_values[0, :, :height, :width] - mean_std) / (one - mean_std)
    expected = np.asarray(Image.fromarray(rgb).resize((width, height), pil_filter))
    np.testing.assert_allclose(content.permute(1, 2, 0).numpy(), expected, atol=0.01)  # float noise < 0.002


def test_the_real_knife_frame_gets_a_mask_of_its_size(segmenter, knife_dir):
    rgb = cv2.cvtColor(cv2.imread(str(knife_dir / "color.png")), cv2.COLOR_BGR2RGB)
    result = segmenter.segment(rgb, "cut the bread")
    assert result.mask.shape == (800, 1280) and result.found


def test_identical_results_twice(segmenter):
    first, second = (segmenter.segment(image(40, 60), INSTRUCTION) for _ in range(2))
    np.testing.assert_array_equal(first.mask, second.mask)
    assert torch.equal(first.prompt_embedding, second.prompt_embedding)
    assert (first.score, first.answer) == (second.score, second.answer)


def test_generate_and_teacher_forced_agree_when_seg_is_emitted(segmenter):
    rgb = image(60, 90, seed=3)
    generated = segmenter.segment(rgb, INSTRUCTION, mode="generate")
    forced = segmenter.segment(rgb, INSTRUCTION, mode="teacher_forced")
    assert generated.found and forced.found and forced.answer.startswith("[SEG]")
    assert "llm_decode" not in forced.timings
    torch.testing.assert_close(forced.prompt_embedding, generated.prompt_embedding, rtol=0, atol=1e-5)
    assert np.mean(forced.mask != generated.mask) <= 1e-3
    assert forced.score == pytest.approx(generated.score, abs=1e-4)


def test_the_instruction_and_its_suffix_reach_the_llm(tiny, segmenter):
    rgb = image(32, 32)
    default = segmenter.segment(rgb, INSTRUCTION).prompt_embedding
    other = segmenter.segment(rgb, "Which part of the mug should I hold?").prompt_embedding
    no_suffix = load(tiny, instruction_suffix="").segment(rgb, INSTRUCTION).prompt_embedding
    assert not torch.allclose(default, other, atol=1e-6)
    assert not torch.allclose(default, no_suffix, atol=1e-6)


def test_a_cached_prompt_segments_new_frames_without_the_llm(segmenter):
    rgb = image(50, 70, seed=5)
    result = segmenter.segment(rgb, INSTRUCTION)
    again = segmenter.segment_with_prompt(rgb, result.prompt_embedding)
    np.testing.assert_array_equal(again.mask, result.mask)
    assert (again.score, again.found, again.answer) == (result.score, True, "")
    assert not {"clip", "llm_prefill", "llm_decode"} & set(again.timings)
    assert segmenter.segment_with_prompt(image(90, 20, seed=6), result.prompt_embedding[0]).mask.shape == (90, 20)
    with pytest.raises(ValueError, match=r"prompt_embedding must be a \(1, 256\) tensor .* got \(1, 255\)"):
        segmenter.segment_with_prompt(rgb, torch.zeros(1, 255))


def test_no_seg_means_an_empty_mask_and_a_reason(tiny):
    segmenter = load(tiny, max_new_tokens=4)
    head = segmenter.model.mllm.language_model.lm_head.weight
    with torch.no_grad():
        head[segmenter.tokenizer.seg_token_id] = 0.0
        head[segmenter.tokenizer.eos_token_id] = 0.0
    result = segmenter.segment(image(30, 45), INSTRUCTION)
    assert (result.found, result.reason, result.score) == (False, "no [SEG] within the 4-token limit", 0.0)
    assert result.prompt_embedding is None and result.answer != ""
    assert result.mask.shape == (30, 45) and not result.mask.any()
    assert {"image_encoder", "mask_decoder"}.isdisjoint(result.timings)


def test_bfloat16_weights_run_on_cpu(tiny):
    segmenter = load(tiny, dtype="bfloat16")
    assert segmenter.model.mllm.language_model.lm_head.weight.dtype == torch.bfloat16
    assert next(segmenter.model.mask_decoder.parameters()).dtype == torch.bfloat16
    result = segmenter.segment(image(40, 40), INSTRUCTION)
    assert result.mask.shape == (40, 40) and result.prompt_embedding.dtype == torch.float32


def test_release_frees_the_model(tiny):
    segmenter = load(tiny)
    segmenter.release()
    with pytest.raises(RuntimeError, match=r"this segmenter was released: create a new one with load_segmenter"):
        segmenter.segment(image(8, 8), INSTRUCTION)


def test_bad_arguments_get_clear_errors(tiny, segmenter, monkeypatch):
    with pytest.raises(ValueError, match=r"expected an RGB image of dtype uint8, got float32"):
        segmenter.segment(image(8, 8).astype(np.float32), INSTRUCTION)
    with pytest.raises(ValueError, match=r"mode='beam' is not one of \('generate', 'teacher_forced'\)"):
        segmenter.segment(image(8, 8), INSTRUCTION, mode="beam")
    with pytest.raises(ValueError, match=r"kind='sam' is not one of \('lisa', 'pisa'\)"):
        load(tiny, kind="sam")
    with pytest.raises(ValueError, match=r"dtype='fp8' is not supported: use one of bfloat16, float16, float32"):
        load(tiny, dtype="fp8")
    with pytest.raises(ValueError, match=r"device='mps' is not supported: use 'cuda', 'cuda:N' or 'cpu'"):
        load(tiny, device="mps")
    with pytest.raises(ValueError, match=r"device='gpu0' is not a torch device: use 'cuda', 'cuda:N' or 'cpu'"):
        load(tiny, device="gpu0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"device='cuda' but torch sees no CUDA GPU: pass device='cpu'"):
        load(tiny, device="cuda")
    with pytest.raises(ValueError, match=r"max_new_tokens must be at least 1, got 0"):
        load(tiny, max_new_tokens=0)
