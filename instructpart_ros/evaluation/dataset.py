"""Readers for the InstructPart dataset and the table-top task list.

InstructPart's released layout (see the dataset README)::

    ROOT/test/{images,masks,data_test.json}
    ROOT/train/trainNNNN/{images,masks,data_train.json}
    ROOT/all/{images,masks,data_all.json}

A single training split may also sit at ``ROOT/train/{images,masks,data_train.json}``
(split ``train``), as ``instructpart synth`` writes it.

Each JSON entry is ``{"image_path", "part_list": [{"object", "part", "affordance",
"action", "instruction": [6 strings]}]}``; every part is one sample, stored as
``images/<id>.jpg`` and ``masks/<id>.png`` with ``id = <image_stem>-<object>-<part>``
(spaces become ``_``). Several entries may share one source image.
"""
from __future__ import annotations

import json
import pathlib
import re
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import yaml
from PIL import Image

# The six instructions of a sample, in the dataset's order. TRPS = task reasoning
# part segmentation, ORPS = oracle referring part segmentation (part named outright).
INSTRUCTION_DESCRIPTIONS = {
    "human": "TRPS, human-written task instruction",
    "gpt": "TRPS, GPT-4-rewritten task instruction",
    "op_sentence": "ORPS, 'Where is the <part> of the <object> in this image?'",
    "opa_sentence": "ORPS, the question with 'that can <affordance>'",
    "op": "ORPS, '<part> of the <object>'",
    "opa": "ORPS, '<part> of the <object> that can <affordance>'",
}
INSTRUCTION_NAMES = tuple(INSTRUCTION_DESCRIPTIONS)
_PART_KEYS = ("object", "part", "affordance", "action")
_TRAIN_SPLIT = re.compile(r"train\d+")


class DatasetError(ValueError):
    """The dataset on disk does not match the released InstructPart layout."""


@dataclass(frozen=True)
class InstructPartSample:
    """One object-part annotation: an image, its part mask and six instructions."""

    id: str
    image_path: pathlib.Path
    mask_path: pathlib.Path
    object: str
    part: str
    affordance: str
    action: str
    instructions: Mapping[str, str]

    @property
    def object_part(self) -> str:
        """The object-part pair as one class name, e.g. ``"faucet/handle"``."""
        return f"{self.object}/{self.part}"

    def instruction(self, name: str) -> str:
        """The instruction called ``name`` (one of :data:`INSTRUCTION_NAMES`)."""
        check_instruction_name(name)
        return self.instructions[name]


def check_instruction_name(name: str) -> str:
    """Return ``name`` if it is an instruction name, else raise a ValueError listing them."""
    if name not in INSTRUCTION_NAMES:
        raise ValueError(
            f"unknown instruction {name!r}: use one of {', '.join(INSTRUCTION_NAMES)}")
    return name


def sample_id(image_path: str, object_name: str, part_name: str) -> str:
    """The dataset's sample id: ``<image_stem>-<object>-<part>`` with spaces as ``_``."""
    stem = pathlib.PurePath(image_path).stem
    return f"{stem}-{object_name}-{part_name}".replace(" ", "_")


def split_dir(root: str | pathlib.Path, split: str) -> pathlib.Path:
    """The folder of ``split`` (``test``, ``all``, ``train`` or ``trainNNNN``) under ``root``."""
    root = pathlib.Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset root {root} is not a directory: pass the folder "
                           "that holds test/ and train/ (the InstructPart download)")
    if split in ("test", "all", "train"):
        return root / split
    if _TRAIN_SPLIT.fullmatch(split):
        return root / "train" / split
    raise DatasetError(f"unknown split {split!r}: use test, all, train or trainNNNN "
                       f"(found on disk: {', '.join(available_splits(root)) or 'none'})")


def split_json_name(split: str) -> str:
    """The annotation file of ``split``: ``data_train.json`` for every training split, else ``data_<split>.json``."""
    return "data_train.json" if split.startswith("train") else f"data_{split}.json"


def available_splits(root: str | pathlib.Path) -> list[str]:
    """Names of the splits present under ``root``."""
    root = pathlib.Path(root)
    found = [name for name in ("test", "all") if (root / name).is_dir()]
    train = root / "train"
    if train.is_dir():
        if (train / "data_train.json").is_file():
            found.append("train")
        found += sorted(p.name for p in train.iterdir() if _TRAIN_SPLIT.fullmatch(p.name))
    return found


def load_split(root: str | pathlib.Path, split: str = "test",
               check_files: bool = True) -> list[InstructPartSample]:
    """Read one split's samples, sorted by id.

    With ``check_files`` every image and mask must exist and have the same size (only
    the file headers are read). Problems raise :class:`DatasetError` naming the sample
    id and the file.
    """
    folder = split_dir(root, split)
    json_name = split_json_name(split)
    json_path = folder / json_name
    if not json_path.is_file():
        subsplits = [name for name in available_splits(root) if _TRAIN_SPLIT.fullmatch(name)]
        if split == "train" and subsplits:
            raise DatasetError(f"split 'train': {json_path} does not exist; {folder} holds the "
                               f"released training splits {', '.join(subsplits)}: pass one of "
                               "them as the split")
        raise DatasetError(f"split {split!r}: {json_path} does not exist; the released "
                           f"layout has {folder}/{{images,masks,{json_name}}}")
    try:
        entries = json.loads(json_path.read_text())
    except json.JSONDecodeError as error:
        raise DatasetError(f"{json_path} is not valid JSON: {error}") from error
    if not isinstance(entries, list):
        raise DatasetError(f"{json_path} must hold a list of entries, "
                           f"found {type(entries).__name__}")

    samples: dict[str, InstructPartSample] = {}
    for index, entry in enumerate(entries):
        for sample in _entry_samples(entry, index, json_path, folder):
            if sample.id in samples:
                raise DatasetError(f"sample {sample.id} appears twice in {json_path} "
                                   f"(again in entry {index}); sample ids must be unique")
            samples[sample.id] = sample
    ordered = [samples[key] for key in sorted(samples)]
    if check_files:
        for sample in ordered:
            check_sample_files(sample)
    return ordered


