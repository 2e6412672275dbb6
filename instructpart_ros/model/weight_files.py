"""Reading and writing Hugging Face weight files without unpickling code.

``.safetensors`` are read with safetensors; ``.bin`` with ``torch.load(weights_only=True)``
(memory-mapped, so a 16 GB checkpoint is not copied into RAM before it goes to the GPU).
Sharded checkpoints are checked against their index: a shard that is missing, or a
tensor the index names but no shard holds (or the other way round), is an error.
"""
from __future__ import annotations

import json
import pathlib

import torch
from safetensors.torch import load_file, save_file

SAFETENSORS_INDEX = "model.safetensors.index.json"
SAFETENSORS_FILE = "model.safetensors"
BIN_INDEX = "pytorch_model.bin.index.json"
BIN_FILE = "pytorch_model.bin"
WEIGHT_FILE_NAMES = (SAFETENSORS_INDEX, SAFETENSORS_FILE, BIN_INDEX, BIN_FILE)


def _load_one(path: pathlib.Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        return load_file(str(path), device="cpu")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # torch raises UnpicklingError/RuntimeError for code or corrupt files
        raise ValueError(f"cannot read {path} as plain tensors ({error}): re-download it") from error
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a name -> tensor dict")
    return state


def _load_sharded(index_path: pathlib.Path) -> dict[str, torch.Tensor]:
    weight_map: dict[str, str] = json.loads(index_path.read_text())["weight_map"]
    shard_names = sorted(set(weight_map.values()))
    missing_files = [name for name in shard_names if not (index_path.parent / name).is_file()]
    if missing_files:
        raise ValueError(f"{index_path} names shards that are not in {index_path.parent}: {missing_files}")
    state: dict[str, torch.Tensor] = {}
    for name in shard_names:
        state.update(_load_one(index_path.parent / name))
    not_loaded = sorted(set(weight_map) - set(state))
    not_indexed = sorted(set(state) - set(weight_map))
    if not_loaded or not_indexed:
        raise ValueError(
            f"shards in {index_path.parent} disagree with {index_path.name}: "
            f"indexed but absent {not_loaded[:20]}, present but not indexed {not_indexed[:20]}"
        )
    return state


def read_weights(directory: str | pathlib.Path) -> dict[str, torch.Tensor]:
    """All tensors of the Hugging Face-layout checkpoint in ``directory`` (on CPU)."""
    directory = pathlib.Path(directory)
    for name in WEIGHT_FILE_NAMES:
        path = directory / name
        if path.is_file():
            return _load_sharded(path) if name.endswith(".index.json") else _load_one(path)
    raise ValueError(f"no weights in {directory}: expected one of {', '.join(WEIGHT_FILE_NAMES)}")


def _plain(tensor: torch.Tensor) -> torch.Tensor:
    # A contiguous copy with its own storage: views or shared storages would save the whole base.
    return tensor.detach().contiguous().clone()


def write_bin_shards(
    state_dict: dict[str, torch.Tensor], directory: str | pathlib.Path, num_shards: int
) -> list[pathlib.Path]:
    """Write ``pytorch_model-0000N-of-0000M.bin`` shards plus ``pytorch_model.bin.index.json``."""
    if num_shards < 1 or num_shards > len(state_dict):
        raise ValueError(f"num_shards must be between 1 and {len(state_dict)} (the tensor count), got {num_shards}")
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = list(state_dict)
    weight_map, paths, total_size = {}, [], 0
    for shard in range(num_shards):
        shard_name = f"pytorch_model-{shard + 1:05d}-of-{num_shards:05d}.bin"
        first, end = len(names) * shard // num_shards, len(names) * (shard + 1) // num_shards
        chunk = {name: _plain(state_dict[name]) for name in names[first:end]}
        torch.save(chunk, directory / shard_name)
        paths.append(directory / shard_name)
        weight_map.update(dict.fromkeys(chunk, shard_name))
        total_size += sum(t.numel() * t.element_size() for t in chunk.values())
    index = {"metadata": {"total_size": total_size}, "weight_map": weight_map}
    (directory / BIN_INDEX).write_text(json.dumps(index, indent=2))
    return paths


def write_safetensors(state_dict: dict[str, torch.Tensor], directory: str | pathlib.Path) -> pathlib.Path:
    """Write one ``model.safetensors``."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / SAFETENSORS_FILE
    save_file({name: _plain(t) for name, t in state_dict.items()}, str(path), metadata={"format": "pt"})
    return path
