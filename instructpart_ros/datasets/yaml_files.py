"""Reading the YAML files the datasets are described by (manifests, annotations, camera_info)."""
from __future__ import annotations

import pathlib

import yaml

from instructpart_ros.evaluation.dataset import DatasetError


def read_yaml(path: str | pathlib.Path, what: str):
    """The document in ``path``; :class:`DatasetError` naming ``what`` and the file when it is
    missing or not YAML."""
    path = pathlib.Path(path)
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise DatasetError(f"{what} {path} does not exist") from None
    except yaml.YAMLError as error:
        raise DatasetError(f"{path} is not valid YAML: {error}") from None


def stamp_ns_of_entry(entry: dict, where: str) -> int:
    """A header stamp given as ``stamp_ns:`` (integer nanoseconds) or ``stamp:`` (seconds)."""
    if isinstance(entry.get("stamp_ns"), int) and not isinstance(entry["stamp_ns"], bool):
        return entry["stamp_ns"]
    stamp = entry.get("stamp")
    if isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
        return int(round(float(stamp) * 1e9))
    raise DatasetError(f"{where} needs stamp_ns: (integer nanoseconds) or stamp: (seconds), the colour "
                       "image's header stamp")
