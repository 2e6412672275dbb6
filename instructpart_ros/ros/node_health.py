"""Counters, latency percentiles and throttled bad-input logging for the perception node."""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Deque, Dict, Optional, Tuple

import numpy as np

# Kinds of bad input, each counted on /diagnostics as bad_input.<kind>.
COLOR_IMAGE = "color_image"  # unsupported encoding, wrong step, size/data mismatch, too small
DEPTH_IMAGE = "depth_image"  # same, for the depth image
CAMERA_INFO = "camera_info"  # zero, non-finite, skewed, non-pinhole or implausible intrinsics
SIZE_MISMATCH = "size_mismatch"  # depth not the colour image's size
FRAME_MISMATCH = "frame_mismatch"  # depth in another frame_id than colour
DEPTH_INVALID = "depth_invalid"  # no finite, positive depth value at all
EMPTY_INSTRUCTION = "empty_instruction"
INSTRUCTION_TOO_LONG = "instruction_too_long"
INSTRUCTION_CONTROL_TOKENS = "instruction_control_tokens"  # the model's own markup (<image>, [SEG], ...)
INSTRUCTION_BEFORE_FRAME = "instruction_before_frame"
MODEL_ERROR = "model_error"  # exception in the model (e.g. CUDA out of memory)
GEOMETRY_ERROR = "geometry_error"
UNSYNCHRONISED = "unsynchronised"  # a colour frame no depth / camera info stamp came within sync_slop of
BAD_INPUT_KINDS = (
    COLOR_IMAGE, DEPTH_IMAGE, CAMERA_INFO, SIZE_MISMATCH, FRAME_MISMATCH, DEPTH_INVALID,
    EMPTY_INSTRUCTION, INSTRUCTION_TOO_LONG, INSTRUCTION_CONTROL_TOKENS, INSTRUCTION_BEFORE_FRAME, MODEL_ERROR,
    GEOMETRY_ERROR, UNSYNCHRONISED,
)

PERCENTILES = (50, 90, 99)


@dataclass
class _KindLog:
    last_logged: float
    suppressed: int = 0


@dataclass
class NodeHealth:
    """Thread-safe counters of what the node received, processed, dropped and rejected."""

    log_period_s: float = 10.0
    latency_window: int = 200
    clock: Callable[[], float] = time.monotonic
    counts: Dict[str, int] = field(default_factory=lambda: collections.Counter())
    bad_inputs: Dict[str, int] = field(default_factory=lambda: collections.Counter())
    kinds: Tuple[str, ...] = BAD_INPUT_KINDS  # the bad input kinds this node counts

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: Dict[str, _KindLog] = {}
        self._latencies: Dict[str, Deque[float]] = collections.defaultdict(
            lambda: collections.deque(maxlen=self.latency_window)
        )

    def count(self, name: str, increment: int = 1) -> None:
        with self._lock:
            self.counts[name] += increment

    def bad_input(self, kind: str, message: str) -> Optional[str]:
        """Count one bad input; returns the line to log, or ``None`` while this kind is throttled.

        The first occurrence of a kind is always logged, then at most one line per
        ``log_period_s`` that says how many were suppressed in between.
        """
        if kind not in self.kinds:
            raise ValueError(f"unknown bad input kind {kind!r}: use one of {self.kinds}")
        now = self.clock()
        with self._lock:
            self.bad_inputs[kind] += 1
            log = self._logs.get(kind)
            if log is not None and now - log.last_logged < self.log_period_s:
                log.suppressed += 1
                return None
            suppressed = log.suppressed if log else 0
            self._logs[kind] = _KindLog(last_logged=now)
        more = f" ({suppressed} more of this kind in the last {self.log_period_s:g} s)" if suppressed else ""
        return f"bad input [{kind}]: {message}{more}"

    def record_latency(self, stage: str, milliseconds: float) -> None:
        with self._lock:
            self._latencies[stage].append(float(milliseconds))

    def latency_percentiles(self) -> Dict[str, float]:
        """``{"<stage>_ms_p50": ..., "_p90", "_p99"}`` over the last ``latency_window`` results."""
        with self._lock:
            samples = {stage: np.asarray(values) for stage, values in self._latencies.items() if values}
        return {
            f"{stage}_ms_p{p}": float(np.percentile(values, p))
            for stage, values in sorted(samples.items())
            for p in PERCENTILES
        }

    def snapshot(self) -> Dict[str, float]:
        """Every counter, bad-input count and latency percentile as one flat dict."""
        with self._lock:
            values = dict(self.counts)
            values.update({f"bad_input.{kind}": self.bad_inputs[kind] for kind in self.kinds})
        values.update(self.latency_percentiles())
        return values
