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

import dataclasses
import io
import json
import pathlib
from collections.abc import Iterable
from dataclasses import dataclass

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
OUT_DIM = 256  # SAM's prompt width (LISA-7B-v1's); a training recipe may pick a narrower one
TINY_FUSION = DinoFusionConfig(num_fused_layers=3, out_channels=OUT_DIM, input_size=56, decoder_grid=8)


@dataclass(frozen=True)
class TinySizes:
    """Every size of a tiny model; the defaults are the test models' (a training recipe picks its own)."""

    vocab_size: int = SENTENCEPIECE_VOCAB_SIZE  # sentencepiece pieces, before LISA's four added tokens
    clip_image_size: int = CLIP_IMAGE_SIZE
    clip_hidden: int = 32
    clip_layers: int = 3
    llm_hidden: int = 64
    llm_intermediate: int = 128
    llm_layers: int = 2
    llm_heads: int = 4
    dinov2_hidden: int = 32
    dinov2_layers: int = 3
    dinov2_heads: int = 2
    fusion_layers: int = TINY_FUSION.num_fused_layers
    fusion_input_size: int = TINY_FUSION.input_size
    decoder_grid: int = TINY_FUSION.decoder_grid
    decoder_mlp: int = 64
    decoder_layers: int = 2
    prompt_dim: int = OUT_DIM  # the [SEG] prompt, the image embeddings and the mask decoder's width
    # The untrained LLM answers "[SEG]" (so tests and demos get masks), but its state then barely
    # depends on the instruction: a model to be trained from scratch starts with LLaMA's own init.
    steer_to_seg: bool = True

    @property
    def fusion(self) -> DinoFusionConfig:
        return DinoFusionConfig(num_fused_layers=self.fusion_layers, out_channels=self.prompt_dim,
                                input_size=self.fusion_input_size, decoder_grid=self.decoder_grid)


