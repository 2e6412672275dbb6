"""Per-stage wall-clock timing that waits for the GPU, so each stage gets its own time."""
from __future__ import annotations

import time
from contextlib import contextmanager

import torch


class StageTimer:
    """Accumulates milliseconds per stage name; ``laps`` keeps every single measurement."""

    def __init__(self, device: torch.device | str = "cpu"):
        self._synchronize = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
        self.timings: dict[str, float] = {}
        self.laps: dict[str, list[float]] = {}

    @contextmanager
    def stage(self, name: str):
        self._synchronize()
        start = time.perf_counter()
        try:
            yield
        finally:
            self._synchronize()
            elapsed_ms = (time.perf_counter() - start) * 1000.0
            self.timings[name] = self.timings.get(name, 0.0) + elapsed_ms
            self.laps.setdefault(name, []).append(elapsed_ms)
