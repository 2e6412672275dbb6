"""SAM weights in segment-anything naming <-> transformers' `SamModel` naming, and sizes from shapes.

LISA checkpoints store SAM under `model.visual_model.` in segment-anything's names
(`image_encoder.*`, `prompt_encoder.*`, `mask_decoder.*`). The model is built from
transformers' SAM modules, so the names are translated here with one table used in
both directions. Every tensor has the same layout in both libraries (the test suite
checks this numerically against segment-anything), so conversion only renames; the
one structural difference is that transformers keeps the random-Fourier positional
matrix twice (`shared_image_embedding` and the prompt encoder's tied copy).
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from transformers import SamConfig, SamMaskDecoderConfig, SamPromptEncoderConfig, SamVisionConfig

# Placeholders usable in the name table below, each a regular expression.
_PLACEHOLDERS = {
    "n": r"\d+",
    "p": r"weight|bias",
    "attn": r"self_attn|cross_attn_token_to_image|cross_attn_image_to_token",
    "proj": r"q_proj|k_proj|v_proj|out_proj",
    "k": r"[1-4]",
    "lin": r"lin1|lin2",
    "axis": r"h|w",
}

# (segment-anything name, transformers name) for every SAM tensor but the MLP heads
# and the positional matrix, which are handled separately below.
_NAME_TABLE: tuple[tuple[str, str], ...] = (
    ("image_encoder.pos_embed", "vision_encoder.pos_embed"),
    ("image_encoder.patch_embed.proj.{p}", "vision_encoder.patch_embed.projection.{p}"),
    ("image_encoder.blocks.{n}.norm{k}.{p}", "vision_encoder.layers.{n}.layer_norm{k}.{p}"),
    ("image_encoder.blocks.{n}.attn.qkv.{p}", "vision_encoder.layers.{n}.attn.qkv.{p}"),
    ("image_encoder.blocks.{n}.attn.proj.{p}", "vision_encoder.layers.{n}.attn.proj.{p}"),
    ("image_encoder.blocks.{n}.attn.rel_pos_{axis}", "vision_encoder.layers.{n}.attn.rel_pos_{axis}"),
    ("image_encoder.blocks.{n}.mlp.{lin}.{p}", "vision_encoder.layers.{n}.mlp.{lin}.{p}"),
    ("image_encoder.neck.0.{p}", "vision_encoder.neck.conv1.{p}"),
    ("image_encoder.neck.1.{p}", "vision_encoder.neck.layer_norm1.{p}"),
    ("image_encoder.neck.2.{p}", "vision_encoder.neck.conv2.{p}"),
    ("image_encoder.neck.3.{p}", "vision_encoder.neck.layer_norm2.{p}"),
    ("prompt_encoder.point_embeddings.{n}.weight", "prompt_encoder.point_embed.{n}.weight"),
    ("prompt_encoder.not_a_point_embed.weight", "prompt_encoder.not_a_point_embed.weight"),
    ("prompt_encoder.no_mask_embed.weight", "prompt_encoder.no_mask_embed.weight"),
    ("prompt_encoder.mask_downscaling.0.{p}", "prompt_encoder.mask_embed.conv1.{p}"),
    ("prompt_encoder.mask_downscaling.1.{p}", "prompt_encoder.mask_embed.layer_norm1.{p}"),
    ("prompt_encoder.mask_downscaling.3.{p}", "prompt_encoder.mask_embed.conv2.{p}"),
    ("prompt_encoder.mask_downscaling.4.{p}", "prompt_encoder.mask_embed.layer_norm2.{p}"),
    ("prompt_encoder.mask_downscaling.6.{p}", "prompt_encoder.mask_embed.conv3.{p}"),
    ("mask_decoder.transformer.layers.{n}.{attn}.{proj}.{p}", "mask_decoder.transformer.layers.{n}.{attn}.{proj}.{p}"),
    ("mask_decoder.transformer.layers.{n}.norm{k}.{p}", "mask_decoder.transformer.layers.{n}.layer_norm{k}.{p}"),
    ("mask_decoder.transformer.layers.{n}.mlp.{lin}.{p}", "mask_decoder.transformer.layers.{n}.mlp.{lin}.{p}"),
    ("mask_decoder.transformer.final_attn_token_to_image.{proj}.{p}",
     "mask_decoder.transformer.final_attn_token_to_image.{proj}.{p}"),
    ("mask_decoder.transformer.norm_final_attn.{p}", "mask_decoder.transformer.layer_norm_final_attn.{p}"),
    ("mask_decoder.iou_token.weight", "mask_decoder.iou_token.weight"),
    ("mask_decoder.mask_tokens.weight", "mask_decoder.mask_tokens.weight"),
    ("mask_decoder.output_upscaling.0.{p}", "mask_decoder.upscale_conv1.{p}"),
    ("mask_decoder.output_upscaling.1.{p}", "mask_decoder.upscale_layer_norm.{p}"),
    ("mask_decoder.output_upscaling.3.{p}", "mask_decoder.upscale_conv2.{p}"),
)

SA_POSITIONAL_MATRIX = "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"
HF_POSITIONAL_MATRICES = (
    "shared_image_embedding.positional_embedding",
    "prompt_encoder.shared_embedding.positional_embedding",
)
# Older SAM checkpoints store the normalisation constants; the image encoder has them built in.
_DROPPED_SA_KEYS = frozenset({"pixel_mean", "pixel_std"})

# segment-anything's MLP heads are `layers.0..d-1`; transformers' SamFeedForward names the
# first and last `proj_in`/`proj_out` and the middle ones `layers.0..d-3`.
_MLP_HEAD = r"mask_decoder\.(?:iou_prediction_head|output_hypernetworks_mlps\.\d+)"
_SA_MLP = re.compile(rf"(?P<head>{_MLP_HEAD})\.layers\.(?P<n>\d+)\.(?P<p>weight|bias)")
_HF_MLP = re.compile(rf"(?P<head>{_MLP_HEAD})\.(?:proj_in|proj_out|layers\.(?P<n>\d+))\.(?P<p>weight|bias)")

_MAX_LISTED = 20


def _compile(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    pattern = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>{_PLACEHOLDERS[part]})" for i, part in enumerate(parts)
    )
    return re.compile(pattern)


_SA_TO_HF = tuple((_compile(sa), hf) for sa, hf in _NAME_TABLE)
_HF_TO_SA = tuple((_compile(hf), sa) for sa, hf in _NAME_TABLE)


def _rename(key: str, rules: tuple[tuple[re.Pattern[str], str], ...]) -> str | None:
    for pattern, template in rules:
        match = pattern.fullmatch(key)
        if match:
            return template.format(**match.groupdict())
    return None


def _mlp_depths(keys, pattern: re.Pattern[str], extra_layers: int) -> dict[str, int]:
    """Number of Linear layers of each MLP head, from its layer indices."""
    indices: dict[str, set[int]] = {}
    for key in keys:
        match = pattern.fullmatch(key)
        if match:
            layer = indices.setdefault(match["head"], set())
            if match["n"] is not None:
                layer.add(int(match["n"]))
    return {head: len(layers) + extra_layers for head, layers in indices.items()}


def _refuse_unknown(unknown: list[str], what: str, hint: str) -> None:
    if not unknown:
        return
    listed = ", ".join(unknown[:_MAX_LISTED])
    more = f" and {len(unknown) - _MAX_LISTED} more" if len(unknown) > _MAX_LISTED else ""
    raise ValueError(f"{len(unknown)} tensor(s) are not {what}: {listed}{more}. {hint}")


def convert_segment_anything_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """segment-anything SAM names -> transformers `SamModel` names (the same tensors, no copies).

    Accepts a full SAM or any part of one (e.g. only `mask_decoder.*`). `pixel_mean` and
    `pixel_std` are dropped. Unknown names raise a `ValueError` that lists them.
    """
    mlp_depths = _mlp_depths(state_dict, _SA_MLP, extra_layers=0)
    converted: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, tensor in state_dict.items():
        if key in _DROPPED_SA_KEYS:
            continue
        if key == SA_POSITIONAL_MATRIX:
            for name in HF_POSITIONAL_MATRICES:
                converted[name] = tensor
            continue
        new_key = _rename(key, _SA_TO_HF)
        mlp = _SA_MLP.fullmatch(key) if new_key is None else None
        if mlp:
            depth, layer = mlp_depths[mlp["head"]], int(mlp["n"])
            if depth < 2:
                raise ValueError(f"{mlp['head']} has {depth} Linear layer(s); transformers' SAM needs at least 2")
            name = "proj_in" if layer == 0 else "proj_out" if layer == depth - 1 else f"layers.{layer - 1}"
            new_key = f"{mlp['head']}.{name}.{mlp['p']}"
        if new_key is None:
            unknown.append(key)
        else:
            converted[new_key] = tensor
    _refuse_unknown(
        unknown,
        "segment-anything SAM weights",
        "Pass only the keys under 'image_encoder.', 'prompt_encoder.' and 'mask_decoder.' "
        "(strip the 'model.visual_model.' prefix of a LISA checkpoint).",
    )
    return converted


def to_segment_anything_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers `SamModel` names -> segment-anything names; the inverse of `convert_segment_anything_keys`.

    The two copies of the positional matrix become one; they must be equal.
    """
    mlp_depths = _mlp_depths(state_dict, _HF_MLP, extra_layers=2)
    converted: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, tensor in state_dict.items():
        if key in HF_POSITIONAL_MATRICES:
            previous = converted.setdefault(SA_POSITIONAL_MATRIX, tensor)
            if previous is not tensor and not previous.is_meta and not torch.equal(previous, tensor):
                raise ValueError(
                    f"{HF_POSITIONAL_MATRICES[0]} and {HF_POSITIONAL_MATRICES[1]} differ, but segment-anything "
                    "has a single positional matrix: tie them before converting"
                )
            continue
        new_key = _rename(key, _HF_TO_SA)
        mlp = _HF_MLP.fullmatch(key) if new_key is None else None
        if mlp:
            head = mlp["head"]
            if mlp["n"] is not None:
                layer = int(mlp["n"]) + 1
            else:
                layer = 0 if ".proj_in." in key else mlp_depths[head] - 1
            new_key = f"{head}.layers.{layer}.{mlp['p']}"
        if new_key is None:
            unknown.append(key)
        else:
            converted[new_key] = tensor
    _refuse_unknown(
        unknown,
        "transformers SamModel weights",
        "Pass only the keys under 'vision_encoder.', 'shared_image_embedding.', 'prompt_encoder.' and 'mask_decoder.'.",
    )
    return converted


