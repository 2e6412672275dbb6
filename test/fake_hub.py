"""A Hugging Face hub on 127.0.0.1 for download tests: the HTTP calls huggingface_hub makes.

It serves repositories held in memory at one commit each:

- ``GET /api/{models,datasets}/{repo}/revision/{rev}``: repo info (``sha``), ``rev`` = the commit or ``main``;
- ``GET /api/{models,datasets}/{repo}/tree/{rev}?recursive=...``: the file listing, LFS files with
  their SHA-256 (the hub's ``lfs.oid``);
- ``HEAD``/``GET /[datasets/]{repo}/resolve/{rev}/{path}``: file metadata (``X-Repo-Commit``,
  ``ETag``, ``Content-Length``) and bytes, with ``Range`` answered by 206.

Errors carry the hub's ``X-Error-Code`` (RepoNotFound, RevisionNotFound, EntryNotFound,
GatedRepo). Tests can cut a file's first transfer after N bytes, or hold it after N bytes
until released. Every request is logged. The server runs in daemon threads and shuts
itself down after ``lifetime`` seconds even if a test forgets to stop it.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LFS_MIN_SIZE = 1024  # files at least this big are served as LFS objects (sha256 etag), like the hub's big files


@dataclass
class FakeRepo:
    commit: str
    files: dict[str, bytes]
    gated: bool = False

    def etag(self, path: str) -> str:
        data = self.files[path]
        if len(data) >= LFS_MIN_SIZE:
            return hashlib.sha256(data).hexdigest()
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Request:
    method: str
    path: str  # the repository file path for resolve calls, else the URL path
    kind: str  # "info", "tree", "resolve"
    range: str | None = None
    bytes_sent: int = 0


@dataclass
class FakeHub:
    lifetime: float = 120.0
    repos: dict[tuple[str, str], FakeRepo] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    cut_once: dict[str, int] = field(default_factory=dict)  # file path -> bytes sent before the first GET drops
    hold: dict[str, int] = field(default_factory=dict)  # file path -> bytes sent before the GET waits for release
    released: threading.Event = field(default_factory=threading.Event)

    def add(self, repo_type: str, repo_id: str, commit: str, files: dict[str, bytes]) -> FakeRepo:
        repo = FakeRepo(commit, dict(files))
        self.repos[(repo_type, repo_id)] = repo
        return repo

    def resolves(self, method: str = "GET") -> list[Request]:
        return [r for r in self.requests if r.kind == "resolve" and r.method == method]

    def __enter__(self) -> "FakeHub":
        hub = self
        lock = threading.Lock()

        class Handler(_Handler):
            pass

        Handler.hub, Handler.lock = hub, lock
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        self.stop()


_INFO = re.compile(r"/api/(models|datasets)/([^/]+/[^/]+)/revision/([^/]+)")
_TREE = re.compile(r"/api/(models|datasets)/([^/]+/[^/]+)/tree/([^/]+)")
_RESOLVE = re.compile(r"/(datasets/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)")


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    lock: threading.Lock
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _log(self, request: Request) -> Request:
        with self.lock:
            self.hub.requests.append(request)
        return request

    def _error(self, status: int, code: str) -> None:
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _json(self, payload) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _repo(self, repo_type: str, repo_id: str, revision: str) -> FakeRepo | None:
        repo = self.hub.repos.get((repo_type, repo_id))
        if repo is None:
            self._error(404, "RepoNotFound")
            return None
        if revision not in (repo.commit, "main"):
            self._error(404, "RevisionNotFound")
            return None
        return repo

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, head: bool) -> None:
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        if match := _INFO.fullmatch(path):
            self._log(Request(self.command, path, "info"))
            repo_type, repo_id, revision = match.group(1)[:-1], match.group(2), match.group(3)
            if repo := self._repo(repo_type, repo_id, revision):
                self._json({"id": repo_id, "sha": repo.commit, "private": False, "gated": repo.gated})
        elif match := _TREE.fullmatch(path):
            self._log(Request(self.command, path, "tree"))
            repo_type, repo_id, revision = match.group(1)[:-1], match.group(2), match.group(3)
            if repo := self._repo(repo_type, repo_id, revision):
                self._json(self._listing(repo))
        elif match := _RESOLVE.fullmatch(path):
            repo_type = "dataset" if match.group(1) else "model"
            file_path = match.group(4)
            request = self._log(Request(self.command, file_path, "resolve", self.headers.get("Range")))
            repo = self._repo(repo_type, match.group(2), match.group(3))
            if repo is None:
                return
            if repo.gated:
                self._error(401, "GatedRepo")
            elif file_path not in repo.files:
                self._error(404, "EntryNotFound")
            else:
                self._file(repo, file_path, head, request)
        else:
            self._error(404, "RepoNotFound")

    @staticmethod
    def _listing(repo: FakeRepo) -> list[dict]:
        entries, folders = [], set()
        for path, data in sorted(repo.files.items()):
            parts = path.split("/")
            folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
            entry = {"type": "file", "path": path, "size": len(data),
                     "oid": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()}
            if len(data) >= LFS_MIN_SIZE:
                entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
            entries.append(entry)
        return [{"type": "directory", "path": f, "oid": "0" * 40, "size": 0} for f in sorted(folders)] + entries

    def _file(self, repo: FakeRepo, file_path: str, head: bool, request: Request) -> None:
        data = repo.files[file_path]
        start = 0
        if request.range and (match := re.fullmatch(r"bytes=(\d+)-", request.range)):
            start = int(match.group(1))
        body = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("X-Repo-Commit", repo.commit)
        self.send_header("ETag", f'"{repo.etag(file_path)}"')
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if head:
            return
        with self.lock:
            cut = self.hub.cut_once.pop(file_path, None)
            hold = self.hub.hold.get(file_path)
        stop_at = cut if cut is not None else hold
        if stop_at is None:
            self.wfile.write(body)
            request.bytes_sent = len(body)
            return
        self.close_connection = True
        with contextlib.suppress(OSError):  # the client may be gone (a killed download)
            self.wfile.write(body[:stop_at])
            self.wfile.flush()
            request.bytes_sent = stop_at
            if hold is not None:
                self.hub.released.wait(timeout=self.hub.lifetime)
            # End the response early: the client sees a body shorter than Content-Length.
            self.connection.shutdown(socket.SHUT_WR)
