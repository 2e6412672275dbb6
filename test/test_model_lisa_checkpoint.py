"""LISA-7B-v1 layout: tiny checkpoints written in it load strictly through the real code."""
import json
import pathlib
import shutil

import pytest
import torch

from instructpart_ros.model import load_segmenter
from instructpart_ros.model.lisa_checkpoint import (
    join_lisa_state_dict,
    llama_config_from_tensors,
    read_lisa_checkpoint,
)
from instructpart_ros.model.sam_checkpoint import to_segment_anything_keys
from instructpart_ros.model.tiny import write_tiny_checkpoints
from instructpart_ros.model.weight_files import BIN_INDEX, read_weights

SHARDS = ("pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_checkpoints(tmp_path_factory.mktemp("tiny"), kind="lisa", seed=0)


@pytest.fixture()
def lisa_copy(tiny, tmp_path):
    """A writable copy of the tiny LISA directory."""
    return shutil.copytree(tiny["checkpoint"], tmp_path / "lisa")


def load(checkpoint, tiny, **overrides):
    arguments = {"kind": "lisa", "checkpoint": checkpoint, "vision_tower": tiny["vision_tower"],
                 "device": "cpu", "dtype": "float32", **overrides}
    return load_segmenter(**arguments)


def rewrite_shards(directory, edit):
    """Apply ``edit(dict)`` to every shard and rebuild the index to match."""
    weight_map = {}
    for shard in SHARDS:
        tensors = torch.load(directory / shard, weights_only=True)
        edit(tensors)
        torch.save(tensors, directory / shard)
        weight_map.update(dict.fromkeys(tensors, shard))
    (directory / BIN_INDEX).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))


def test_the_directory_has_lisa_7b_v1s_files_and_names(tiny):
    directory = tiny["checkpoint"]
    files = sorted(path.name for path in pathlib.Path(directory).iterdir())
    assert files == sorted([*SHARDS, BIN_INDEX, "config.json", "added_tokens.json", "tokenizer.model",
                            "tokenizer_config.json", "special_tokens_map.json"])
    config = json.loads((pathlib.Path(directory) / "config.json").read_text())
    assert config["mm_use_im_start_end"] is True and config["mm_vision_select_layer"] == -2
    assert (config["out_dim"], config["mm_hidden_size"], config["vision_tower"]) == (256, 32, tiny["vision_tower"])
    names = set(read_weights(directory))
    for name in ("model.embed_tokens.weight", "model.layers.1.mlp.down_proj.weight", "model.norm.weight",
                 "lm_head.weight", "model.mm_projector.weight", "model.text_hidden_fcs.0.0.weight",
                 "model.text_hidden_fcs.0.2.bias", "model.visual_model.image_encoder.blocks.1.attn.rel_pos_h",
                 "model.visual_model.prompt_encoder.pe_layer.positional_encoding_gaussian_matrix",
                 "model.visual_model.mask_decoder.output_hypernetworks_mlps.0.layers.2.weight"):
        assert name in names
    assert not [name for name in names if "vision_tower" in name]


def test_every_tensor_loads_and_comes_back_unchanged(tiny):
    """Zero missing/unexpected keys: the loaded model, written back in LISA's names, is the file."""
    segmenter = load(tiny["checkpoint"], tiny)
    model = segmenter.model
    sam = {**model.image_encoder.state_dict(), **model.mask_decoder.state_dict()}
    written_back = join_lisa_state_dict(
        model.mllm.language_model.state_dict(), model.mllm.mm_projector.state_dict(),
        model.mllm.text_hidden_fcs.state_dict(), to_segment_anything_keys(sam),
    )
    in_file = read_weights(tiny["checkpoint"])
    assert sorted(written_back) == sorted(in_file)
    for name, tensor in in_file.items():
        assert torch.equal(written_back[name], tensor), name


def test_sizes_come_from_tensor_shapes(tiny):
    lisa = read_lisa_checkpoint(tiny["checkpoint"])
    config = llama_config_from_tensors({"num_attention_heads": 4}, lisa.llm, "tiny")
    assert (config.vocab_size, config.hidden_size, config.num_hidden_layers) == (644, 64, 2)
    assert (config.intermediate_size, config.num_key_value_heads) == (128, 4)
    disagreement = r"disagrees with its tensors \(config.json vs tensors\): \{'hidden_size': \(4096, 64\)\}"
    with pytest.raises(ValueError, match=disagreement):
        llama_config_from_tensors({"num_attention_heads": 4, "hidden_size": 4096}, lisa.llm, "tiny")


