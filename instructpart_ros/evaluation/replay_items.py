"""What the replay sends to the perception node, one item per (sample, instruction variant).

An item carries the scoring view of its sample (an :class:`InstructPartSample`: id,
image and target-part mask files, object, part), the instruction text, a loader for its
RGB-D frame and the masks of every annotated part of the object (for part selection).
InstructPart splits and task sets become items here; recordings are streams (see
``replay.replay_recording``).
"""
from __future__ import annotations

import functools
import pathlib
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import cv2

from instructpart_ros.datasets.rgbd_images import RgbdImages, load_rgbd_files
from instructpart_ros.datasets.rosbag_frames import BagTopics, read_frame_at
from instructpart_ros.datasets.rgbd_files import CAMERA_INFO_FILE, depth_path
from instructpart_ros.datasets.tasksets import TaskFrame, TaskSet, load_taskset

from .dataset import InstructPartSample, check_sample_files, load_split, read_rgb

# The paper's two groups of instructions (table 2).
INSTRUCTION_GROUPS = {"TRPS": ("human", "gpt"), "ORPS": ("op_sentence", "opa_sentence", "op", "opa")}


@dataclass(frozen=True)
class ReplayItem:
    """One sample with one instruction variant."""

    variant: str
    sample: InstructPartSample  # mask_path: the target part's mask
    instruction: str
    load_images: Callable[[], RgbdImages]
    part_masks: Mapping[str, pathlib.Path]  # every annotated part of the object, the target included

    @property
    def key(self) -> str:
        return f"{self.variant}/{self.sample.id}"


def parse_variants(text: str, available: Sequence[str]) -> List[str]:
    """``"all"`` or a comma-separated list of variant names, checked against ``available``."""
    if text.strip() == "all":
        return list(available)
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in available]
    if unknown or not names:
        raise ValueError(f"unknown instruction variant(s) {unknown or [text]}: use all or a comma-separated list "
                         f"of {', '.join(available)}")
    return list(dict.fromkeys(names))


def _photo_stem(sample: InstructPartSample) -> str:
    suffix = f"-{sample.object}-{sample.part}".replace(" ", "_")
    return sample.id[: -len(suffix)] if sample.id.endswith(suffix) else sample.id


def instructpart_items(root, split: str, variants: Sequence[str], limit: Optional[int] = None) -> List[ReplayItem]:
    """Items of an InstructPart split, variant by variant (each sample's files are checked when
    it is replayed, so a broken sample fails alone)."""
    samples = load_split(root, split, check_files=False)
    if limit is not None:
        samples = samples[:limit]
    parts: Dict[tuple, Dict[str, pathlib.Path]] = {}
    for sample in samples:  # parts of one object in one photo (e.g. two parts of a faucet)
        parts.setdefault((_photo_stem(sample), sample.object), {})[sample.part] = sample.mask_path

    def loader(sample: InstructPartSample) -> Callable[[], RgbdImages]:
        def load() -> RgbdImages:
            check_sample_files(sample)
            return RgbdImages(read_rgb(sample))
        return load

    items = []
    for variant in variants:
        for sample in samples:
            masks = {sample.part: sample.mask_path, **parts[(_photo_stem(sample), sample.object)]}
            items.append(ReplayItem(variant, sample, sample.instruction(variant), loader(sample), masks))
    return items


def split_frames(split_dir: pathlib.Path, scenes: Optional[int] = None) -> Dict[str, TaskFrame]:
    """The frames of an InstructPart-layout split with depth (``instructpart synth``): one per photo,
    with the masks of every annotated part of its object(s); the first ``scenes`` photos."""
    split_dir = pathlib.Path(split_dir)
    grouped: Dict[str, List[InstructPartSample]] = {}
    for sample in load_split(split_dir.parent, split_dir.name, check_files=False):
        stem = _photo_stem(sample)
        if stem in grouped or scenes is None or len(grouped) < scenes:
            grouped.setdefault(stem, []).append(sample)
    frames = {}
    for stem, samples in grouped.items():
        objects: Dict[str, Dict[str, pathlib.Path]] = {}
        for sample in samples:
            objects.setdefault(sample.object, {})[sample.part] = sample.mask_path
        frames[stem] = TaskFrame(stem, objects, color=samples[0].image_path, depth=depth_path(samples[0]),
                                 camera_info=split_dir / CAMERA_INFO_FILE)
    return frames


def load_replay_taskset(path: pathlib.Path) -> TaskSet:
    """A task-set manifest, its frames read from its split when it names one."""
    taskset = load_taskset(path)
    return taskset if taskset.split is None else taskset.with_frames(split_frames(taskset.split, taskset.scenes))


def taskset_items(taskset: TaskSet, variants: Sequence[str], frames_dir: pathlib.Path,
                  topics: BagTopics = BagTopics(), sync_slop: float = 0.05) -> List[ReplayItem]:
    """Items of a task set; frames recorded in a bag are written to ``frames_dir`` when read
    (the report's figures show them)."""
    @functools.lru_cache(maxsize=2)  # the tasks of one frame reuse its images
    def load(frame_id: str) -> RgbdImages:
        frame = taskset.frames[frame_id]
        if frame.bag is None:
            return load_rgbd_files(frame.color, frame.depth, frame.camera_info)
        images = read_frame_at(frame.bag, frame.stamp_ns, _frame_topics(frame, topics), sync_slop)
        frames_dir.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(_frame_image(frame, frames_dir)), cv2.cvtColor(images.rgb, cv2.COLOR_RGB2BGR))
        return images

    items = []
    for variant in variants:
        for task in taskset.tasks:
            frame = taskset.frames[task.frame]
            part_masks = dict(frame.objects[task.object])
            sample = InstructPartSample(
                id=task.id, image_path=frame.color or _frame_image(frame, frames_dir),
                mask_path=part_masks[task.part], object=task.object, part=task.part, affordance="",
                action=task.task, instructions={name: taskset.instruction(name, task) for name in variants})
            items.append(ReplayItem(variant, sample, sample.instructions[variant],
                                    functools.partial(load, task.frame), part_masks))
    return items


def _frame_topics(frame: TaskFrame, topics: BagTopics) -> BagTopics:
    unknown = set(frame.topics) - set(BagTopics.__dataclass_fields__)
    if unknown:
        raise ValueError(f"frame {frame.id}: unknown topics {sorted(unknown)}: use "
                         f"{', '.join(BagTopics.__dataclass_fields__)}")
    return BagTopics(**{**topics.__dict__, **frame.topics})


def _frame_image(frame: TaskFrame, frames_dir: pathlib.Path) -> pathlib.Path:
    return frames_dir / f"{frame.id}.png"
