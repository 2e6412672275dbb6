"""The table-top task list (``shapegrasp_table_tasks.yaml``): task, object and the part to grasp."""
from __future__ import annotations

import pathlib
from dataclasses import dataclass

import yaml

from .errors import DatasetError


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
