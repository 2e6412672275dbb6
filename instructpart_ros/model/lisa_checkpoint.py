"""The LISA-7B-v1 checkpoint layout: reading (strict), sizes from shapes, and writing.

A LISA directory holds ``config.json`` (LLaMA fields plus LLaVA's ``mm_hidden_size``,
``mm_vision_select_layer``, ``mm_use_im_start_end``, ``out_dim``, ``vision_tower``), the
tokenizer files and ``pytorch_model-0000N-of-0000M.bin`` shards with their index. Tensor
names: LLaMA's own (``model.embed_tokens``, ``model.layers.*``, ``model.norm``,
``lm_head``), ``model.mm_projector.*``, ``model.text_hidden_fcs.0.{0,2}.*`` and SAM in
segment-anything naming under ``model.visual_model.``. The CLIP tower is not in it.
"""
from __future__ import annotations

import json
import pathlib
import re
from dataclasses import dataclass

import torch
from transformers import LlamaConfig

from .components import build_mask_decoder, build_multimodal_llm, build_sam_image_encoder, load_clip_tower
from .module_loading import local_directory
from .part_model import LoadedModel, PartSegmentationModel
from .provenance import read_provenance
from .sam_checkpoint import convert_segment_anything_keys, sam_config_from_state_dict
from .tokenizer import load_tokenizer
from .weight_files import read_weights, write_bin_shards

CONFIG_FILE = "config.json"
LLM_PREFIXES = ("model.embed_tokens.", "model.layers.", "model.norm.", "lm_head.")
PROJECTOR_PREFIX = "model.mm_projector."
TEXT_FCS_PREFIX = "model.text_hidden_fcs."
SAM_PREFIX = "model.visual_model."
# Where the multimodal LLM's parts sit in the file (LLaMA's own names need no prefix).
FILE_PREFIXES = {"llm": "", "mm_projector": PROJECTOR_PREFIX, "text_hidden_fcs": TEXT_FCS_PREFIX}
# transformers <= 4.30 saved the rotary frequencies; they are recomputed, never learned.
_ROTARY_BUFFER = re.compile(r"model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq")
# The LLaVA fields a LISA config.json must have for this package to read it.
REQUIRED_CONFIG_FIELDS = ("hidden_size", "num_attention_heads", "mm_hidden_size", "vision_tower")


@dataclass
class LisaCheckpoint:
    """A LISA checkpoint's config and tensors, split by the module they belong to.

    ``llm`` uses ``LlamaForCausalLM`` names, ``mm_projector`` and ``text_hidden_fcs``
    their own module's names, ``sam`` segment-anything names (``image_encoder.*`` ...).
    """

    directory: pathlib.Path
    config: dict
    llm: dict[str, torch.Tensor]
    mm_projector: dict[str, torch.Tensor]
    text_hidden_fcs: dict[str, torch.Tensor]
    sam: dict[str, torch.Tensor]

    @property
    def use_im_start_end(self) -> bool:
        return bool(self.config.get("mm_use_im_start_end", True))

    @property
    def out_dim(self) -> int:
        return self.text_hidden_fcs["0.2.weight"].shape[0]


def read_lisa_config(directory: str | pathlib.Path) -> dict:
    """``config.json`` of a LISA checkpoint, checked for the LLaVA fields this package uses."""
    directory = pathlib.Path(directory)
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"no {CONFIG_FILE} in {directory}: pass the LISA-7B-v1 checkpoint directory")
    config = json.loads(path.read_text())
    if config.get("model_type") == "pisa":
        raise ValueError(f"{directory} is a PISA checkpoint: load it with kind='pisa'")
    missing = [field for field in REQUIRED_CONFIG_FIELDS if field not in config]
    if missing:
        raise ValueError(f"{path} lacks the LISA/LLaVA field(s) {missing}: is this a LISA checkpoint?")
    return config


def split_lisa_state_dict(
    state_dict: dict[str, torch.Tensor], source: str = "checkpoint"
) -> tuple[dict, dict, dict, dict]:
    """(llm, mm_projector, text_hidden_fcs, sam) parts; a tensor of no part is an error naming it."""
    llm, projector, text_fcs, sam, unknown = {}, {}, {}, {}, []
    for name, tensor in state_dict.items():
        if name.startswith(LLM_PREFIXES):
            if not _ROTARY_BUFFER.fullmatch(name):
                llm[name] = tensor
        elif name.startswith(PROJECTOR_PREFIX):
            projector[name.removeprefix(PROJECTOR_PREFIX)] = tensor
        elif name.startswith(TEXT_FCS_PREFIX):
            text_fcs[name.removeprefix(TEXT_FCS_PREFIX)] = tensor
        elif name.startswith(SAM_PREFIX):
            sam[name.removeprefix(SAM_PREFIX)] = tensor
        else:
            unknown.append(name)
    if unknown:
        raise ValueError(
            f"{source} holds {len(unknown)} tensor(s) that are not part of LISA: {sorted(unknown)[:20]} "
            f"(expected {', '.join(LLM_PREFIXES + (PROJECTOR_PREFIX, TEXT_FCS_PREFIX, SAM_PREFIX))})"
        )
    for part, prefix in ((projector, PROJECTOR_PREFIX), (text_fcs, TEXT_FCS_PREFIX), (sam, SAM_PREFIX)):
        if not part:
            raise ValueError(f"{source} has no {prefix}* tensors: it is not a LISA checkpoint")
    return llm, projector, text_fcs, sam


