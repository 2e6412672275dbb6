""".npz files whose object arrays are read without running code.

``np.savez`` stores a dict (Contact-GraspNet's ``pred_grasps_cam`` keyed by segment id,
for example) as a pickled object array, and ``np.load(..., allow_pickle=True)`` would
unpickle anything, including a file crafted to run a command. Here an object array is
unpickled by :class:`RestrictedUnpickler`, which resolves only the numpy globals an
array needs (``_reconstruct``, ``ndarray``, ``dtype``, ``scalar``), and the result is
then checked to hold only numpy arrays of numbers, dicts and numbers.
"""
from __future__ import annotations

import io
import numbers
import pathlib
import pickle
import zipfile
from typing import Dict

import numpy as np
from numpy.lib import format as npy_format

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray

_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):  # files from numpy 1.x and 2.x
    _ALLOWED_GLOBALS[(_module, "_reconstruct")] = _multiarray._reconstruct
    _ALLOWED_GLOBALS[(_module, "scalar")] = _multiarray.scalar


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the numpy globals needed to rebuild arrays and scalars."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused to load {module}.{name}: only numpy arrays, dicts and numbers are read from "
                "pickled .npz entries") from None


def load_npz_safely(path) -> Dict[str, object]:
    """Every entry of an .npz file by name; object arrays (pickled dicts) are read restrictedly.

    Raises ``ValueError`` naming the file and entry for anything else: a crafted pickle,
    lists, strings or object-dtype arrays inside, a file that is not an .npz.
    """
    path = pathlib.Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: not a readable .npz file ({error})") from None
    entries = {}
    with archive:
        for info in archive.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            try:
                entries[name] = _read_entry(archive.read(info))
            except (ValueError, pickle.UnpicklingError, EOFError) as error:
                raise ValueError(f"{path}: entry {name!r}: {error}") from None
    return entries


def _read_entry(data: bytes):
    buffer = io.BytesIO(data)
    version = npy_format.read_magic(buffer)
    if version == (1, 0):
        shape, fortran_order, dtype = npy_format.read_array_header_1_0(buffer)
    elif version == (2, 0):
        shape, fortran_order, dtype = npy_format.read_array_header_2_0(buffer)
    else:
        return np.load(io.BytesIO(data), allow_pickle=False)  # 3.0: never used for object arrays
    if not dtype.hasobject:
        buffer.seek(0)
        return npy_format.read_array(buffer, allow_pickle=False)
    array = RestrictedUnpickler(buffer).load()
    if not isinstance(array, np.ndarray) or array.shape != tuple(shape):
        raise ValueError(f"pickled entry is not the {shape} array its header announces")
    check_plain(array)
    return array


def check_plain(value, where: str = "value") -> None:
    """Raise ``ValueError`` unless ``value`` is made only of numeric arrays, dicts and numbers."""
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            for index, item in np.ndenumerate(value):
                check_plain(item, f"{where}{list(index)}" if index else where)
        elif value.dtype.kind not in "biuf":
            raise ValueError(f"{where} is an array of {value.dtype}: expected numbers")
    elif isinstance(value, dict):
        for key, item in value.items():
            if not _is_number(key):
                raise ValueError(f"{where} has the key {key!r}: expected numbers (segment ids) as keys")
            check_plain(item, f"{where}[{key!r}]")
    elif not _is_number(value):
        raise ValueError(f"{where} is a {type(value).__name__}: expected numpy arrays, dicts and numbers only")


def _is_number(value) -> bool:
    return isinstance(value, (numbers.Real, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
