"""LISA-7B-v1's real tensor names and shapes (as meta tensors: no memory) go through the loading code."""
import torch
from transformers import CLIPVisionConfig, CLIPVisionModel, LlamaForCausalLM

from instructpart_ros.model.lisa_checkpoint import llama_config_from_tensors, split_lisa_state_dict
from instructpart_ros.model.module_loading import empty_weights, load_strict
from instructpart_ros.model.multimodal_llm import MultimodalLLM

# The fields of LISA-7B-v1's config.json this package reads.
LISA_7B_CONFIG = {
    "hidden_size": 4096, "intermediate_size": 11008, "num_attention_heads": 32, "num_hidden_layers": 32,
    "num_key_value_heads": 32, "vocab_size": 32004, "max_position_embeddings": 2048, "rms_norm_eps": 1e-06,
    "mm_hidden_size": 1024, "mm_use_im_start_end": True, "mm_vision_select_layer": -2, "out_dim": 256,
    "vision_tower": "openai/clip-vit-large-patch14", "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
}


def lisa_7b_language_tensors() -> dict:
    """Names and shapes as stored in LISA-7B-v1's pytorch_model-*.bin shards (SAM left out)."""
    shapes = {"model.embed_tokens.weight": (32004, 4096), "model.norm.weight": (4096,), "lm_head.weight": (32004, 4096),
              "model.mm_projector.weight": (4096, 1024), "model.mm_projector.bias": (4096,),
              "model.text_hidden_fcs.0.0.weight": (4096, 4096), "model.text_hidden_fcs.0.0.bias": (4096,),
              "model.text_hidden_fcs.0.2.weight": (256, 4096), "model.text_hidden_fcs.0.2.bias": (256,),
              "model.visual_model.mask_decoder.iou_token.weight": (1, 256)}
    for layer in range(32):
        prefix = f"model.layers.{layer}."
        for projection in ("q_proj", "k_proj", "v_proj", "o_proj"):
            shapes[f"{prefix}self_attn.{projection}.weight"] = (4096, 4096)
        shapes[f"{prefix}mlp.gate_proj.weight"] = shapes[f"{prefix}mlp.up_proj.weight"] = (11008, 4096)
        shapes[f"{prefix}mlp.down_proj.weight"] = (4096, 11008)
        shapes[f"{prefix}input_layernorm.weight"] = shapes[f"{prefix}post_attention_layernorm.weight"] = (4096,)
    return {name: torch.empty(shape, device="meta") for name, shape in shapes.items()}


def test_lisa_7b_names_and_shapes_build_and_load_the_7b_language_side():
    llm, projector, text_fcs, sam = split_lisa_state_dict(lisa_7b_language_tensors(), "LISA-7B-v1")
    assert list(sam) == ["mask_decoder.iou_token.weight"]
    config = llama_config_from_tensors(LISA_7B_CONFIG, llm, "LISA-7B-v1")
    assert (config.vocab_size, config.hidden_size, config.num_hidden_layers) == (32004, 4096, 32)
    assert (config.intermediate_size, config.num_attention_heads, config.num_key_value_heads) == (11008, 32, 32)
    clip_large = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                                  num_attention_heads=16, image_size=224, patch_size=14)
    with empty_weights("meta", torch.bfloat16):
        mllm = MultimodalLLM(CLIPVisionModel(clip_large), LlamaForCausalLM(config), seg_token_id=32003,
                             eos_token_id=2, out_dim=256)
    # Every LISA name matches a transformers-5 LLaMA parameter of the same shape, none left over.
    load_strict(mllm.language_model, llm, "LISA-7B-v1")
    load_strict(mllm.mm_projector, projector, "LISA-7B-v1", key_prefix="model.mm_projector.")
    load_strict(mllm.text_hidden_fcs, text_fcs, "LISA-7B-v1", key_prefix="model.text_hidden_fcs.")
    assert mllm.vision_tower.embeddings.num_patches == 256
    assert sum(p.numel() for p in mllm.language_model.parameters()) == 6_738_448_384
