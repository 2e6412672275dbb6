"""Pair grasp candidates with the part segmentation (and its depth) computed on the same camera frame.

A planner and the perception node both work on one RGB-D frame and stamp their results
with its stamp, each after its own delay, in either order. Part frames (a part
segmentation with the depth and camera info ``frame_sync`` matched to it) are kept, the
newest ``queue_size``; candidates wait, the newest ``queue_size``, until a part frame
within ``slop`` of their stamp is there. Pure Python: messages are opaque, stamps are
integer nanoseconds.
"""
from __future__ import annotations

import collections
from typing import Any, Deque, List, NamedTuple, Tuple


class Waiting(NamedTuple):
    stamp_ns: int
    msg: Any


class CandidateMatcher:
    """Each candidates message is matched once, to the part frame nearest its stamp within ``slop_s``."""

    def __init__(self, slop_s: float, queue_size: int) -> None:
        self.slop_ns = int(round(slop_s * 1e9))
        self._parts: Deque[Waiting] = collections.deque(maxlen=queue_size)
        self._waiting: Deque[Waiting] = collections.deque(maxlen=queue_size)
        self.dropped = 0  # candidates that never met their part frame
        self.last_drop_reason = ""

    def add_part(self, stamp_ns: int, frame: Any) -> List[Tuple[Any, Any]]:
        """Keep a part frame; returns the ``(candidates, part frame)`` pairs it completes."""
        self._parts.append(Waiting(stamp_ns, frame))
        matched, still_waiting = [], collections.deque(maxlen=self._waiting.maxlen)
        for waiting in self._waiting:
            part = self._nearest(waiting.stamp_ns)
            if part is None:
                still_waiting.append(waiting)
            else:
                matched.append((waiting.msg, part.msg))
        self._waiting = still_waiting
        return matched

    def add_candidates(self, stamp_ns: int, msg: Any) -> List[Tuple[Any, Any]]:
        """Match ``msg`` now if its part frame is there, else keep it waiting (the oldest waiting one
        is dropped when the queue is full)."""
        part = self._nearest(stamp_ns)
        if part is not None:
            return [(msg, part.msg)]
        if len(self._waiting) == self._waiting.maxlen:
            self.dropped += 1
            self.last_drop_reason = self.unmatched_reason(self._waiting[0].stamp_ns)
        self._waiting.append(Waiting(stamp_ns, msg))
        return []

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def nearest_part(self, stamp_ns: int):
        """The kept part frame nearest ``stamp_ns`` within the slop, or None."""
        part = self._nearest(stamp_ns)
        return None if part is None else part.msg

    def _nearest(self, stamp_ns: int):
        best = min(self._parts, key=lambda part: abs(part.stamp_ns - stamp_ns), default=None)
        if best is None or abs(best.stamp_ns - stamp_ns) > self.slop_ns:
            return None
        return best

    def unmatched_reason(self, stamp_ns: int) -> str:
        """Why candidates stamped ``stamp_ns`` have no part frame."""
        nearest = min((abs(part.stamp_ns - stamp_ns) for part in self._parts), default=None)
        gap = "no part segmentation received yet" if nearest is None else \
            f"the nearest part segmentation is {nearest / 1e6:.1f} ms away"
        return (f"grasp candidates stamped {stamp_ns / 1e9:.3f} s never matched a part segmentation: {gap} "
                f"(sync_slop is {self.slop_ns / 1e6:.1f} ms; stamp the candidates with the camera frame they were "
                "planned on, or raise sync_slop)")
