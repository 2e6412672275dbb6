"""One download from the Hugging Face hub: plan it, check the disk, fetch it, check what landed.

Planning resolves the commit (the pinned one, or the head of ``main`` when a source is not
pinned), lists the repository at that commit and keeps the files the source selects, with
their sizes: that is what the disk-space check and the manifest use. Fetching is
``huggingface_hub.snapshot_download`` into the source's folder with those files as
``allow_patterns``; it skips files that already finished there, resumes a transfer cut in
the middle of a file within the same run, and shows its own progress bars.

Every hub or network failure becomes a :class:`DownloadError` that names the repository,
the endpoint and what to do. The endpoint is ``HF_ENDPOINT`` (read when the command runs),
else huggingface.co; ``HF_HUB_OFFLINE=1`` means "no network" and is honoured before any call.
"""
from __future__ import annotations

import contextlib
import errno
import os
import pathlib
import re
import shutil
import socket
from dataclasses import dataclass

from huggingface_hub import HfApi, __version__ as HUB_VERSION, snapshot_download
from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, OfflineModeIsEnabled, RemoteEntryNotFoundError,
                                    RepositoryNotFoundError, RevisionNotFoundError)
from huggingface_hub.hf_api import RepoFile
from huggingface_hub.utils import filter_repo_objects

from .manifest import RemoteFile, has_size, write_manifest
from .sources import HubSource, dataset_root

DEFAULT_ENDPOINT = "https://huggingface.co"
# Left free on the disk after a download: a full disk breaks more than this command.
RESERVE_BYTES = 100 * 1000**2
_COMMIT = re.compile(r"[0-9a-f]{40}")
# huggingface_hub >= 2 writes each attempt to <etag>.<8 hex>.incomplete and never reuses it;
# a killed run leaves it behind (as big as the part fetched), so it is removed before a new run.
_STALE_PARTIAL = re.compile(r".*\.[0-9a-f]{8}\.incomplete")
_TRUE = {"1", "ON", "YES", "TRUE"}


class DownloadError(ValueError):
    """A download that cannot go on, with what to do about it."""


