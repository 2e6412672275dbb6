"""An append-only JSON-lines log of per-sample results, flushed to disk per sample.

A run killed at any moment (SIGKILL included) leaves every finished sample's line on
disk; at worst the last line is cut short. Opening the log again drops that partial
line (truncating the file to its last complete line, so the next record starts on a
line of its own) and returns the finished records, so a restarted run continues where
the killed one stopped: no sample lost, none counted twice (a key's last record wins).
"""
from __future__ import annotations

import json
import os
import pathlib
from typing import Dict, Iterable

# Records with these outcomes are final; others (a sample that failed) are tried again
# by a restarted run.
FINAL_OUTCOMES = ("answered", "dropped", "no_instruction")


class ResultsLog:
    """``path`` holds one JSON object per line, each with a ``key``."""

    def __init__(self, path: str | pathlib.Path) -> None:
        self.path = pathlib.Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records: Dict[str, dict] = {}
        self._recover()
        self._file = self.path.open("a", encoding="utf-8")

    def _recover(self) -> None:
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        complete = data.rfind(b"\n") + 1
        if complete < len(data):  # a line cut short by a kill
            with self.path.open("r+b") as file:
                file.truncate(complete)
        for line in data[:complete].decode("utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # cannot happen for complete lines we wrote; skip rather than stop
            if isinstance(record, dict) and "key" in record:
                self.records[record["key"]] = record

    def is_done(self, key: str) -> bool:
        """Whether ``key`` has a final record (a failed one is retried)."""
        record = self.records.get(key)
        return record is not None and record.get("outcome") in FINAL_OUTCOMES

    def append(self, record: dict) -> None:
        """Write ``record`` (must have ``key``) and push it to disk before returning."""
        line = json.dumps(record, ensure_ascii=False, default=_plain) + "\n"
        self._file.write(line)
        self._file.flush()
        os.fsync(self._file.fileno())
        self.records[record["key"]] = record

    def ordered(self, keys: Iterable[str]) -> list:
        """The records of ``keys`` that exist, in that order."""
        return [self.records[key] for key in keys if key in self.records]

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "ResultsLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _plain(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to the results log")
