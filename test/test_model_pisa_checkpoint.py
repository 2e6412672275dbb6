"""PISA checkpoints: created from LISA + DINOv2, saved as safetensors, loaded strictly."""
import json
import pathlib
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from instructpart_ros.model import load_segmenter
from instructpart_ros.model.lisa_checkpoint import read_lisa_checkpoint
from instructpart_ros.model.pisa_checkpoint import pisa_from_lisa
from instructpart_ros.model.sam_checkpoint import convert_segment_anything_keys
from instructpart_ros.model.tiny import TINY_FUSION, write_tiny_checkpoints

PISA_PREFIXES = ("mllm.language_model.", "mllm.mm_projector.", "mllm.text_hidden_fcs.",
                 "image_encoder.neck.", "image_encoder.upsample.", "mask_decoder.")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    paths = write_tiny_checkpoints(tmp_path_factory.mktemp("tiny"), kind="pisa", seed=0)
    paths["lisa"] = str(pathlib.Path(paths["checkpoint"]).parent / "lisa-tiny")
    return paths


@pytest.fixture()
def pisa_copy(tiny, tmp_path):
    return shutil.copytree(tiny["checkpoint"], tmp_path / "pisa")


def load(tiny, **overrides):
    arguments = {"kind": "pisa", "checkpoint": tiny["checkpoint"], "vision_tower": tiny["vision_tower"],
                 "dinov2": tiny["dinov2"], "device": "cpu", "dtype": "float32", **overrides}
    return load_segmenter(**arguments)


def edit_weights(directory, edit):
    tensors = load_file(directory / "model.safetensors")
    edit(tensors)
    save_file(tensors, directory / "model.safetensors")


def test_the_directory_holds_config_safetensors_and_lisas_tokenizer(tiny):
    directory = pathlib.Path(tiny["checkpoint"])
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        ["config.json", "model.safetensors", "tokenizer.model", "tokenizer_config.json", "added_tokens.json",
         "special_tokens_map.json", "provenance.json"])
    # built by pisa_from_lisa: its fusion layers are random, and its provenance says so
    assert json.loads((directory / "provenance.json").read_text())["trained"] is False
    config = json.loads((directory / "config.json").read_text())
    assert (config["model_type"], config["format_version"], config["out_dim"]) == ("pisa", 1, 256)
    assert config["dino_fusion"] == {"num_fused_layers": 3, "out_channels": 256, "input_size": 56, "decoder_grid": 8}
    assert (config["vision_tower"], config["dinov2"]) == (tiny["vision_tower"], tiny["dinov2"])
    names = load_file(directory / "model.safetensors")
    assert all(name.startswith(PISA_PREFIXES) for name in names)
    assert all(any(name.startswith(prefix) for name in names) for prefix in PISA_PREFIXES)


def test_every_tensor_loads_and_comes_back_unchanged(tiny):
    model = load(tiny).model
    in_file = load_file(pathlib.Path(tiny["checkpoint"]) / "model.safetensors")
    loaded = model.checkpoint_state_dict()
    assert sorted(loaded) == sorted(in_file)
    for name, tensor in in_file.items():
        assert torch.equal(loaded[name], tensor), name
    assert model.image_encoder.config == TINY_FUSION
    assert all(not p.requires_grad for p in model.image_encoder.dinov2.parameters())


def test_pisa_from_lisa_keeps_lisas_weights_and_seeds_the_new_layers(tiny):
    lisa = read_lisa_checkpoint(tiny["lisa"])
    first = pisa_from_lisa(tiny["lisa"], tiny["dinov2"], tiny["vision_tower"], TINY_FUSION, seed=0).model
    for name, tensor in first.mllm.language_model.state_dict().items():
        assert torch.equal(tensor, lisa.llm[name]), name
    decoder = convert_segment_anything_keys({k: v for k, v in lisa.sam.items() if not k.startswith("image_encoder.")})
    for name, tensor in first.mask_decoder.state_dict().items():
        assert torch.equal(tensor, decoder[name]), name
    again = pisa_from_lisa(tiny["lisa"], tiny["dinov2"], tiny["vision_tower"], TINY_FUSION, seed=0).model
    other = pisa_from_lisa(tiny["lisa"], tiny["dinov2"], tiny["vision_tower"], TINY_FUSION, seed=1).model
    fusion = first.image_encoder.fusion_state_dict()
    assert all(torch.equal(t, again.image_encoder.fusion_state_dict()[n]) for n, t in fusion.items())
    assert not torch.equal(fusion["neck.mlp.0.weight"], other.image_encoder.fusion_state_dict()["neck.mlp.0.weight"])


@pytest.mark.parametrize(
    "removed",
    ["image_encoder.neck.mlp.0.weight", "image_encoder.upsample.stages.0.0.bias",
     "mllm.language_model.model.layers.0.self_attn.q_proj.weight", "mllm.text_hidden_fcs.0.0.bias",
     "mask_decoder.mask_decoder.upscale_conv2.bias"],
)
def test_a_removed_tensor_is_refused_by_name(tiny, pisa_copy, removed):
    edit_weights(pisa_copy, lambda tensors: tensors.pop(removed))
    with pytest.raises(ValueError, match=rf"missing 1 tensor\(s\): {removed.replace('.', '[.]')}"):
        load(tiny, checkpoint=pisa_copy)


def test_an_unknown_tensor_is_refused_by_name(tiny, pisa_copy):
    edit_weights(pisa_copy, lambda tensors: tensors.setdefault("image_encoder.dinov2.extra", torch.zeros(1)))
    with pytest.raises(ValueError, match=r"\(unexpected 1 tensor\(s\): image_encoder.dinov2.extra\)"):
        load(tiny, checkpoint=pisa_copy)


def test_checkpoints_of_the_other_kind_are_refused_with_the_fix(tiny):
    with pytest.raises(ValueError, match=r"has model_type='llava', not 'pisa': for a LISA checkpoint use kind='lisa'"):
        load(tiny, checkpoint=tiny["lisa"])
    with pytest.raises(ValueError, match=r"is a PISA checkpoint: load it with kind='pisa'"):
        load(tiny, kind="lisa")


def test_the_dinov2_directory_must_be_local(tiny):
    with pytest.raises(ValueError, match=r"dinov2='facebook/dinov2-large' is a Hugging Face hub id.*pass dinov2="):
        load(tiny, dinov2="facebook/dinov2-large")
