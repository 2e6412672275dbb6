"""Table-top task sets: a YAML manifest of recorded RGB-D frames, part masks and tasks.

::

    name: shapegrasp-knife
    root: ${INSTRUCTPART_DATA}/shapegrasp-knife    # relative paths start here (default: the manifest's folder)
    table_tasks: ${INSTRUCTPART_DATA}/shapegrasp_table_tasks.yaml   # optional: reference parts, coverage
    instructions:                                  # variant -> template of {task}, {object}, {part}
      human: "If I want to {task}, which part of the {object} should I hold?"
      op: "{part} of the {object}"
    frames:
      - id: knife
        color: color.png                           # from files ...
        depth: depth_mm.png                        #   16-bit PNG, millimetres, registered to colour
        camera_info: camera_info.yaml
        # ... or from a recording: bag: recordings/table1, stamp: 1712345678.1234 (colour header stamp, s)
        #     (or stamp_ns), topics: {color: ..., depth: ..., color_info: ..., depth_info: ...}
        objects:
          knife: {handle: mask_knife_handle.png, blade: mask_knife_blade.png}
    tasks:
      - {frame: knife, task: cut the bread, object: knife, part: handle}

Environment variables (``${NAME}``) in paths are expanded. The manifest's structure is
checked on load (:class:`DatasetError` naming the entry); the files are read only when
a frame is replayed, so one bad frame fails its own tasks and not the whole set.
"""
from __future__ import annotations

import os
import pathlib
import re
import string
from dataclasses import dataclass, field, replace
from typing import Dict, List, Mapping, Optional, Tuple

from instructpart_ros.evaluation.dataset import DatasetError, TabletopTask, load_tabletop_tasks

from .yaml_files import read_yaml, stamp_ns_of_entry

DEFAULT_INSTRUCTIONS = {
    "human": "If I want to {task}, which part of the {object} should I hold?",
    "op": "{part} of the {object}",
}
TEMPLATE_FIELDS = {"task", "object", "part"}
_UNSET_VARIABLE = re.compile(r"\$\{?(\w+)\}?")


@dataclass(frozen=True)
class TaskFrame:
    """One recorded frame: files or a bag and the colour stamp, and masks per object part."""

    id: str
    objects: Mapping[str, Mapping[str, pathlib.Path]]  # object -> part -> mask file
    color: Optional[pathlib.Path] = None
    depth: Optional[pathlib.Path] = None
    camera_info: Optional[pathlib.Path] = None
    bag: Optional[pathlib.Path] = None
    stamp_ns: Optional[int] = None
    topics: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskSetTask:
    """A task on a frame: the object to use and the part it must be grasped by."""

    frame: str
    task: str
    object: str
    part: str
    scene: str = ""  # the table-top list's scene, when the task is on it

    @property
    def id(self) -> str:
        """``<frame>-<task>`` with spaces as ``_`` (the sample id of its results)."""
        return f"{self.frame}-{self.task}".replace(" ", "_")


@dataclass(frozen=True)
class TaskSet:
    name: str
    path: pathlib.Path
    instructions: Mapping[str, str]  # variant -> template
    frames: Mapping[str, TaskFrame]
    tasks: Tuple[TaskSetTask, ...]
    table_tasks: Tuple[TabletopTask, ...] = ()
    # Frames from an InstructPart-layout split with depth (e.g. instructpart synth): the split's
    # folder, the tasks each scene of an object gets, and how many scenes (None: all).
    split: Optional[pathlib.Path] = None
    tasks_by_object: Mapping[str, Tuple[dict, ...]] = field(default_factory=dict)
    scenes: Optional[int] = None

    def with_frames(self, frames: Mapping[str, TaskFrame]) -> "TaskSet":
        """This split-backed set with the split's ``frames`` and, on each, the tasks of its object."""
        entries = [dict(entry, frame=frame.id, object=object_name)
                   for frame in frames.values() for object_name in frame.objects
                   for entry in self.tasks_by_object.get(object_name, ())]
        tasks = _tasks(entries, frames, self.table_tasks, f"{self.path} tasks_by_object") if entries else ()
        return replace(self, frames=dict(frames), tasks=tasks)

    def instruction(self, variant: str, task: TaskSetTask) -> str:
        if variant not in self.instructions:
            raise ValueError(f"task set {self.name} has no instruction variant {variant!r}: "
                             f"use one of {', '.join(self.instructions)}")
        return self.instructions[variant].format(task=task.task, object=task.object, part=task.part)

    def coverage(self) -> List[dict]:
        """For each table-top task: its scene, object, part and the task-set tasks that cover it."""
        covered: Dict[str, List[str]] = {}
        for task in self.tasks:
            covered.setdefault(task.task, []).append(task.id)
        return [{"scene": t.scene, "task": t.task, "object": t.object, "part": t.part,
                 "covered_by": covered.get(t.task, [])} for t in self.table_tasks]