@pytest.mark.parametrize(
    "removed",
    ["model.layers.1.mlp.up_proj.weight", "model.text_hidden_fcs.0.2.bias",
     "model.visual_model.image_encoder.blocks.0.mlp.lin2.bias",
     "model.visual_model.mask_decoder.transformer.layers.1.norm3.weight"],
)
def test_a_removed_tensor_is_refused_by_name(tiny, lisa_copy, removed):
    rewrite_shards(lisa_copy, lambda tensors: tensors.pop(removed, None))
    with pytest.raises(ValueError, match=rf"missing 1 tensor\(s\): {removed.replace('.', '[.]')}"):
        load(lisa_copy, tiny)


def test_an_unexpected_tensor_is_refused_by_name(tiny, lisa_copy):
    rewrite_shards(lisa_copy, lambda tensors: tensors.setdefault("model.vision_tower.extra", torch.zeros(1)))
    not_lisa = r"holds 1 tensor\(s\) that are not part of LISA: \['model.vision_tower.extra'\]"
    with pytest.raises(ValueError, match=not_lisa):
        load(lisa_copy, tiny)


def test_old_rotary_buffers_are_accepted(tiny, lisa_copy):
    rewrite_shards(lisa_copy, lambda t: t.setdefault("model.layers.0.self_attn.rotary_emb.inv_freq", torch.ones(8)))
    assert load(lisa_copy, tiny).model.mllm.language_model.config.num_hidden_layers == 2


def test_a_shard_missing_from_disk_or_index_is_refused(tiny, lisa_copy):
    index = json.loads((lisa_copy / BIN_INDEX).read_text())
    index["weight_map"]["model.norm.weight"] = "pytorch_model-00003-of-00002.bin"
    (lisa_copy / BIN_INDEX).write_text(json.dumps(index))
    with pytest.raises(ValueError, match=r"names shards that are not in .*\['pytorch_model-00003-of-00002.bin'\]"):
        load(lisa_copy, tiny)
    del index["weight_map"]["model.norm.weight"]
    (lisa_copy / BIN_INDEX).write_text(json.dumps(index))
    with pytest.raises(ValueError, match=r"present but not indexed \['model.norm.weight'\]"):
        load(lisa_copy, tiny)


class NotATensor:
    pass


def test_pickled_code_is_never_loaded(tiny, lisa_copy):
    rewrite_shards(lisa_copy, lambda tensors: None)
    torch.save({"model.norm.weight": NotATensor()}, lisa_copy / SHARDS[1])
    with pytest.raises(ValueError, match=rf"cannot read .*{SHARDS[1]} as plain tensors"):
        load(lisa_copy, tiny)


def test_a_hub_id_instead_of_a_directory_says_what_to_download(tiny, lisa_copy):
    config = json.loads((lisa_copy / "config.json").read_text())
    config["vision_tower"] = "openai/clip-vit-large-patch14"
    (lisa_copy / "config.json").write_text(json.dumps(config))
    hub_id = (r"vision_tower='openai/clip-vit-large-patch14' is a Hugging Face hub id.*"
              r"instructpart download clip-vit-large-patch14 --to /path/to\) "
              r"and pass vision_tower=/path/to/clip-vit-large-patch14")
    with pytest.raises(ValueError, match=hub_id):
        load(lisa_copy, tiny, vision_tower=None)
    with pytest.raises(ValueError, match="checkpoint='xinlai/LISA-7B-v1' is a Hugging Face hub id"):
        load("xinlai/LISA-7B-v1", tiny)


def test_a_wrong_seg_id_is_refused(tiny, lisa_copy):
    added = json.loads((lisa_copy / "added_tokens.json").read_text())
    added["[SEG]"] = 644  # one past where LISA's embedding rows end
    (lisa_copy / "added_tokens.json").write_text(json.dumps(added))
    with pytest.raises(ValueError, match=r"'\[SEG\]': 644.*expected .*'\[SEG\]': 643"):
        load(lisa_copy, tiny)


def test_a_clip_of_another_width_is_refused(tiny, lisa_copy, tmp_path):
    clip = shutil.copytree(tiny["vision_tower"], tmp_path / "clip")
    config = json.loads((clip / "config.json").read_text())
    config["vision_config"]["hidden_size"] = 48
    (clip / "config.json").write_text(json.dumps(config))
    wrong_width = (r"clip does not hold a complete CLIPVisionModel: 0 tensor\(s\) missing \[\], 52 of another shape "
                   r"\['embeddings.class_embedding \(32,\) in the file vs \(48,\) from config.json'")
    with pytest.raises(ValueError, match=wrong_width):
        load(lisa_copy, tiny, vision_tower=clip)
