"""Training data: a global batch is the same samples whatever the process layout, items are
deterministic, the paper's nested subsets, and bad data gets a clear answer."""
import json
import pathlib
import shutil

import pytest

from instructpart_ros.datasets.synthetic_split import write_split
from instructpart_ros.evaluation.dataset import DatasetError, load_split
from instructpart_ros.model.tiny import write_tiny_checkpoints
from instructpart_ros.model.pisa_checkpoint import load_pisa
from instructpart_ros.training.data import (BatchLayout, InstructPartTrainingSet, load_training_samples,
                                            nested_subset)
from instructpart_ros.training.recipe import load_recipe


def global_batch(layout_of_rank, world, accum, step):
    """Every rank's micro-batch keys of ``step``, in (micro-batch, rank) order."""
    keys = []
    for micro in range(accum):
        for rank in range(world):
            keys += layout_of_rank(rank).micro_batch_keys(0, step, micro)
    return keys


@pytest.mark.parametrize("world, accum", [(2, 2), (4, 1), (1, 4)])
def test_a_global_batch_is_the_same_samples_for_any_process_layout(world, accum):
    single = global_batch(lambda r: BatchLayout(2, 4, 1, 0), 1, 4, step=3)
    split = global_batch(lambda r: BatchLayout(2, accum, world, r), world, accum, step=3)
    assert sorted(split) == sorted(single) == [(0, p) for p in range(24, 32)]
    ranks = [BatchLayout(2, accum, world, r).micro_batch_keys(0, 3, 0) for r in range(world)]
    assert len({key for keys in ranks for key in keys}) == 2 * world  # no two ranks read one item


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    write_split(root, "train", 4, seed=5, progress=False)
    return root


@pytest.fixture(scope="module")
def tokenizer_and_clip(tmp_path_factory):
    paths = write_tiny_checkpoints(tmp_path_factory.mktemp("tiny"), kind="pisa")
    import torch
    loaded = load_pisa(paths["checkpoint"], paths["vision_tower"], paths["dinov2"], torch.device("cpu"), torch.float32)
    return loaded.tokenizer, loaded.clip_processor


def dataset(root, tokenizer_and_clip, **data):
    recipe = load_recipe(overrides=[f"data.{k}={v}" for k, v in data.items()])
    samples, _, _ = load_training_samples(root, recipe.data, seed=0, progress=False)
    return InstructPartTrainingSet(samples, recipe.data, 0, *tokenizer_and_clip, use_im_start_end=True)


def test_items_are_a_function_of_seed_epoch_and_position(synth_root, tokenizer_and_clip):
    data = dataset(synth_root, tokenizer_and_clip, hflip=0.5, color_jitter=0.2)
    first, again = data[(1, 3)], data[(1, 3)]
    assert first.id == again.id and first.variant == again.variant
    assert first.answer_ids == again.answer_ids and (first.rgb == again.rgb).all()
    assert (first.mask == again.mask).all() and first.mask.shape == first.rgb.shape[:2]
    drawn = {(data[(0, p)].id, data[(0, p)].variant) for p in range(len(data))}
    assert len({sid for sid, _ in drawn}) == len(data)  # an epoch visits every sample once
    assert len({variant for _, variant in drawn}) > 1  # instruction variants are sampled


def broken_copy(tmp_path, synth_root):
    root = tmp_path / "data"
    shutil.copytree(synth_root, root)
    return root, load_split(root, "train")


def replace_file(path: pathlib.Path, data: bytes) -> None:
    path.unlink()  # the images of one scene are hard links: break only this one
    path.write_bytes(data)


def test_an_unreadable_image_is_skipped_and_counted(tmp_path, synth_root):
    root, samples = broken_copy(tmp_path, synth_root)
    replace_file(samples[0].image_path, b"not an image at all")
    recipe = load_recipe(overrides=["data.split=train"])
    kept, how, corrupt = load_training_samples(root, recipe.data, seed=0, progress=False)
    assert corrupt == [samples[0].id] and [s.id for s in kept] == [s.id for s in samples[1:]]


def test_an_image_that_fails_to_decode_is_replaced_by_the_next_sample(tmp_path, synth_root, tokenizer_and_clip):
    root, samples = broken_copy(tmp_path, synth_root)
    replace_file(samples[0].image_path, samples[0].image_path.read_bytes()[:8000])  # header intact, data cut
    data = dataset(root, tokenizer_and_clip)
    item = data[(0, data.order(0).index(0))]
    assert item.skipped == [samples[0].id] and item.id == samples[1].id


def test_bad_masks_are_named(tmp_path, synth_root, tokenizer_and_clip):
    root, samples = broken_copy(tmp_path, synth_root)
    sample = samples[2]
    from PIL import Image
    Image.new("L", Image.open(sample.mask_path).size, 0).save(sample.mask_path)
    with pytest.raises(DatasetError, match=f"sample {sample.id}: mask .*{sample.mask_path.name} is empty"):
        dataset(root, tokenizer_and_clip)
    Image.new("L", (17, 9), 1).save(sample.mask_path)
    with pytest.raises(DatasetError, match=f"sample {sample.id}: mask .* is 17x9 but image .* is 320x240"):
        dataset(root, tokenizer_and_clip)


def test_a_missing_split_names_what_exists(synth_root, tokenizer_and_clip):
    with pytest.raises(DatasetError, match=r"unknown split 'validation'.*found on disk: train"):
        dataset(synth_root, tokenizer_and_clip, split="validation")


def test_train_samples_are_nested_subsets_or_the_released_split(tmp_path, synth_root):
    samples = load_split(synth_root, "train")
    small, large = nested_subset(samples, 3, seed=0), nested_subset(samples, 6, seed=0)
    assert len(small) == 3 and set(s.id for s in small) <= set(s.id for s in large)
    with pytest.raises(DatasetError, match=r"--train-samples 99 but the split has only \d+ samples"):
        nested_subset(samples, 99, seed=0)
    # InstructPart ships train/train200 ... train1800: --train-samples N takes the released split.
    released = tmp_path / "released"
    shutil.copytree(synth_root / "train", released / "train" / "train3")
    (released / "train" / "train3" / "data_train.json").write_text(
        json.dumps(json.loads((synth_root / "train" / "data_train.json").read_text())[:1]))
    recipe = load_recipe(overrides=["data.train_samples=3", "data.split=train"])
    chosen, how, _ = load_training_samples(released, recipe.data, seed=0, progress=False)
    assert how == "the released train3 split" and len(chosen) == len(load_split(released, "train3"))
