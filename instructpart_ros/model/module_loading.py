"""Building modules without random init, strict weight loading, and local-only directories."""
from __future__ import annotations

import pathlib
import re
from collections.abc import Iterable, Mapping
from contextlib import contextmanager

import torch
from torch import nn
from transformers.initialization import no_init_weights

from ..download.sources import SOURCES

_MAX_LISTED = 20
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@contextmanager
def empty_weights(device: torch.device | str, dtype: torch.dtype):
    """Modules built inside are allocated on ``device`` in ``dtype`` and left uninitialised.

    Every tensor must then be loaded (strictly): this skips minutes of random init and a
    float32 copy of a 7B model. Non-persistent buffers (e.g. rotary frequencies) are still
    computed by the constructors.
    """
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device), no_init_weights():
            yield
    finally:
        torch.set_default_dtype(previous)


def _listed(names: Iterable[str]) -> str:
    names = sorted(names)
    more = f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else ""
    return ", ".join(names[:_MAX_LISTED]) + more


def load_strict(
    module: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    source: str,
    key_prefix: str = "",
    skip_prefixes: tuple[str, ...] = (),
    file_names: Mapping[str, str] | None = None,
) -> None:
    """Copy ``state_dict`` into ``module``; any missing, unexpected or mis-shaped tensor is an error.

    Names in the message read as in the file (``source``): ``file_names[name]`` when given,
    else ``key_prefix + name``. Module tensors under ``skip_prefixes`` are loaded elsewhere.
    """
    file_names = file_names or {}

    def in_file(name: str) -> str:
        return file_names.get(name, key_prefix + name)

    expected = {name: t for name, t in module.state_dict().items() if not name.startswith(skip_prefixes)}
    missing = set(expected) - set(state_dict)
    unexpected = set(state_dict) - set(expected)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensor(s): {_listed(in_file(n) for n in missing)}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} tensor(s): {_listed(in_file(n) for n in unexpected)}")
        raise ValueError(f"{source} does not match the model ({'; '.join(parts)}): use an unmodified checkpoint")
    wrong_shape = [
        f"{in_file(name)} {tuple(state_dict[name].shape)} vs {tuple(t.shape)}"
        for name, t in expected.items()
        if tuple(state_dict[name].shape) != tuple(t.shape)
    ]
    if wrong_shape:
        raise ValueError(f"{source} has tensors of the wrong shape (file vs model): {_listed(wrong_shape)}")
    module.load_state_dict(dict(state_dict), strict=not skip_prefixes)


def local_directory(value: str | pathlib.Path | None, parameter: str, what: str) -> pathlib.Path:
    """``value`` as an existing directory; hub ids and missing paths get an error saying what to do."""
    if value is None or str(value) == "":
        raise ValueError(f"{parameter} is not set: pass the local directory of {what}")
    path = pathlib.Path(value).expanduser()
    if path.is_dir():
        return path
    if _HUB_ID.match(str(value)) and not path.exists():
        raise ValueError(
            f"{parameter}={str(value)!r} is a Hugging Face hub id, but models are only loaded from disk here: "
            f"{_download_hint(str(value), parameter)}"
        )
    raise ValueError(f"{parameter}={str(value)!r} is not a directory: pass the local directory of {what}")


def _download_hint(hub_id: str, parameter: str) -> str:
    """How to get ``hub_id`` onto disk: ``instructpart download`` for the repositories it knows."""
    known = {source.repo_id: source for source in SOURCES.values()}.get(hub_id)
    if known is not None:
        return (f"download it on a machine with internet (instructpart download {known.name} --to /path/to) "
                f"and pass {parameter}=/path/to/{known.folder}")
    name = hub_id.split("/")[1]
    return f"download it (hf download {hub_id} --local-dir /path/to/{name}) and pass {parameter}=/path/to/{name}"


def resolve_device(device: str | torch.device) -> torch.device:
    """``"cuda"``/``"cpu"`` (or ``"cuda:N"``) as a torch device that exists here."""
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device={device!r} is not a torch device: use 'cuda', 'cuda:N' or 'cpu'") from error
    if resolved.type not in ("cuda", "cpu"):
        raise ValueError(f"device={device!r} is not supported: use 'cuda', 'cuda:N' or 'cpu'")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} but torch sees no CUDA GPU: pass device='cpu' or run where a GPU is visible"
        )
    return resolved


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """``"bfloat16"``/``"float16"``/``"float32"`` (or the torch dtype) as a torch dtype."""
    if isinstance(dtype, torch.dtype) and dtype in DTYPES.values():
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not supported: use one of {', '.join(DTYPES)}")
    return DTYPES[dtype]