def hub_endpoint() -> str:
    """The hub to download from: ``HF_ENDPOINT`` (a mirror, or a test server), else huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def offline_requested() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) forbids network access."""
    return any(os.environ.get(name, "").upper() in _TRUE for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def human_size(num_bytes: float) -> str:
    """``16.1 GB`` style (decimal units, as the hub shows sizes)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(num_bytes) < 1000:
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1000
    return f"{num_bytes:.1f} TB"


@dataclass
class DownloadPlan:
    """What one source will fetch, into which folder, at which commit."""

    source: HubSource
    folder: pathlib.Path
    commit: str
    patterns: list[str]
    files: list[RemoteFile]
    root: str  # the usable folder inside ``folder``: "" for models, the dataset's root for InstructPart

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def missing_bytes(self) -> int:
        """Bytes still to fetch: files not already in ``folder`` with their listed size."""
        return sum(f.size for f in self.files if not has_size(self.folder / f.path, f.size))


def plan_download(source: HubSource, folder: pathlib.Path, endpoint: str, retry_hint: str,
                  revision: str | None = None) -> DownloadPlan:
    """Resolve the commit, list the repository there and select the source's files."""
    revision = revision or source.revision
    api = HfApi(endpoint=endpoint)
    with hub_errors(source, endpoint, revision, retry_hint):
        # repo_info fails at once when the hub is unreachable (the tree listing retries for ~20 s),
        # and resolves a branch name to the commit everything below uses.
        info = api.repo_info(source.repo_id, repo_type=source.repo_type, revision=revision or "main")
        commit = revision if revision and _COMMIT.fullmatch(revision) else info.sha
        entries = [entry for entry in api.list_repo_tree(source.repo_id, repo_type=source.repo_type,
                                                         revision=commit, recursive=True)
                   if isinstance(entry, RepoFile)]
    where = f"{source.repo_id} at {commit}"
    paths = [entry.path for entry in entries]
    patterns = source.select(paths, where)
    chosen = set(filter_repo_objects(paths, allow_patterns=patterns))
    files = [RemoteFile(entry.path, entry.size, entry.lfs.sha256 if entry.lfs else None)
             for entry in entries if entry.path in chosen]
    root = dataset_root(paths, where) if source.repo_type == "dataset" else ""
    return DownloadPlan(source, folder, commit, patterns, files, root)


def check_disk_space(plans: list[DownloadPlan], target: pathlib.Path) -> None:
    """Refuse before fetching anything when ``target``'s disk cannot hold what is still missing."""
    needed = sum(plan.missing_bytes for plan in plans)
    if needed == 0:
        return
    free = _free_bytes(target)
    if needed + RESERVE_BYTES > free:
        parts = ", ".join(f"{plan.source.name} {human_size(plan.missing_bytes)}" for plan in plans if plan.missing_bytes)
        raise DownloadError(
            f"not enough disk space in {target}: the download needs {human_size(needed)} ({parts}) plus "
            f"{human_size(RESERVE_BYTES)} head room, and {human_size(free)} is free. Free some space or pass "
            "--to a folder on a bigger disk.")


def _free_bytes(path: pathlib.Path) -> int:
    for candidate in (path, *path.parents):
        with contextlib.suppress(OSError):
            return shutil.disk_usage(candidate).free
    raise DownloadError(f"cannot tell the free space of {path}")


def remove_stale_partials(folder: pathlib.Path) -> int:
    """Delete unfinished transfers a killed run left behind; returns the bytes freed."""
    freed = 0
    download_dir = folder / ".cache" / "huggingface" / "download"
    if download_dir.is_dir():
        for path in download_dir.rglob("*.incomplete"):
            if _STALE_PARTIAL.fullmatch(path.name):
                with contextlib.suppress(OSError):
                    size = path.stat().st_size
                    path.unlink()
                    freed += size
    return freed


def fetch(plan: DownloadPlan, endpoint: str, retry_hint: str) -> pathlib.Path:
    """Fetch the plan's files into its folder, check them and write the manifest."""
    source = plan.source
    remove_stale_partials(plan.folder)
    with hub_errors(source, endpoint, plan.commit, retry_hint, plan.folder):
        snapshot_download(source.repo_id, repo_type=source.repo_type, revision=plan.commit,
                          local_dir=plan.folder, allow_patterns=plan.patterns, endpoint=endpoint)
    wrong = [f.path for f in plan.files if not has_size(plan.folder / f.path, f.size)]
    if wrong:
        raise DownloadError(f"{source.repo_id}: {len(wrong)} file(s) are missing or have the wrong size after "
                            f"the download ({', '.join(wrong[:5])}): run the same command again to fetch them")
    return write_manifest(plan.folder, name=source.name, repo_id=source.repo_id, repo_type=source.repo_type,
                          commit=plan.commit, pinned=plan.commit == source.revision, endpoint=endpoint,
                          root=plan.root, files=plan.files, hub_version=HUB_VERSION)


def offline_error(source: HubSource, endpoint: str, retry_hint: str, why: str) -> DownloadError:
    """The error for a machine that cannot (or must not) reach the hub."""
    return DownloadError(
        f"cannot download {source.repo_id}: {why}. Run `{retry_hint}` on a machine with internet access "
        f"(it fetches from {endpoint}; HF_ENDPOINT selects a mirror), then copy DIR to this machine "
        "(e.g. `rsync -a DIR/ this-machine:/data/weights/`) and pass its folders to --checkpoint, "
        "--vision-tower, --dinov2 and --dataset, or to the node's model_* parameters")


def _chain(error: BaseException):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _unreachable(error: BaseException) -> BaseException | None:
    """The network failure behind ``error`` (refused, DNS, timeout, transport), or None."""
    for cause in _chain(error):
        if isinstance(cause, (ConnectionError, TimeoutError, socket.gaierror)):
            return cause
        if any(cls.__name__ == "TransportError" for cls in type(cause).__mro__):  # httpx/httpx2 transport errors
            return cause
    return None


@contextlib.contextmanager
def hub_errors(source: HubSource, endpoint: str, revision: str | None, retry_hint: str,
               folder: pathlib.Path | None = None):
    """Turn hub, network and disk failures inside the block into a :class:`DownloadError`."""
    repo = f"{source.repo_id} ({source.repo_type} repository on {endpoint})"
    try:
        yield
    except DownloadError:
        raise
    except Exception as error:  # noqa: BLE001 - classified below; anything unknown is re-raised
        if any(isinstance(cause, OfflineModeIsEnabled) for cause in _chain(error)):
            raise offline_error(source, endpoint, retry_hint, "HF_HUB_OFFLINE is set") from error
        if isinstance(error, GatedRepoError):
            raise DownloadError(f"{repo} is gated: accept its terms at {endpoint}/{source.repo_id} with your account, "
                                "then log in here (`hf auth login`, or set HF_TOKEN) and run again") from error
        if isinstance(error, RevisionNotFoundError):
            raise DownloadError(f"{repo} has no revision {revision}: the pinned commit is gone from the hub. "
                                f"Pass --revision main to take the current one, and pin its hash in "
                                f"instructpart_ros/download/sources.py") from error
        if isinstance(error, RepositoryNotFoundError):
            raise DownloadError(f"{repo} was not found (HTTP {error.response.status_code}): it was removed, renamed "
                                "or made private; if you have access, log in (`hf auth login` or HF_TOKEN)") from error
        if isinstance(error, RemoteEntryNotFoundError):
            raise DownloadError(f"{repo} at {revision} lacks a file it listed ({error.response.url}): "
                                "run again; if it persists, the repository is inconsistent") from error
        disk_full = next((c for c in _chain(error) if isinstance(c, OSError) and c.errno == errno.ENOSPC), None)
        if disk_full is not None:
            raise DownloadError(f"the disk of {folder} filled up while downloading {source.repo_id}: free space "
                                "and run again (finished files are kept)") from error
        network = _unreachable(error)
        if network is not None:
            raise offline_error(source, endpoint, retry_hint,
                                f"the hub at {endpoint} cannot be reached ({type(network).__name__}: {network})"
                                ) from error
        if isinstance(error, HfHubHTTPError):
            raise DownloadError(f"{repo} answered HTTP {error.response.status_code} ({error.response.url}): "
                                f"{str(error).splitlines()[0]}; try again later") from error
        raise