def join_lisa_state_dict(llm: dict, mm_projector: dict, text_hidden_fcs: dict, sam: dict) -> dict[str, torch.Tensor]:
    """The inverse of :func:`split_lisa_state_dict`: one dict in LISA's names."""
    return {
        **llm,
        **{PROJECTOR_PREFIX + name: t for name, t in mm_projector.items()},
        **{TEXT_FCS_PREFIX + name: t for name, t in text_hidden_fcs.items()},
        **{SAM_PREFIX + name: t for name, t in sam.items()},
    }


def read_lisa_checkpoint(directory: str | pathlib.Path) -> LisaCheckpoint:
    """Config and tensors of the LISA checkpoint in ``directory`` (tensors on CPU, memory-mapped)."""
    directory = pathlib.Path(directory)
    config = read_lisa_config(directory)
    llm, projector, text_fcs, sam = split_lisa_state_dict(read_weights(directory), source=str(directory))
    return LisaCheckpoint(directory, config, llm, projector, text_fcs, sam)


def _layer_count(llm: dict[str, torch.Tensor]) -> int:
    indices = {int(name.split(".")[2]) for name in llm if name.startswith("model.layers.")}
    if indices != set(range(len(indices))) or not indices:
        raise ValueError(f"LLaMA layer indices {sorted(indices)} are not 0..N-1: the checkpoint is incomplete")
    return len(indices)


def _shape_of(llm: dict[str, torch.Tensor], name: str) -> tuple[int, ...]:
    if name not in llm:
        raise ValueError(f"the checkpoint lacks {name}: it is not a complete LLaMA")
    return tuple(llm[name].shape)