def tiny_sizes(values: dict | None = None) -> TinySizes:
    """:class:`TinySizes` from a mapping (e.g. a recipe's ``model.tiny``); unknown names are an error."""
    values = dict(values or {})
    known = {f.name for f in dataclasses.fields(TinySizes)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown tiny model size(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return TinySizes(**values)

_CORPUS = [
    SYSTEM_MESSAGE,
    "USER: ASSISTANT: Please output segmentation mask. Sure, it is the part. Sure, [SEG].",
    "If I want to cut the bread, which part of the knife should I hold? The handle of the knife.",
    "Which part of the mug should I grasp to pour water? Hold the handle, not the rim or the body.",
    "Pick up the scissors, open the bottle, press the button, lift the lid, turn the knob.",
    "the blade, the spout, the cap, the trigger, the hook, the head, the neck, the top, the bottom",
]


def _train_sentencepiece(vocab_size: int, corpus: Iterable[str] = ()) -> bytes:
    """A LLaMA-like BPE sentencepiece model (byte fallback, <unk>=0 <s>=1 </s>=2) of ``_CORPUS`` + ``corpus``."""
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(_CORPUS * 8 + list(corpus)),
        model_writer=model,
        vocab_size=vocab_size,
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


def write_tiny_tokenizer(directory: pathlib.Path, vocab_size: int = SENTENCEPIECE_VOCAB_SIZE,
                         corpus: Iterable[str] = ()) -> LisaTokenizer:
    """LISA's tokenizer files (tokenizer.model, tokenizer_config.json, added_tokens.json, special_tokens_map.json).

    ``corpus``: more text the pieces are learnt from (a training recipe passes its instructions).
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / SENTENCEPIECE_FILE).write_bytes(_train_sentencepiece(vocab_size, corpus))
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
    added = {token: vocab_size + index for index, token in enumerate(LISA_ADDED_TOKENS)}
    (directory / ADDED_TOKENS_FILE).write_text(json.dumps(added, indent=2))
    special = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<unk>", "unk_token": "<unk>"}
    (directory / SPECIAL_TOKENS_MAP_FILE).write_text(json.dumps(special, indent=2))
    return load_tokenizer(directory)


def write_tiny_clip(directory: pathlib.Path, sizes: TinySizes = TinySizes()) -> CLIPModel:
    """A whole tiny CLIP (text tower too, like openai/clip-vit-large-patch14) and its image processor."""
    image_size = sizes.clip_image_size
    config = CLIPConfig(
        text_config={"vocab_size": 64, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "max_position_embeddings": 16, "bos_token_id": 0, "eos_token_id": 1,
                     "pad_token_id": 1},
        vision_config={"hidden_size": sizes.clip_hidden, "intermediate_size": 2 * sizes.clip_hidden,
                       "num_hidden_layers": sizes.clip_layers, "num_attention_heads": 2,
                       "image_size": image_size, "patch_size": 14},
        projection_dim=16,
    )
    model = CLIPModel(config)
    with quiet_transformers():
        model.save_pretrained(directory)
    size = {"shortest_edge": image_size}
    CLIPImageProcessorPil(size=size, crop_size={"height": image_size, "width": image_size}).save_pretrained(directory)
    return model


def write_tiny_dinov2(directory: pathlib.Path, sizes: TinySizes = TinySizes()) -> Dinov2Model:
    """A tiny DINOv2 (patch 14) as a save_pretrained directory."""
    config = Dinov2Config(hidden_size=sizes.dinov2_hidden, num_hidden_layers=sizes.dinov2_layers,
                          num_attention_heads=sizes.dinov2_heads, mlp_ratio=2,
                          image_size=sizes.fusion_input_size, patch_size=14)
    model = Dinov2Model(config)
    with quiet_transformers():
        model.save_pretrained(directory)
    return model


def tiny_sam_config(sizes: TinySizes = TinySizes()) -> SamConfig:
    """SAM with a 2-block ViT at 128 px (8x8 grid, one windowed and one global block) and SAM's decoder."""
    return SamConfig(
        vision_config={"hidden_size": 32, "output_channels": sizes.prompt_dim, "num_hidden_layers": 2,
                       "num_attention_heads": 2, "image_size": 128, "patch_size": 16, "mlp_dim": 64,
                       "window_size": 4, "global_attn_indexes": [1], "num_pos_feats": sizes.prompt_dim // 2},
        prompt_encoder_config={"hidden_size": sizes.prompt_dim, "image_size": 128, "patch_size": 16},
        mask_decoder_config={"hidden_size": sizes.prompt_dim, "mlp_dim": sizes.decoder_mlp,
                             "num_hidden_layers": sizes.decoder_layers, "iou_head_hidden_dim": 32},
    )


def tiny_llama_config(vocab_size: int, sizes: TinySizes = TinySizes()) -> LlamaConfig:
    return LlamaConfig(vocab_size=vocab_size, hidden_size=sizes.llm_hidden, intermediate_size=sizes.llm_intermediate,
                       num_hidden_layers=sizes.llm_layers, num_attention_heads=sizes.llm_heads,
                       num_key_value_heads=sizes.llm_heads, max_position_embeddings=2048,
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


def write_tiny_lisa(directory: pathlib.Path, vision_tower: pathlib.Path, clip: CLIPModel,
                    sizes: TinySizes = TinySizes(), corpus: Iterable[str] = ()) -> pathlib.Path:
    """A tiny LISA-7B-v1-layout checkpoint (2 shards) whose config names ``vision_tower``."""
    tokenizer = write_tiny_tokenizer(directory, sizes.vocab_size, corpus)
    llama_config = tiny_llama_config(len(tokenizer), sizes)
    llm = LlamaForCausalLM(llama_config)
    if sizes.steer_to_seg:
        _steer_to_seg(llm, tokenizer)
    hidden, clip_hidden = llama_config.hidden_size, clip.config.vision_config.hidden_size
    projector = torch.nn.Linear(clip_hidden, hidden)
    text_fcs = text_hidden_projection(hidden, sizes.prompt_dim)
    sam_config = tiny_sam_config(sizes)
    sam = {**SamImageEncoder.from_config(sam_config).state_dict(),
           **PartMaskDecoder.from_config(sam_config).state_dict()}
    state = join_lisa_state_dict(llm.state_dict(), projector.state_dict(), text_fcs.state_dict(),
                                 to_segment_anything_keys(sam))
    config = lisa_config_dict(llama_config, clip_hidden, sizes.prompt_dim, str(vision_tower))
    return write_lisa_checkpoint(directory, config, state, num_shards=2)


def write_tiny_checkpoints(out_dir: str | pathlib.Path, kind: str = "lisa", seed: int = 0,
                           sizes: TinySizes = TinySizes(), corpus: Iterable[str] = ()) -> dict[str, str | None]:
    """Write a tiny ``kind`` checkpoint and its towers under ``out_dir``.

    Returns ``dict(checkpoint=..., vision_tower=..., dinov2=...)`` (``dinov2`` None for LISA),
    ready for ``load_segmenter(kind=kind, **paths)``. ``sizes`` and the tokenizer ``corpus``
    let a training recipe build a bigger from-scratch model the same way.
    """
    if kind not in TINY_KINDS:
        raise ValueError(f"kind={kind!r} is not one of {TINY_KINDS}")
    out_dir = pathlib.Path(out_dir)
    clip_dir, lisa_dir = out_dir / "clip-vit-tiny", out_dir / "lisa-tiny"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        clip = write_tiny_clip(clip_dir, sizes)
        write_tiny_lisa(lisa_dir, clip_dir, clip, sizes, corpus)
        if kind == "lisa":
            return {"checkpoint": str(lisa_dir), "vision_tower": str(clip_dir), "dinov2": None}
        dinov2_dir, pisa_dir = out_dir / "dinov2-tiny", out_dir / "pisa-tiny"
        write_tiny_dinov2(dinov2_dir, sizes)
        save_pisa(pisa_from_lisa(lisa_dir, dinov2_dir, clip_dir, sizes.fusion, seed=seed), pisa_dir)
    return {"checkpoint": str(pisa_dir), "vision_tower": str(clip_dir), "dinov2": str(dinov2_dir)}
