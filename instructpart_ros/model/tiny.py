"""Tiny LISA/PISA checkpoints in the exact on-disk layouts of the real ones, for tests and demos.

Everything is built from the real classes with a few layers and small widths, saved the
way the real files are (LISA: config.json with LLaVA fields, a sentencepiece
tokenizer.model trained here with LISA's four added tokens, ``pytorch_model-*.bin``
shards + index; CLIP and DINOv2: ``save_pretrained`` directories; PISA: config.json +
model.safetensors + tokenizer files), and loads through the same code as LISA-7B-v1.

The weights are random, except that the tiny LLM is steered to answer ``[SEG]`` right
after the prompt and then ``</s>``: its token embeddings dominate the residual stream and
its output head maps "last prompt token" to ``[SEG]`` and ``[SEG]`` to ``</s>``, so end-to-end
paths (ROS node, demo, evaluation) produce a mask. The masks themselves are meaningless.
"""
from __future__ import annotations

import io
import json
import pathlib

import sentencepiece
import torch
from transformers import CLIPConfig, CLIPModel, Dinov2Config, Dinov2Model, LlamaConfig, LlamaForCausalLM, SamConfig
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

from .components import quiet_transformers
from .dinov2_image_encoder import DinoFusionConfig
from .lisa_checkpoint import join_lisa_state_dict, lisa_config_dict, write_lisa_checkpoint
from .mask_decoder import PartMaskDecoder
from .multimodal_llm import text_hidden_projection
from .pisa_checkpoint import pisa_from_lisa, save_pisa
from .prompt import SYSTEM_MESSAGE, build_prompt_ids
from .sam_checkpoint import to_segment_anything_keys
from .sam_image_encoder import SamImageEncoder
from .tokenizer import (
    ADDED_TOKENS_FILE,
    LISA_ADDED_TOKENS,
    SENTENCEPIECE_FILE,
    SPECIAL_TOKENS_MAP_FILE,
    TOKENIZER_CONFIG_FILE,
    LisaTokenizer,
    load_tokenizer,
)

TINY_KINDS = ("lisa", "pisa")
SENTENCEPIECE_VOCAB_SIZE = 640
CLIP_IMAGE_SIZE = 56
OUT_DIM = 256  # SAM's prompt width: fixed by the mask decoder interface
TINY_FUSION = DinoFusionConfig(num_fused_layers=3, out_channels=OUT_DIM, input_size=56, decoder_grid=8)

_CORPUS = [
    SYSTEM_MESSAGE,
    "USER: ASSISTANT: Please output segmentation mask. Sure, it is the part. Sure, [SEG].",
    "If I want to cut the bread, which part of the knife should I hold? The handle of the knife.",
    "Which part of the mug should I grasp to pour water? Hold the handle, not the rim or the body.",
    "Pick up the scissors, open the bottle, press the button, lift the lid, turn the knob.",
    "the blade, the spout, the cap, the trigger, the hook, the head, the neck, the top, the bottom",
]


def _train_sentencepiece() -> bytes:
    """A LLaMA-like BPE sentencepiece model (byte fallback, <unk>=0 <s>=1 </s>=2)."""
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(_CORPUS * 8),
        model_writer=model,
        vocab_size=SENTENCEPIECE_VOCAB_SIZE,
        model_type="bpe",
        byte_fallback=True,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        character_coverage=1.0,
        add_dummy_prefix=True,
        remove_extra_whitespaces=False,
        normalization_rule_name="identity",
        split_digits=True,
        num_threads=1,
        minloglevel=2,
    )
    return model.getvalue()


def _special_token(content: str) -> dict:
    return {"__type": "AddedToken", "content": content, "lstrip": False, "normalized": True,
            "rstrip": False, "single_word": False}


