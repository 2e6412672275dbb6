"""SHA-256 of the base weight files a run starts from, for ``provenance.json``."""
from __future__ import annotations

import hashlib
import pathlib

from instructpart_ros.model.part_model import LoadedModel

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".model")
_CHUNK = 1 << 22


def file_sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def directory_hashes(directory: str | pathlib.Path) -> dict:
    """``{"path", "files": {name: sha256}}`` for the weight and tokenizer files of ``directory``."""
    directory = pathlib.Path(directory)
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    return {"path": str(directory.resolve()), "files": {p.name: file_sha256(p) for p in files}}


def weight_hashes(loaded: LoadedModel) -> dict:
    """The starting checkpoint and the towers it uses."""
    hashes = {"checkpoint": directory_hashes(loaded.source), "vision_tower": directory_hashes(loaded.vision_tower)}
    if loaded.dinov2:
        hashes["dinov2"] = directory_hashes(loaded.dinov2)
    return hashes
