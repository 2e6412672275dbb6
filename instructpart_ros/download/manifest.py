"""``instructpart_download.json``: what a finished download put in its folder.

Written last, after every file is in place with the size the hub listed, so its presence
means "complete". It names the repository, the commit, every file with its size and the
hub's SHA-256 for large (LFS) files, and where the usable root is (the dataset may sit
in a sub-folder of its repository). A later run finds everything there and touches no
network; training provenance can cite the commit and hashes from it.
"""
from __future__ import annotations

import datetime
import json
import pathlib
from dataclasses import dataclass

MANIFEST_FILE = "instructpart_download.json"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a hub repository at a commit."""

    path: str
    size: int
    sha256: str | None  # the hub's LFS object id; None for small (plain git) files


def write_manifest(folder: pathlib.Path, *, name: str, repo_id: str, repo_type: str, commit: str,
                   pinned: bool, endpoint: str, root: str, files: list[RemoteFile],
                   hub_version: str) -> pathlib.Path:
    """Record a finished download in ``folder``."""
    record = {
        "name": name, "repo_id": repo_id, "repo_type": repo_type, "revision": commit, "pinned": pinned,
        "endpoint": endpoint, "root": root.rstrip("/") or ".",
        "total_bytes": sum(f.size for f in files),
        "files": {f.path: {"size": f.size, **({"sha256": f.sha256} if f.sha256 else {})} for f in files},
        "huggingface_hub": hub_version,
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    path = folder / MANIFEST_FILE
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(record, indent=2))
    partial.replace(path)
    return path


def read_manifest(folder: pathlib.Path) -> dict | None:
    """The manifest in ``folder``, or None when there is none (or it is unreadable)."""
    try:
        record = json.loads((folder / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("files"), dict) else None


def missing_files(folder: pathlib.Path, record: dict) -> list[str]:
    """Files the manifest lists that are absent from ``folder`` or have another size."""
    return [path for path, info in record["files"].items()
            if not has_size(folder / path, int(info["size"]))]


def has_size(path: pathlib.Path, size: int) -> bool:
    """True when ``path`` is a file of ``size`` bytes."""
    try:
        return path.stat().st_size == size
    except OSError:
        return False


def complete_download(folder: pathlib.Path, repo_id: str, revision: str | None) -> dict | None:
    """The manifest of a finished download of ``repo_id`` in ``folder`` whose files are all still
    there; at ``revision`` when one is given (None: whatever commit was fetched). Else None."""
    record = read_manifest(folder)
    if record is None or record.get("repo_id") != repo_id:
        return None
    if revision is not None and record.get("revision") != revision:
        return None
    return None if missing_files(folder, record) else record