# ---------------------------------------------------------------------------------------
# Sizes from shapes


def _shape(shapes: Mapping[str, tuple[int, ...]], key: str) -> tuple[int, ...]:
    if key not in shapes:
        raise ValueError(
            f"tensor {key!r} is missing: sam_config_from_state_dict needs SAM weights in segment-anything "
            "naming (image_encoder.*, prompt_encoder.*, mask_decoder.*)"
        )
    return shapes[key]


def _indices(shapes: Mapping[str, tuple[int, ...]], prefix: str) -> list[int]:
    """Sorted indices N of keys `prefix.N.*`, checked to run 0..count-1."""
    pattern = re.compile(rf"{re.escape(prefix)}\.(\d+)\.")
    found = sorted({int(m.group(1)) for key in shapes if (m := pattern.match(key))})
    if found != list(range(len(found))):
        raise ValueError(f"{prefix}.* has indices {found}; expected 0..{len(found) - 1} without gaps")
    return found


def _vision_config(shapes: Mapping[str, tuple[int, ...]], num_pos_feats: int, output_channels: int) -> SamVisionConfig:
    if not any(key.startswith("image_encoder.") for key in shapes):
        # Decoder-only weights (PISA replaces SAM's encoder): keep SAM's 1024 px / 16 px geometry.
        return SamVisionConfig(num_pos_feats=num_pos_feats, output_channels=output_channels)
    hidden_size, num_channels, patch_h, patch_w = _shape(shapes, "image_encoder.patch_embed.proj.weight")
    _, grid_h, grid_w, _ = _shape(shapes, "image_encoder.pos_embed")
    if patch_h != patch_w or grid_h != grid_w:
        raise ValueError(f"only square SAM patches and inputs are supported, got patch {patch_h}x{patch_w}, "
                         f"grid {grid_h}x{grid_w}")
    blocks = _indices(shapes, "image_encoder.blocks")
    if not blocks:
        raise ValueError("no image_encoder.blocks.* tensors: this is not a SAM image encoder")
    head_dims, global_attn, window_sizes = set(), [], set()
    for block in blocks:
        table_rows, head_dim = _shape(shapes, f"image_encoder.blocks.{block}.attn.rel_pos_h")
        head_dims.add(head_dim)
        # A relative-position table spans 2*size-1 positions: the whole grid for global blocks.
        if table_rows == 2 * grid_h - 1:
            global_attn.append(block)
        else:
            window_sizes.add((table_rows + 1) // 2)
    if len(head_dims) != 1 or len(window_sizes) > 1 or hidden_size % next(iter(head_dims)):
        raise ValueError(f"inconsistent SAM attention tables: head sizes {sorted(head_dims)}, "
                         f"window sizes {sorted(window_sizes)}, hidden size {hidden_size}")
    mlp_dim = _shape(shapes, "image_encoder.blocks.0.mlp.lin1.weight")[0]
    return SamVisionConfig(
        hidden_size=hidden_size,
        output_channels=_shape(shapes, "image_encoder.neck.0.weight")[0],
        num_hidden_layers=len(blocks),
        num_attention_heads=hidden_size // head_dims.pop(),
        num_channels=num_channels,
        image_size=grid_h * patch_h,
        patch_size=patch_h,
        qkv_bias="image_encoder.blocks.0.attn.qkv.bias" in shapes,
        mlp_ratio=mlp_dim / hidden_size,
        mlp_dim=mlp_dim,
        use_abs_pos=True,
        use_rel_pos=True,
        window_size=window_sizes.pop() if window_sizes else SamVisionConfig().window_size,
        global_attn_indexes=global_attn,
        num_pos_feats=num_pos_feats,
        layer_norm_eps=1e-6,
    )


def _mask_decoder_config(shapes: Mapping[str, tuple[int, ...]], num_heads: int) -> SamMaskDecoderConfig:
    hidden_size = _shape(shapes, "mask_decoder.iou_token.weight")[1]
    internal_dim = _shape(shapes, "mask_decoder.transformer.layers.0.cross_attn_token_to_image.q_proj.weight")[0]
    if hidden_size % internal_dim or internal_dim % num_heads:
        raise ValueError(
            f"mask decoder attention of width {internal_dim} (hidden size {hidden_size}) cannot be split into "
            f"{num_heads} heads: pass the decoder's head count as mask_decoder_num_heads"
        )
    iou_head = _indices(shapes, "mask_decoder.iou_prediction_head.layers")
    return SamMaskDecoderConfig(
        hidden_size=hidden_size,
        mlp_dim=_shape(shapes, "mask_decoder.transformer.layers.0.mlp.lin1.weight")[0],
        num_hidden_layers=len(_indices(shapes, "mask_decoder.transformer.layers")),
        num_attention_heads=num_heads,
        attention_downsample_rate=hidden_size // internal_dim,
        num_multimask_outputs=_shape(shapes, "mask_decoder.mask_tokens.weight")[0] - 1,
        iou_head_depth=len(iou_head),
        iou_head_hidden_dim=_shape(shapes, "mask_decoder.iou_prediction_head.layers.0.weight")[0],
        # segment-anything's two-way transformer uses nn.LayerNorm's default eps.
        layer_norm_eps=1e-5,
    )


def sam_config_from_state_dict(
    state_dict: Mapping[str, torch.Tensor], *, mask_decoder_num_heads: int = 8
) -> SamConfig:
    """A `SamConfig` with every size read from tensor shapes (segment-anything naming).

    Recovers the image encoder's width, depth, heads (hidden size / relative-position
    table width), global-attention blocks (tables spanning the whole grid), window size,
    patch and image size, MLP width and output channels; the prompt encoder's widths;
    the mask decoder's width, depth, MLP width, attention downsampling, mask tokens and
    IoU head. The decoder's head count leaves no trace in any shape: it is
    `mask_decoder_num_heads` (8 in every released SAM). Without `image_encoder.*`
    tensors (decoder-only weights) the vision part keeps SAM's default geometry.
    """
    shapes = {key: tuple(tensor.shape) for key, tensor in state_dict.items()}
    num_pos_feats = _shape(shapes, SA_POSITIONAL_MATRIX)[1]
    prompt_hidden = _shape(shapes, "prompt_encoder.no_mask_embed.weight")[1]
    if 2 * num_pos_feats != prompt_hidden:
        raise ValueError(f"positional matrix gives {2 * num_pos_feats} features but the prompt width is "
                         f"{prompt_hidden}: these weights are not a consistent SAM")
    vision = _vision_config(shapes, num_pos_feats, output_channels=prompt_hidden)
    prompt = SamPromptEncoderConfig(
        hidden_size=prompt_hidden,
        image_size=vision.image_size,
        patch_size=vision.patch_size,
        mask_input_channels=_shape(shapes, "prompt_encoder.mask_downscaling.3.weight")[0],
        num_point_embeddings=len(_indices(shapes, "prompt_encoder.point_embeddings")),
        layer_norm_eps=1e-6,
    )
    decoder = _mask_decoder_config(shapes, mask_decoder_num_heads)
    return SamConfig(vision_config=vision, prompt_encoder_config=prompt, mask_decoder_config=decoder)
