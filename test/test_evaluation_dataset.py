"""The InstructPart reader on the 50 real samples and on broken copies; the table-top tasks."""
import json
import pathlib
import shutil

import numpy as np
import pytest
from PIL import Image

from instructpart_ros.evaluation.dataset import (INSTRUCTION_NAMES, DatasetError,
                                                 available_splits, load_split,
                                                 load_tabletop_tasks, read_rgb, sample_id)
from test_evaluation_support import write_small_dataset


def test_reads_the_50_real_samples(instructpart_root):
    samples = load_split(instructpart_root, "test")
    assert len(samples) == 50
    assert [s.id for s in samples] == sorted(s.id for s in samples)
    by_id = {s.id: s for s in samples}
    faucet = by_id["kitchen_1-faucet-handle"]
    assert (faucet.object, faucet.part, faucet.affordance, faucet.action) == \
        ("faucet", "handle", "lift", "turn on")
    assert faucet.image_path == instructpart_root / "test/images/kitchen_1-faucet-handle.jpg"
    assert faucet.mask_path == instructpart_root / "test/masks/kitchen_1-faucet-handle.png"
    assert list(faucet.instructions) == list(INSTRUCTION_NAMES)
    assert faucet.instruction("human") == ("If I want to turn on the faucet, which part in "
                                           "the picture should be used to control?")
    assert faucet.instruction("gpt") == "Identify the part of the faucet for water control."
    assert faucet.instruction("op_sentence") == "Where is the handle of the faucet in this image?"
    assert faucet.instruction("opa") == "handle of the faucet that can be lifted"
    assert faucet.object_part == "faucet/handle"
    # Several entries share one photo: each is its own sample with its own files.
    assert "kitchen_1-microwave-handle" in by_id
    # Spaces in names become underscores in the id, not in the fields.
    trash = by_id["11738676443_7ded5c160f_o-trash_can-lid"]
    assert trash.object == "trash can"


def test_read_rgb_matches_the_mask(instructpart_root):
    sample = load_split(instructpart_root, "test")[0]
    rgb = read_rgb(sample)
    mask = np.array(Image.open(sample.mask_path))
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert rgb.shape[:2] == mask.shape


def test_sample_id_follows_the_dataset():
    assert sample_id("kitchen_1.jpg", "trash can", "lid") == "kitchen_1-trash_can-lid"
    assert sample_id("a b.jpg", "bed frame", "leg") == "a_b-bed_frame-leg"


def test_unknown_instruction_names_the_choices(instructpart_root):
    sample = load_split(instructpart_root, "test")[0]
    with pytest.raises(ValueError, match="unknown instruction 'task': use one of human, gpt, "
                                         "op_sentence, opa_sentence, op, opa"):
        sample.instruction("task")


@pytest.fixture()
def small_root(instructpart_root, tmp_path):
    return write_small_dataset(instructpart_root, tmp_path / "InstructPart")


def test_train_layout_and_split_names(small_root):
    train = small_root / "train" / "train200"
    shutil.copytree(small_root / "test", train)
    (train / "data_test.json").rename(train / "data_train.json")
    assert available_splits(small_root) == ["test", "train200"]
    train_samples = load_split(small_root, "train200")
    assert len(train_samples) == 6
    assert train_samples[0].image_path.parent == train / "images"
    with pytest.raises(DatasetError, match=r"unknown split 'val': use test, all, train or "
                                           r"trainNNNN \(found on disk: test, train200\)"):
        load_split(small_root, "val")
    # The released layout has no single train split: the message names the ones it has.
    with pytest.raises(DatasetError, match=r"split 'train': .*data_train.json does not exist; "
                                           r".* holds the released training splits train200: "
                                           r"pass one of them as the split"):
        load_split(small_root, "train")


def test_missing_root_and_json(tmp_path):
    with pytest.raises(DatasetError, match=f"dataset root {tmp_path / 'nope'} is not a directory"):
        load_split(tmp_path / "nope", "test")
    with pytest.raises(DatasetError, match=r"split 'test': .*data_test.json does not exist"):
        load_split(tmp_path, "test")


def test_missing_image_names_sample_and_file(small_root):
    image = small_root / "test/images/kitchen_1-faucet-handle.jpg"
    image.unlink()
    with pytest.raises(DatasetError) as error:
        load_split(small_root, "test")
    assert str(error.value) == f"sample kitchen_1-faucet-handle: image {image} does not exist"
    assert len(load_split(small_root, "test", check_files=False)) == 6