def _entry_samples(entry, index: int, json_path: pathlib.Path,
                   folder: pathlib.Path) -> list[InstructPartSample]:
    where = f"{json_path} entry {index}"
    if not isinstance(entry, dict) or not isinstance(entry.get("image_path"), str) \
            or not isinstance(entry.get("part_list"), list):
        raise DatasetError(f"{where} is malformed: expected "
                           "{\"image_path\": str, \"part_list\": [...]}, "
                           f"found {json.dumps(entry)[:200]}")
    samples = []
    for part_index, part in enumerate(entry["part_list"]):
        part_where = f"{where} ({entry['image_path']}), part {part_index}"
        if not isinstance(part, dict):
            raise DatasetError(f"{part_where} is malformed: expected an object with keys "
                               f"{', '.join(_PART_KEYS)}, instruction")
        missing = [key for key in _PART_KEYS if not isinstance(part.get(key), str)]
        if missing:
            raise DatasetError(f"{part_where} is malformed: {', '.join(missing)} missing "
                               "or not a string")
        sid = sample_id(entry["image_path"], part["object"], part["part"])
        instructions = part.get("instruction")
        if not isinstance(instructions, list) or len(instructions) != len(INSTRUCTION_NAMES) \
                or not all(isinstance(text, str) for text in instructions):
            found = len(instructions) if isinstance(instructions, list) else repr(instructions)
            raise DatasetError(
                f"sample {sid} ({part_where}) is malformed: 'instruction' must be a list of "
                f"{len(INSTRUCTION_NAMES)} strings ({', '.join(INSTRUCTION_NAMES)}), found {found}")
        samples.append(InstructPartSample(
            id=sid,
            image_path=folder / "images" / f"{sid}.jpg",
            mask_path=folder / "masks" / f"{sid}.png",
            object=part["object"], part=part["part"],
            affordance=part["affordance"], action=part["action"],
            instructions=dict(zip(INSTRUCTION_NAMES, instructions)),
        ))
    return samples


def check_sample_files(sample: InstructPartSample) -> None:
    """Raise :class:`DatasetError` if the sample's image or mask is missing or sizes differ."""
    sizes = {}
    for kind, path in (("image", sample.image_path), ("mask", sample.mask_path)):
        if not path.is_file():
            raise DatasetError(f"sample {sample.id}: {kind} {path} does not exist")
        try:
            with Image.open(path) as image:
                sizes[kind] = image.size
        except OSError as error:
            raise DatasetError(f"sample {sample.id}: {kind} {path} cannot be read: {error}") \
                from error
    if sizes["image"] != sizes["mask"]:
        (iw, ih), (mw, mh) = sizes["image"], sizes["mask"]
        raise DatasetError(
            f"sample {sample.id}: mask {sample.mask_path} is {mw}x{mh} but image "
            f"{sample.image_path} is {iw}x{ih} (width x height); a mask must be its image's size")


def read_rgb(sample: InstructPartSample) -> np.ndarray:
    """The sample's image as uint8 RGB (H, W, 3), pixels as stored (EXIF rotation is
    not applied, so the image stays aligned with its mask)."""
    with Image.open(sample.image_path) as image:
        return np.asarray(image.convert("RGB"))


# --- table-top tasks (part-selection accuracy) ------------------------------------------

@dataclass(frozen=True)
class TabletopTask:
    """A table-top grasping task and the object part a robot should grasp for it."""

    scene: str
    task: str
    object: str
    part: str


def load_tabletop_tasks(path: str | pathlib.Path) -> list[TabletopTask]:
    """Read ``shapegrasp_table_tasks.yaml`` (``scenes: {scene: [{task, object, part}]}``)."""
    path = pathlib.Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError as error:
        raise DatasetError(f"table-top task file {path} does not exist") from error
    except yaml.YAMLError as error:
        raise DatasetError(f"{path} is not valid YAML: {error}") from error
    scenes = document.get("scenes") if isinstance(document, dict) else None
    if not isinstance(scenes, dict) or not scenes:
        raise DatasetError(f"{path} must hold 'scenes:' mapping scene names to task lists")
    tasks = []
    for scene, entries in scenes.items():
        if not isinstance(entries, list):
            raise DatasetError(f"{path}: scene {scene!r} must be a list of "
                               "{task, object, part} entries")
        for index, entry in enumerate(entries):
            fields = ("task", "object", "part")
            if not isinstance(entry, dict) or not all(
                    isinstance(entry.get(key), str) and entry[key] for key in fields):
                raise DatasetError(f"{path}: scene {scene!r} entry {index} must have non-empty "
                                   f"task, object and part strings, found {entry!r}")
            tasks.append(TabletopTask(str(scene), entry["task"], entry["object"], entry["part"]))
    return tasks