def _expand(value: str, where: str) -> str:
    expanded = os.path.expandvars(value)
    unset = _UNSET_VARIABLE.search(expanded)
    if unset:
        raise DatasetError(f"{where}: environment variable {unset.group(1)} in {value!r} is not set: "
                           f"export {unset.group(1)}=... (e.g. the shared data folder) or write the path out")
    return expanded


def _path(value, base: pathlib.Path, where: str) -> pathlib.Path:
    if not isinstance(value, str) or not value:
        raise DatasetError(f"{where} must be a non-empty path string, found {value!r}")
    path = pathlib.Path(_expand(value, where))
    if path.is_absolute():
        return path
    # A relative path from an environment variable means what it means in the shell: from the working folder.
    return path.resolve() if value.startswith("$") else base / path


def _mapping(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise DatasetError(f"{where} must be a mapping, found {value!r}")
    return value


def _check_template(variant: str, template, where: str) -> str:
    if not isinstance(template, str) or not template.strip():
        raise DatasetError(f"{where}: instruction variant {variant!r} must be a non-empty template string")
    names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    unknown = names - TEMPLATE_FIELDS
    if unknown:
        raise DatasetError(f"{where}: instruction variant {variant!r} uses {sorted(unknown)}; templates may use "
                           f"only {{task}}, {{object}} and {{part}}")
    return template


def _frame(entry, index: int, base: pathlib.Path, where: str) -> TaskFrame:
    where = f"{where} frame {index}"
    entry = _mapping(entry, where)
    frame_id = entry.get("id")
    if not isinstance(frame_id, str) or not frame_id:
        raise DatasetError(f"{where} needs an id string")
    where = f"{where} ({frame_id})"
    objects = {}
    for object_name, parts in _mapping(entry.get("objects"), f"{where} objects").items():
        parts = _mapping(parts, f"{where} object {object_name!r}")
        if not parts:
            raise DatasetError(f"{where} object {object_name!r} has no part masks")
        objects[str(object_name)] = {str(part): _path(mask, base, f"{where} {object_name}/{part} mask")
                                     for part, mask in parts.items()}
    if not objects:
        raise DatasetError(f"{where} has no objects: list each object's part masks under objects:")
    if "bag" in entry:
        stamp_ns = stamp_ns_of_entry(entry, f"{where}: a bag frame")
        topics = {str(k): str(v) for k, v in _mapping(entry.get("topics", {}), f"{where} topics").items()}
        return TaskFrame(frame_id, objects, bag=_path(entry["bag"], base, f"{where} bag"), stamp_ns=stamp_ns,
                         topics=topics)
    if "color" not in entry:
        raise DatasetError(f"{where} needs color: (with depth: and camera_info:) or bag: and stamp:")
    optional = {name: _path(entry[name], base, f"{where} {name}") if name in entry else None
                for name in ("depth", "camera_info")}
    if (optional["depth"] is None) != (optional["camera_info"] is None):
        raise DatasetError(f"{where}: depth and camera_info go together (give both, or neither for 2D only)")
    return TaskFrame(frame_id, objects, color=_path(entry["color"], base, f"{where} color"), **optional)


def load_taskset(path: str | pathlib.Path) -> TaskSet:
    """Read and check a task-set manifest (see the module docstring)."""
    path = pathlib.Path(path)
    document = read_yaml(path, "task set manifest")
    where = str(path)
    document = _mapping(document, where)
    base = _path(document["root"], path.parent, f"{where} root") if "root" in document else path.parent
    instructions = {str(variant): _check_template(str(variant), template, where) for variant, template in
                    _mapping(document.get("instructions", DEFAULT_INSTRUCTIONS), f"{where} instructions").items()}
    if not instructions:
        raise DatasetError(f"{where}: instructions: must name at least one variant")
    table_tasks: Tuple[TabletopTask, ...] = ()
    if "table_tasks" in document:
        table_tasks = tuple(load_tabletop_tasks(_path(document["table_tasks"], path.parent, f"{where} table_tasks")))
    name = str(document.get("name", path.stem))
    if "split" in document:
        return _split_taskset(document, name, path, base, instructions, table_tasks)
    frames_list = document.get("frames")
    if not isinstance(frames_list, list) or not frames_list:
        raise DatasetError(f"{where} must list frames: (or name a split: with tasks_by_object:)")
    frames: Dict[str, TaskFrame] = {}
    for index, entry in enumerate(frames_list):
        frame = _frame(entry, index, base, where)
        if frame.id in frames:
            raise DatasetError(f"{where}: frame id {frame.id!r} appears twice")
        frames[frame.id] = frame
    tasks = _tasks(document.get("tasks"), frames, table_tasks, where)
    return TaskSet(name, path, instructions, frames, tasks, table_tasks)


def _split_taskset(document: dict, name: str, path: pathlib.Path, base: pathlib.Path, instructions,
                   table_tasks) -> TaskSet:
    """A set whose frames come from a split (read by the evaluation layer, see :meth:`TaskSet.with_frames`)."""
    where = str(path)
    by_object = _mapping(document.get("tasks_by_object"), f"{where} tasks_by_object")
    tasks_by_object = {}
    for object_name, entries in by_object.items():
        if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("task"), str)
                                                    for e in entries):
            raise DatasetError(f"{where} tasks_by_object {object_name!r} must list {{task, part}} entries")
        tasks_by_object[str(object_name)] = tuple(entries)
    scenes = document.get("scenes")
    if scenes is not None and (not isinstance(scenes, int) or scenes < 1):
        raise DatasetError(f"{where}: scenes must be a positive number of scenes, found {scenes!r}")
    return TaskSet(name, path, instructions, {}, (), table_tasks, _path(document["split"], base, f"{where} split"),
                   tasks_by_object, scenes)


