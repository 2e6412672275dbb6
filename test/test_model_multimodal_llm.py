"""The language side: CLIP features, KV-cache greedy decoding, the [SEG] read-out and its projection."""
import pytest
import torch
from transformers import CLIPVisionConfig, CLIPVisionModel, LlamaForCausalLM

from instructpart_ros.model.multimodal_llm import MultimodalLLM
from instructpart_ros.model.prompt import PromptIds
from instructpart_ros.model.tiny import tiny_llama_config

VOCAB = 48
SEG, EOS = VOCAB - 1, 2


def make_llm(seed: int = 0) -> MultimodalLLM:
    torch.manual_seed(seed)
    clip = CLIPVisionModel(CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                                            num_attention_heads=2, image_size=56, patch_size=14))
    return MultimodalLLM(clip, LlamaForCausalLM(tiny_llama_config(VOCAB)), seg_token_id=SEG, eos_token_id=EOS).eval()


@pytest.fixture(scope="module")
def mllm():
    return make_llm()


@pytest.fixture(scope="module")
def inputs(mllm):
    torch.manual_seed(1)
    with torch.no_grad():
        image = mllm.encode_image(torch.randn(1, 3, 56, 56))
        return mllm.prompt_embeddings(PromptIds([1, 5, 6, 7], [8, 9, 10]), image)


def test_image_features_are_clips_penultimate_layer_without_cls(mllm):
    pixels = torch.randn(1, 3, 56, 56)
    tower = mllm.vision_tower
    with torch.no_grad():
        hidden = tower.pre_layrnorm(tower.embeddings(pixels))
        for layer in tower.encoder.layers[:-1]:
            hidden = layer(hidden, None)
        expected = mllm.mm_projector(hidden[:, 1:])
        features = mllm.encode_image(pixels)
    assert features.shape == (1, 16, 64)  # (56 / 14)^2 patches, LLM width
    torch.testing.assert_close(features, expected, rtol=0, atol=1e-6)


def test_image_embeddings_sit_between_the_prompt_halves(mllm, inputs):
    assert inputs.shape == (1, 4 + 16 + 3, 64)
    torch.testing.assert_close(inputs[:, :4], mllm.embed_tokens([1, 5, 6, 7]))
    torch.testing.assert_close(inputs[:, -3:], mllm.embed_tokens([8, 9, 10]))


def test_kv_cache_decoding_matches_recomputing_the_whole_sequence(mllm, inputs):
    generated = mllm.generate(inputs, max_new_tokens=12)
    # LISA's way: a full forward pass over everything so far at every step.
    sequence, naive = inputs, []
    with torch.no_grad():
        while len(naive) < 12:
            token = int(mllm.language_model(inputs_embeds=sequence).logits[0, -1].argmax())
            if token == EOS:
                break
            naive.append(token)
            sequence = torch.cat([sequence, mllm.embed_tokens([token])], dim=1)
    assert generated.token_ids == naive
    assert generated.stop_reason == ("limit" if len(naive) == 12 else "eos")


def test_seg_hidden_is_the_post_norm_state_that_predicted_seg(inputs):
    mllm = make_llm()
    with torch.no_grad():
        last_state = mllm.language_model.model(inputs_embeds=inputs).last_hidden_state[:, -1]
        mllm.language_model.lm_head.weight[SEG] = 10 * last_state[0] / last_state.norm()
        mllm.language_model.lm_head.weight[EOS] = 10 * mllm.language_model.model.norm(mllm.embed_tokens([SEG]))[0, 0]
    generated = mllm.generate(inputs, max_new_tokens=5)
    assert generated.token_ids[0] == SEG
    torch.testing.assert_close(generated.seg_hidden, last_state, rtol=0, atol=1e-5)
    forced = mllm.teacher_forced(inputs, [SEG, 11, EOS])
    torch.testing.assert_close(forced, last_state, rtol=0, atol=1e-5)
    stopped = mllm.generate(inputs, max_new_tokens=5, stop_at_seg=True)
    assert (stopped.token_ids, stopped.stop_reason) == ([SEG], "seg")


def test_text_hidden_fcs_has_lisas_layout_and_output_width(mllm):
    names = sorted(mllm.text_hidden_fcs.state_dict())
    assert names == ["0.0.bias", "0.0.weight", "0.2.bias", "0.2.weight"]
    block = mllm.text_hidden_fcs[0]
    assert isinstance(block[1], torch.nn.ReLU) and block[3].p == 0.0
    assert mllm.seg_prompt(torch.randn(1, 64)).shape == (1, 256)


def test_bad_arguments_are_refused(mllm, inputs):
    with pytest.raises(ValueError, match="max_new_tokens must be at least 1, got 0"):
        mllm.generate(inputs, max_new_tokens=0)
    with pytest.raises(ValueError, match=r"the forced answer \[11, 2\] holds no \[SEG\] \(id 47\)"):
        mllm.teacher_forced(inputs, [11, EOS])
    with pytest.raises(ValueError, match="seg_token_id=48 is outside the LLM's vocabulary of 48"):
        MultimodalLLM(mllm.vision_tower, mllm.language_model, seg_token_id=48, eos_token_id=EOS)
