"""PISA checkpoints (this project's own format) and creating PISA from LISA.

A PISA directory holds ``config.json`` (LISA's LLaMA/LLaVA fields plus ``model_type:
"pisa"``, ``format_version``, ``dino_fusion`` and the ``dinov2`` directory it was built
with), ``model.safetensors`` and LISA's tokenizer files. Tensor names are the module
names of :class:`PartSegmentationModel` (``mllm.language_model.*``, ``mllm.mm_projector.*``,
``mllm.text_hidden_fcs.*``, ``image_encoder.neck.*``, ``image_encoder.upsample.*``,
``mask_decoder.*``); the frozen CLIP and DINOv2 towers come from their own directories.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil

import torch

from .components import build_mask_decoder, load_dinov2
from .dinov2_image_encoder import DinoFusionConfig, Dinov2FusionEncoder
from .lisa_checkpoint import SAM_PREFIX, build_language_side, lisa_config_dict, load_lisa_language_side
from .module_loading import empty_weights, load_strict, local_directory, resolve_device, resolve_dtype
from .part_model import LoadedModel, PartSegmentationModel
from .provenance import read_provenance, write_provenance
from .sam_checkpoint import convert_segment_anything_keys, sam_config_from_state_dict, to_segment_anything_keys
from .tokenizer import TOKENIZER_FILES
from .weight_files import read_weights, write_safetensors

CONFIG_FILE = "config.json"
MODEL_TYPE = "pisa"
FORMAT_VERSION = 1
LLM_PREFIX = "mllm.language_model."
PROJECTOR_PREFIX = "mllm.mm_projector."
TEXT_FCS_PREFIX = "mllm.text_hidden_fcs."
FUSION_PREFIX = "image_encoder."
DECODER_PREFIX = "mask_decoder."
PISA_PREFIXES = (LLM_PREFIX, PROJECTOR_PREFIX, TEXT_FCS_PREFIX, FUSION_PREFIX, DECODER_PREFIX)


def read_pisa_config(directory: pathlib.Path) -> dict:
    """config.json of a PISA checkpoint, checked for its type and format version."""
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"no {CONFIG_FILE} in {directory}: pass a PISA checkpoint directory (see pisa_from_lisa)")
    config = json.loads(path.read_text())
    if config.get("model_type") != MODEL_TYPE:
        raise ValueError(
            f"{path} has model_type={config.get('model_type')!r}, not {MODEL_TYPE!r}: "
            "for a LISA checkpoint use kind='lisa'"
        )
    if config.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has format_version={config.get('format_version')!r}; this package reads {FORMAT_VERSION}"
        )
    return config


def split_pisa_state_dict(state_dict: dict[str, torch.Tensor], source: str) -> dict[str, dict[str, torch.Tensor]]:
    """Tensors grouped by prefix (prefix removed); a tensor of no known part is an error naming it."""
    parts: dict[str, dict[str, torch.Tensor]] = {prefix: {} for prefix in PISA_PREFIXES}
    unknown = []
    for name, tensor in state_dict.items():
        prefix = next((p for p in PISA_PREFIXES if name.startswith(p)), None)
        if prefix is None:
            unknown.append(name)
        else:
            parts[prefix][name.removeprefix(prefix)] = tensor
    if unknown:
        raise ValueError(f"{source} holds tensors that are not part of PISA: {sorted(unknown)[:20]}")
    empty = [prefix for prefix, part in parts.items() if not part]
    if empty:
        raise ValueError(f"{source} has no tensors under {empty}: it is not a complete PISA checkpoint")
    return parts


def load_pisa(
    checkpoint: str | pathlib.Path | None,
    vision_tower: str | pathlib.Path | None,
    dinov2: str | pathlib.Path | None,
    device: torch.device,
    dtype: torch.dtype,
) -> LoadedModel:
    """PISA from its directory plus the CLIP and DINOv2 directories (default: those config.json names)."""
    directory = local_directory(checkpoint, "checkpoint", "a PISA checkpoint")
    config = read_pisa_config(directory)
    source = str(directory)
    parts = split_pisa_state_dict(read_weights(directory), source)
    file_prefixes = {"llm": LLM_PREFIX, "mm_projector": PROJECTOR_PREFIX, "text_hidden_fcs": TEXT_FCS_PREFIX}
    weights = {part: parts[prefix] for part, prefix in file_prefixes.items()}
    side = build_language_side(directory, config, weights, vision_tower, file_prefixes, device, dtype)
    dinov2 = str(dinov2 or config.get("dinov2"))
    dino = load_dinov2(dinov2, device, dtype)
    with empty_weights(device, dtype):
        image_encoder = Dinov2FusionEncoder(dino, DinoFusionConfig(**config.get("dino_fusion", {})))
    load_strict(image_encoder, parts[FUSION_PREFIX], source, key_prefix=FUSION_PREFIX, skip_prefixes=("dinov2.",))
    decoder_weights = parts[DECODER_PREFIX]
    mask_decoder = build_mask_decoder(
        sam_config_from_state_dict(to_segment_anything_keys(decoder_weights)),
        decoder_weights,
        device=device,
        dtype=dtype,
        source=source,
        file_prefix=DECODER_PREFIX,
        file_uses_segment_anything_names=False,
    )
    model = PartSegmentationModel("pisa", side.mllm, image_encoder.eval(), mask_decoder)
    use_im_start_end = bool(config.get("mm_use_im_start_end", True))
    return LoadedModel(model, side.tokenizer, side.clip_processor, use_im_start_end, directory, side.vision_tower,
                       dinov2, read_provenance(directory))


def pisa_from_lisa(
    lisa_checkpoint: str | pathlib.Path,
    dinov2: str | pathlib.Path,
    vision_tower: str | pathlib.Path | None = None,
    fusion_config: DinoFusionConfig | None = None,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype = "float32",
    seed: int = 0,
) -> LoadedModel:
    """A PISA model where fine-tuning starts: LISA's LLM, projector, text_hidden_fcs and SAM decoder,
    a frozen DINOv2, and freshly initialised (``seed``) fusion and upsampling layers.

    LISA's SAM image encoder is not loaded (PISA replaces it).
    """
    device, dtype = resolve_device(device), resolve_dtype(dtype)
    lisa, side = load_lisa_language_side(lisa_checkpoint, vision_tower, device, dtype, argument="lisa_checkpoint")
    source = str(side.directory)
    decoder_sam = {name: t for name, t in lisa.sam.items() if not name.startswith("image_encoder.")}
    mask_decoder = build_mask_decoder(
        sam_config_from_state_dict(decoder_sam),
        convert_segment_anything_keys(decoder_sam),
        device=device,
        dtype=dtype,
        source=source,
        file_prefix=SAM_PREFIX,
    )
    dino = load_dinov2(dinov2, device, dtype)
    fusion_config = fusion_config or DinoFusionConfig(out_channels=lisa.out_dim)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        image_encoder = Dinov2FusionEncoder(dino, fusion_config)
    model = PartSegmentationModel("pisa", side.mllm, image_encoder.eval(), mask_decoder)
    provenance = {"trained": False, "made_by": "pisa_from_lisa", "lisa": str(side.directory), "dinov2": str(dinov2),
                  "fusion_seed": seed, "note": "fusion and upsampling layers freshly initialised, never trained"}
    return LoadedModel(model, side.tokenizer, side.clip_processor, lisa.use_im_start_end, side.directory,
                       side.vision_tower, str(dinov2), provenance)


def save_pisa(loaded: LoadedModel, directory: str | pathlib.Path,
              state_dict: dict[str, torch.Tensor] | None = None) -> pathlib.Path:
    """Write a PISA model as config.json + model.safetensors + the tokenizer files it was loaded with,
    and ``loaded.provenance`` as provenance.json.

    ``state_dict``: the tensors to store under :class:`PartSegmentationModel` names (default: the
    model's own, :meth:`~PartSegmentationModel.checkpoint_state_dict`); training passes its weights
    with LoRA merged.
    """
    model = loaded.model
    if model.kind != MODEL_TYPE:
        raise ValueError(f"save_pisa needs a PISA model, got kind={model.kind!r}")
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    mllm = model.mllm
    config = lisa_config_dict(
        mllm.language_model.config, mllm.mm_projector.in_features, mllm.out_dim, loaded.vision_tower
    )
    config.update(
        architectures=["PISA"],
        model_type=MODEL_TYPE,
        format_version=FORMAT_VERSION,
        mm_use_im_start_end=loaded.use_im_start_end,
        mm_vision_select_layer=mllm.vision_select_layer,
        dinov2=loaded.dinov2,
        dino_fusion=dataclasses.asdict(model.image_encoder.config),
        torch_dtype=str(mllm.mm_projector.weight.dtype).removeprefix("torch."),
    )
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    if state_dict is None:
        state_dict = model.checkpoint_state_dict()
    write_safetensors({name: t.cpu() for name, t in state_dict.items()}, directory)
    if loaded.provenance is not None:
        write_provenance(directory, loaded.provenance)
    for name in TOKENIZER_FILES:
        source_file = loaded.source / name
        if source_file.is_file() and source_file.resolve() != (directory / name).resolve():
            shutil.copyfile(source_file, directory / name)
    return directory