def write_tiny_tokenizer(directory: pathlib.Path) -> LisaTokenizer:
    """LISA's tokenizer files (tokenizer.model, tokenizer_config.json, added_tokens.json, special_tokens_map.json)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / SENTENCEPIECE_FILE).write_bytes(_train_sentencepiece())
    tokenizer_config = {
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": _special_token("<s>"),
        "clean_up_tokenization_spaces": False,
        "eos_token": _special_token("</s>"),
        "model_max_length": 512,
        "pad_token": None,
        "padding_side": "right",
        "sp_model_kwargs": {},
        "tokenizer_class": "LlamaTokenizer",
        "unk_token": _special_token("<unk>"),
    }
    (directory / TOKENIZER_CONFIG_FILE).write_text(json.dumps(tokenizer_config, indent=2))
    added = {token: SENTENCEPIECE_VOCAB_SIZE + index for index, token in enumerate(LISA_ADDED_TOKENS)}
    (directory / ADDED_TOKENS_FILE).write_text(json.dumps(added, indent=2))
    special = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<unk>", "unk_token": "<unk>"}
    (directory / SPECIAL_TOKENS_MAP_FILE).write_text(json.dumps(special, indent=2))
    return load_tokenizer(directory)


def write_tiny_clip(directory: pathlib.Path) -> CLIPModel:
    """A whole tiny CLIP (text tower too, like openai/clip-vit-large-patch14) and its image processor."""
    config = CLIPConfig(
        text_config={"vocab_size": 64, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "max_position_embeddings": 16, "bos_token_id": 0, "eos_token_id": 1,
                     "pad_token_id": 1},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 3, "num_attention_heads": 2,
                       "image_size": CLIP_IMAGE_SIZE, "patch_size": 14},
        projection_dim=16,
    )
    model = CLIPModel(config)
    with quiet_transformers():
        model.save_pretrained(directory)
    size = {"shortest_edge": CLIP_IMAGE_SIZE}
    CLIPImageProcessorPil(size=size, crop_size={"height": CLIP_IMAGE_SIZE, "width": CLIP_IMAGE_SIZE}).save_pretrained(
        directory
    )
    return model


def write_tiny_dinov2(directory: pathlib.Path) -> Dinov2Model:
    """A tiny DINOv2 (3 blocks, patch 14) as a save_pretrained directory."""
    config = Dinov2Config(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, mlp_ratio=2,
                          image_size=TINY_FUSION.input_size, patch_size=14)
    model = Dinov2Model(config)
    with quiet_transformers():
        model.save_pretrained(directory)
    return model


def tiny_sam_config() -> SamConfig:
    """SAM with a 2-block ViT at 128 px (8x8 grid, one windowed and one global block) and SAM's decoder."""
    return SamConfig(
        vision_config={"hidden_size": 32, "output_channels": OUT_DIM, "num_hidden_layers": 2,
                       "num_attention_heads": 2, "image_size": 128, "patch_size": 16, "mlp_dim": 64,
                       "window_size": 4, "global_attn_indexes": [1], "num_pos_feats": OUT_DIM // 2},
        prompt_encoder_config={"hidden_size": OUT_DIM, "image_size": 128, "patch_size": 16},
        mask_decoder_config={"hidden_size": OUT_DIM, "mlp_dim": 64, "num_hidden_layers": 2, "iou_head_hidden_dim": 32},
    )


def tiny_llama_config(vocab_size: int) -> LlamaConfig:
    return LlamaConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=2048,
                       pad_token_id=0, bos_token_id=1, eos_token_id=2)


@torch.no_grad()
def _steer_to_seg(llm: LlamaForCausalLM, tokenizer: LisaTokenizer) -> None:
    """Make greedy decoding answer "[SEG]" right after the prompt, then stop.

    With unit-scale token embeddings the final hidden state is close to the current
    token's embedding, so output-head rows aligned with chosen embeddings act as a
    bigram table: prompt's last token -> [SEG] -> </s>.
    """
    embeddings = llm.get_input_embeddings().weight
    embeddings.normal_(0.0, 1.0)
    head = llm.lm_head.weight
    head.normal_(0.0, 0.02)
    last_prompt_token = build_prompt_ids(tokenizer, "x").after_image[-1]
    bigrams = ((last_prompt_token, tokenizer.seg_token_id), (tokenizer.seg_token_id, tokenizer.eos_token_id))
    for current, following in bigrams:
        head[following] = 4.0 * embeddings[current] / embeddings[current].norm()


def write_tiny_lisa(directory: pathlib.Path, vision_tower: pathlib.Path, clip: CLIPModel) -> pathlib.Path:
    """A tiny LISA-7B-v1-layout checkpoint (2 shards) whose config names ``vision_tower``."""
    tokenizer = write_tiny_tokenizer(directory)
    llama_config = tiny_llama_config(len(tokenizer))
    llm = LlamaForCausalLM(llama_config)
    _steer_to_seg(llm, tokenizer)
    hidden, clip_hidden = llama_config.hidden_size, clip.config.vision_config.hidden_size
    projector = torch.nn.Linear(clip_hidden, hidden)
    text_fcs = text_hidden_projection(hidden, OUT_DIM)
    sam_config = tiny_sam_config()
    sam = {**SamImageEncoder.from_config(sam_config).state_dict(),
           **PartMaskDecoder.from_config(sam_config).state_dict()}
    state = join_lisa_state_dict(llm.state_dict(), projector.state_dict(), text_fcs.state_dict(),
                                 to_segment_anything_keys(sam))
    config = lisa_config_dict(llama_config, clip_hidden, OUT_DIM, str(vision_tower))
    return write_lisa_checkpoint(directory, config, state, num_shards=2)


def write_tiny_checkpoints(out_dir: str | pathlib.Path, kind: str = "lisa", seed: int = 0) -> dict[str, str | None]:
    """Write a tiny ``kind`` checkpoint and its towers under ``out_dir``.

    Returns ``dict(checkpoint=..., vision_tower=..., dinov2=...)`` (``dinov2`` None for LISA),
    ready for ``load_segmenter(kind=kind, **paths)``.
    """
    if kind not in TINY_KINDS:
        raise ValueError(f"kind={kind!r} is not one of {TINY_KINDS}")
    out_dir = pathlib.Path(out_dir)
    clip_dir, lisa_dir = out_dir / "clip-vit-tiny", out_dir / "lisa-tiny"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        clip = write_tiny_clip(clip_dir)
        write_tiny_lisa(lisa_dir, clip_dir, clip)
        if kind == "lisa":
            return {"checkpoint": str(lisa_dir), "vision_tower": str(clip_dir), "dinov2": None}
        dinov2_dir, pisa_dir = out_dir / "dinov2-tiny", out_dir / "pisa-tiny"
        write_tiny_dinov2(dinov2_dir)
        save_pisa(pisa_from_lisa(lisa_dir, dinov2_dir, clip_dir, TINY_FUSION, seed=seed), pisa_dir)
    return {"checkpoint": str(pisa_dir), "vision_tower": str(clip_dir), "dinov2": str(dinov2_dir)}