def llama_config_from_tensors(config: dict, llm: dict[str, torch.Tensor], source: str) -> LlamaConfig:
    """LLaMA sizes from the tensors; only the head count (not visible in shapes) comes from ``config``.

    A config.json that disagrees with the tensors is an error naming both values.
    """
    vocab_size, hidden_size = _shape_of(llm, "model.embed_tokens.weight")
    heads = int(config["num_attention_heads"])
    head_dim = int(config.get("head_dim") or hidden_size // heads)
    inferred = {
        "vocab_size": vocab_size,
        "hidden_size": hidden_size,
        "num_hidden_layers": _layer_count(llm),
        "intermediate_size": _shape_of(llm, "model.layers.0.mlp.gate_proj.weight")[0],
        "num_key_value_heads": _shape_of(llm, "model.layers.0.self_attn.k_proj.weight")[0] // head_dim,
    }
    declared = {**inferred, "num_key_value_heads": config.get("num_key_value_heads") or heads}
    declared.update({key: config[key] for key in inferred if key in config and key != "num_key_value_heads"})
    mismatched = {key: (declared[key], inferred[key]) for key in inferred if declared[key] != inferred[key]}
    if mismatched:
        raise ValueError(
            f"{source} disagrees with its tensors (config.json vs tensors): {mismatched}"
        )
    return LlamaConfig(
        **inferred,
        num_attention_heads=heads,
        head_dim=head_dim,
        hidden_act=config.get("hidden_act", "silu"),
        max_position_embeddings=config.get("max_position_embeddings", 2048),
        rms_norm_eps=config.get("rms_norm_eps", 1e-6),
        rope_parameters={"rope_type": "default", "rope_theta": float(config.get("rope_theta", 10000.0))},
        bos_token_id=config.get("bos_token_id", 1),
        eos_token_id=config.get("eos_token_id", 2),
        pad_token_id=config.get("pad_token_id", 0),
        tie_word_embeddings=False,
    )


def lisa_config_dict(llama_config: LlamaConfig, mm_hidden_size: int, out_dim: int, vision_tower: str) -> dict:
    """A LISA-7B-v1 style ``config.json`` for the given sizes."""
    return {
        "architectures": ["LISAForCausalLM"],
        "model_type": "llava",
        "bos_token_id": llama_config.bos_token_id,
        "eos_token_id": llama_config.eos_token_id,
        "pad_token_id": llama_config.pad_token_id,
        "hidden_act": llama_config.hidden_act,
        "hidden_size": llama_config.hidden_size,
        "intermediate_size": llama_config.intermediate_size,
        "initializer_range": llama_config.initializer_range,
        "max_position_embeddings": llama_config.max_position_embeddings,
        "num_attention_heads": llama_config.num_attention_heads,
        "num_hidden_layers": llama_config.num_hidden_layers,
        "num_key_value_heads": llama_config.num_key_value_heads,
        "rms_norm_eps": llama_config.rms_norm_eps,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "use_cache": False,
        "vocab_size": llama_config.vocab_size,
        "freeze_mm_mlp_adapter": False,
        "image_aspect_ratio": "square",
        "mm_hidden_size": mm_hidden_size,
        "mm_use_im_start_end": True,
        "mm_vision_select_feature": "patch",
        "mm_vision_select_layer": -2,
        "out_dim": out_dim,
        "train_mask_decoder": True,
        "tune_mm_mlp_adapter": False,
        "use_mm_proj": True,
        "vision_tower": vision_tower,
    }


def write_lisa_checkpoint(
    directory: str | pathlib.Path, config: dict, state_dict: dict[str, torch.Tensor], num_shards: int = 2
) -> pathlib.Path:
    """``config.json`` + ``pytorch_model-*.bin`` shards + index (tokenizer files are written separately)."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    write_bin_shards(state_dict, directory, num_shards)
    return directory


def check_declared_sizes(config: dict, mm_hidden_size: int, out_dim: int, source: str) -> None:
    """config.json's ``mm_hidden_size``/``out_dim`` must match the projector and text_hidden_fcs tensors."""
    for field, actual in (("mm_hidden_size", mm_hidden_size), ("out_dim", out_dim)):
        if field in config and int(config[field]) != actual:
            raise ValueError(f"{source}: config.json says {field}={config[field]} but the tensors give {actual}")


@dataclass
class LanguageSide:
    """What LISA, PISA and a PISA made from LISA share: the tokenizer, CLIP and the MLLM."""

    directory: pathlib.Path
    tokenizer: object
    clip_processor: object
    vision_tower: str
    mllm: torch.nn.Module


def build_language_side(
    directory: pathlib.Path,
    config: dict,
    weights: dict[str, dict[str, torch.Tensor]],
    vision_tower: str | pathlib.Path | None,
    file_prefixes: dict[str, str],
    device: torch.device,
    dtype: torch.dtype,
) -> LanguageSide:
    """The tokenizer in ``directory``, CLIP (default: the one config.json names) and CLIP + LLaMA +
    projector + text_hidden_fcs from ``weights`` (``llm``, ``mm_projector``, ``text_hidden_fcs``)."""
    source = str(directory)
    tokenizer = load_tokenizer(directory)
    vision_tower = str(vision_tower or config.get("vision_tower"))
    tower, clip_processor = load_clip_tower(vision_tower, device, dtype)
    mm_hidden_size = weights["mm_projector"]["weight"].shape[1]
    if tower.config.hidden_size != mm_hidden_size:
        raise ValueError(
            f"the CLIP tower has width {tower.config.hidden_size} but {source}'s mm_projector expects "
            f"{mm_hidden_size}: pass the CLIP model LISA was trained with ({config.get('vision_tower')})"
        )
    out_dim = weights["text_hidden_fcs"]["0.2.weight"].shape[0]
    check_declared_sizes(config, mm_hidden_size, out_dim, source)
    mllm = build_multimodal_llm(
        llama_config_from_tensors(config, weights["llm"], source),
        weights,
        tower,
        tokenizer,
        out_dim=out_dim,
        vision_select_layer=int(config.get("mm_vision_select_layer", -2)),
        device=device,
        dtype=dtype,
        source=source,
        file_prefixes=file_prefixes,
    )
    return LanguageSide(directory, tokenizer, clip_processor, vision_tower, mllm)


def load_lisa_language_side(
    checkpoint: str | pathlib.Path | None,
    vision_tower: str | pathlib.Path | None,
    device: torch.device,
    dtype: torch.dtype,
    argument: str = "checkpoint",
) -> tuple[LisaCheckpoint, LanguageSide]:
    """Read a LISA checkpoint directory and build its CLIP + LLaMA + projector + text_hidden_fcs."""
    directory = local_directory(checkpoint, argument, "LISA-7B-v1 (xinlai/LISA-7B-v1)")
    lisa = read_lisa_checkpoint(directory)
    weights = {"llm": lisa.llm, "mm_projector": lisa.mm_projector, "text_hidden_fcs": lisa.text_hidden_fcs}
    return lisa, build_language_side(directory, lisa.config, weights, vision_tower, FILE_PREFIXES, device, dtype)


def load_lisa(
    checkpoint: str | pathlib.Path | None,
    vision_tower: str | pathlib.Path | None,
    device: torch.device,
    dtype: torch.dtype,
) -> LoadedModel:
    """LISA from its checkpoint directory and a CLIP directory (default: the one config.json names)."""
    lisa, side = load_lisa_language_side(checkpoint, vision_tower, device, dtype)
    source = str(side.directory)
    sam_config = sam_config_from_state_dict(lisa.sam)
    sam_weights = convert_segment_anything_keys(lisa.sam)
    sam_loading = {"device": device, "dtype": dtype, "source": source, "file_prefix": SAM_PREFIX}
    image_encoder = build_sam_image_encoder(sam_config, sam_weights, **sam_loading)
    mask_decoder = build_mask_decoder(sam_config, sam_weights, **sam_loading)
    model = PartSegmentationModel("lisa", side.mllm, image_encoder, mask_decoder)
    return LoadedModel(model, side.tokenizer, side.clip_processor, lisa.use_im_start_end, side.directory,
                       side.vision_tower, provenance=read_provenance(side.directory))