def _tasks(entries, frames: Mapping[str, TaskFrame], table_tasks, where: str) -> Tuple[TaskSetTask, ...]:
    if not isinstance(entries, list) or not entries:
        raise DatasetError(f"{where} must list tasks: ({{frame, task, object, part}} each)")
    reference = {task.task: task for task in table_tasks}
    tasks, seen = [], set()
    for index, entry in enumerate(entries):
        task_where = f"{where} task {index}"
        entry = _mapping(entry, task_where)
        frame = frames.get(entry.get("frame"))
        if frame is None:
            raise DatasetError(f"{task_where}: frame {entry.get('frame')!r} is not among the frames "
                               f"({', '.join(frames)})")
        text = entry.get("task")
        if not isinstance(text, str) or not text:
            raise DatasetError(f"{task_where} needs a task string")
        known = reference.get(text)
        object_name = entry.get("object") or (next(iter(frame.objects)) if len(frame.objects) == 1 else None)
        if object_name not in frame.objects:
            raise DatasetError(f"{task_where} ({text}): object {object_name!r} is not annotated on frame {frame.id} "
                               f"(objects: {', '.join(frame.objects)})")
        part = entry.get("part") or (known.part if known else None)
        if part not in frame.objects[object_name]:
            raise DatasetError(f"{task_where} ({text}): part {part!r} of the {object_name} has no mask on frame "
                               f"{frame.id} (parts: {', '.join(frame.objects[object_name])})")
        if known is not None and known.part != part:
            raise DatasetError(f"{task_where} ({text}): part {part!r} differs from the table-top list's "
                               f"{known.part!r}; change one of them, with the reason written next to it")
        task = TaskSetTask(frame.id, text, object_name, part, known.scene if known else "")
        if task.id in seen:
            raise DatasetError(f"{task_where}: task {text!r} on frame {frame.id} appears twice")
        seen.add(task.id)
        tasks.append(task)
    return tuple(tasks)
