"""``provenance.json``: where a checkpoint's weights came from, and whether PISA was trained.

``instructpart train`` writes it beside every checkpoint it exports (``trained: true``, the
base weights and their hashes, the data, the recipe, the validation metrics);
:func:`pisa_from_lisa` marks a PISA whose fusion layers are freshly initialised
``trained: false``. Loaders read it, and whoever serves a model shows
:func:`untrained_warning` when there is one.
"""
from __future__ import annotations

import json
import pathlib

PROVENANCE_FILE = "provenance.json"


def read_provenance(directory: str | pathlib.Path) -> dict | None:
    """The checkpoint's provenance, or None when it has no ``provenance.json``."""
    path = pathlib.Path(directory) / PROVENANCE_FILE
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}): restore it from the training run") from error
    if not isinstance(value, dict):
        raise ValueError(f"{path} must hold a JSON object, found {type(value).__name__}")
    return value


def write_provenance(directory: str | pathlib.Path, provenance: dict) -> pathlib.Path:
    path = pathlib.Path(directory) / PROVENANCE_FILE
    path.write_text(json.dumps(provenance, indent=2, default=str) + "\n")
    return path


def untrained_warning(kind: str, directory: str | pathlib.Path, provenance: dict | None) -> str | None:
    """A warning for a PISA marked ``trained: false`` (its masks are noise), else None."""
    if kind != "pisa" or not provenance or provenance.get("trained") is not False:
        return None
    return (f"{directory} is an UNTRAINED PISA (provenance.json: trained: false): its DINOv2 fusion layers "
            "were never trained, so its masks are noise. Train it with `instructpart train` "
            "(docs/training.md) and load the checkpoint that writes.")