def test_missing_mask_names_sample_and_file(small_root):
    mask = small_root / "test/masks/kitchen_1-microwave-handle.png"
    mask.unlink()
    with pytest.raises(DatasetError) as error:
        load_split(small_root, "test")
    assert str(error.value) == f"sample kitchen_1-microwave-handle: mask {mask} does not exist"


def test_mask_of_another_size_names_both_sizes(small_root):
    sid = "1009786005_d4a02fd811_o-faucet-handle"
    image = small_root / f"test/images/{sid}.jpg"
    mask = small_root / f"test/masks/{sid}.png"
    Image.new("L", (10, 7)).save(mask)
    width, height = Image.open(image).size
    with pytest.raises(DatasetError) as error:
        load_split(small_root, "test")
    assert str(error.value) == (
        f"sample {sid}: mask {mask} is 10x7 but image {image} is {width}x{height} "
        "(width x height); a mask must be its image's size")


def rewrite_json(root: pathlib.Path, change) -> pathlib.Path:
    path = root / "test/data_test.json"
    entries = json.loads(path.read_text())
    change(entries)
    path.write_text(json.dumps(entries))
    return path


def test_malformed_entries_are_named(small_root):
    path = rewrite_json(small_root, lambda entries: entries[2].pop("part_list"))
    with pytest.raises(DatasetError, match=rf"{path} entry 2 is malformed: expected "
                                           r"\{\"image_path\": str, \"part_list\": \[\.\.\.\]\}"):
        load_split(small_root, "test")


def test_missing_field_is_named(small_root):
    def drop_affordance(entries):
        del entries[0]["part_list"][0]["affordance"]
    path = rewrite_json(small_root, drop_affordance)
    image = json.loads(path.read_text())[0]["image_path"]
    with pytest.raises(DatasetError) as error:
        load_split(small_root, "test")
    assert str(error.value) == (f"{path} entry 0 ({image}), part 0 is malformed: affordance "
                                "missing or not a string")


def test_wrong_instruction_count_names_the_sample(small_root):
    def five_instructions(entries):
        entries[0]["part_list"][0]["instruction"].pop()
    path = rewrite_json(small_root, five_instructions)
    entry = json.loads(path.read_text())[0]
    part = entry["part_list"][0]
    sid = sample_id(entry["image_path"], part["object"], part["part"])
    with pytest.raises(DatasetError) as error:
        load_split(small_root, "test")
    assert str(error.value) == (
        f"sample {sid} ({path} entry 0 ({entry['image_path']}), part 0) is malformed: "
        "'instruction' must be a list of 6 strings (human, gpt, op_sentence, opa_sentence, "
        "op, opa), found 5")


def test_duplicate_ids_and_bad_json(small_root):
    path = rewrite_json(small_root, lambda entries: entries.append(entries[0]))
    with pytest.raises(DatasetError, match="appears twice in .*data_test.json .again in entry 6."):
        load_split(small_root, "test")
    path.write_text("[{")
    with pytest.raises(DatasetError, match=f"{path} is not valid JSON"):
        load_split(small_root, "test")
    path.write_text("{}")
    with pytest.raises(DatasetError, match=f"{path} must hold a list of entries, found dict"):
        load_split(small_root, "test")


def test_tabletop_tasks(tabletop_tasks_file):
    tasks = load_tabletop_tasks(tabletop_tasks_file)
    assert len(tasks) == 48
    assert len({task.scene for task in tasks}) == 12
    first = tasks[0]
    assert (first.scene, first.task, first.object, first.part) == \
        ("kitchen", "pick up the grey spoon", "spoon", "handle")
    knives = [(t.task, t.object, t.part) for t in tasks if t.scene == "knives"]
    assert ("cut the bread", "knife", "handle") in knives
    assert tasks[-1].task == "spray the purple cleaning spray"
    assert tasks[-1].part == "trigger"


@pytest.mark.parametrize("text, message", [
    ("tasks: []", "must hold 'scenes:' mapping scene names to task lists"),
    ("scenes: {kitchen: {task: x}}", "scene 'kitchen' must be a list of"),
    ("scenes: {kitchen: [{task: cut, object: knife}]}",
     "scene 'kitchen' entry 0 must have non-empty task, object and part strings"),
    ("scenes: [", "is not valid YAML"),
])
def test_malformed_tabletop_tasks(tmp_path, text, message):
    path = tmp_path / "tasks.yaml"
    path.write_text(text)
    with pytest.raises(DatasetError, match=message):
        load_tabletop_tasks(path)


def test_missing_tabletop_file(tmp_path):
    with pytest.raises(DatasetError, match="table-top task file .*nope.yaml does not exist"):
        load_tabletop_tasks(tmp_path / "nope.yaml")
