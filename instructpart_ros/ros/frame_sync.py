"""Approximate-time pairing of colour, depth and camera info (message_filters is not installable here).

Colour is the pivot: each colour message waits for the depth image and camera info whose
stamps are closest to its own, within ``slop`` seconds. A stream that has gone silent
for ``absent_after`` seconds (or never spoke that long after the first colour) is waited
for only ``absent_grace`` seconds (its message may just be late), so a camera without
depth still yields 2D-only frames. Only the newest
complete frame matters downstream (latest frame wins), so emitting a frame discards
every older colour still waiting; those are counted in ``dropped``.

Pure Python: messages are opaque, stamps are integer nanoseconds, ``now`` is any
monotonic clock in seconds, so the logic is testable without ROS.
"""
from __future__ import annotations

import collections
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, NamedTuple, Optional, Tuple

DEPTH = "depth"
CAMERA_INFO = "camera_info"
OPTIONAL_STREAMS = (DEPTH, CAMERA_INFO)


class Stamped(NamedTuple):
    stamp_ns: int
    msg: Any
    received_at: float


@dataclass(frozen=True)
class SyncedFrame:
    """A colour message with the depth and camera info that match it (``None`` when absent)."""

    color: Any
    depth: Optional[Any]
    camera_info: Optional[Any]
    stamp_ns: int
    received_at: float
    absent: Tuple[str, ...] = ()  # optional streams not waited for because they are silent


class FrameSynchronizer:
    """Pairs each colour message with the nearest depth and camera info within ``slop_s``."""

    def __init__(
        self,
        slop_s: float,
        queue_size: int = 10,
        absent_after_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        absent_grace_s: float = 0.05,
    ) -> None:
        if not (math.isfinite(slop_s) and slop_s >= 0.0):
            raise ValueError(f"sync slop must be a finite number of seconds >= 0, got {slop_s}")
        if queue_size < 1:
            raise ValueError(f"sync queue size must be >= 1 message, got {queue_size}")
        if not (math.isfinite(absent_after_s) and absent_after_s > 0.0):
            raise ValueError(f"depth timeout must be a finite number of seconds > 0, got {absent_after_s}")
        self.slop_ns = int(round(slop_s * 1e9))
        self.absent_after_s = absent_after_s
        self.absent_grace_s = absent_grace_s
        self._clock = clock
        self._colors: Deque[Stamped] = collections.deque(maxlen=queue_size)
        self._queues: Dict[str, Deque[Stamped]] = {
            name: collections.deque(maxlen=queue_size) for name in OPTIONAL_STREAMS
        }
        self._last_received: Dict[str, Optional[float]] = {name: None for name in OPTIONAL_STREAMS}
        self._first_color_at: Optional[float] = None
        self.dropped = 0  # colour messages that never became a frame
        self.unmatched = 0  # of those, the ones pushed out of a full queue without any match
        self.last_drop_reason = ""  # why the last colour pushed out of the queue never matched

    def add_color(self, msg: Any, stamp_ns: int, now: Optional[float] = None) -> Optional[SyncedFrame]:
        now = self._now(now)
        if self._first_color_at is None:
            self._first_color_at = now
        if len(self._colors) == self._colors.maxlen:
            self.dropped += 1
            self.unmatched += 1
            self.last_drop_reason = self._unmatched_reason(self._colors[0].stamp_ns)
        self._colors.append(Stamped(stamp_ns, msg, now))
        return self.poll(now)

    def add_depth(self, msg: Any, stamp_ns: int, now: Optional[float] = None) -> Optional[SyncedFrame]:
        return self._add(DEPTH, msg, stamp_ns, now)

    def add_camera_info(self, msg: Any, stamp_ns: int, now: Optional[float] = None) -> Optional[SyncedFrame]:
        return self._add(CAMERA_INFO, msg, stamp_ns, now)

    def _add(self, stream: str, msg: Any, stamp_ns: int, now: Optional[float]) -> Optional[SyncedFrame]:
        now = self._now(now)
        self._queues[stream].append(Stamped(stamp_ns, msg, now))
        self._last_received[stream] = now
        return self.poll(now)

    def is_absent(self, stream: str, now: Optional[float] = None) -> bool:
        """Whether ``stream`` is silent: nothing for ``absent_after_s`` (since the first colour if never)."""
        now = self._now(now)
        last = self._last_received[stream]
        if last is None:
            return self._first_color_at is not None and now - self._first_color_at >= self.absent_after_s
        return now - last >= self.absent_after_s

    def poll(self, now: Optional[float] = None) -> Optional[SyncedFrame]:
        """The newest colour whose streams are all matched or absent, or ``None``.

        Call it on a timer too, so a colour waiting for a stream that went silent is released.
        """
        now = self._now(now)
        absent = tuple(name for name in OPTIONAL_STREAMS if self.is_absent(name, now))
        for index in range(len(self._colors) - 1, -1, -1):
            color = self._colors[index]
            matches = {}
            waited = now - color.received_at >= self.absent_grace_s
            for stream in OPTIONAL_STREAMS:
                match = self._nearest(stream, color.stamp_ns)
                if match is None and not (stream in absent and waited):
                    break
                matches[stream] = match
            else:
                self.dropped += index  # older colours can no longer be the latest frame
                for _ in range(index + 1):
                    self._colors.popleft()
                return SyncedFrame(
                    color=color.msg,
                    depth=matches[DEPTH].msg if matches[DEPTH] else None,
                    camera_info=matches[CAMERA_INFO].msg if matches[CAMERA_INFO] else None,
                    stamp_ns=color.stamp_ns,
                    received_at=color.received_at,
                    absent=tuple(name for name in absent if matches[name] is None),
                )
        return None

    def _nearest(self, stream: str, stamp_ns: int) -> Optional[Stamped]:
        best = min(self._queues[stream], key=lambda item: abs(item.stamp_ns - stamp_ns), default=None)
        if best is None or abs(best.stamp_ns - stamp_ns) > self.slop_ns:
            return None
        return best

    def _unmatched_reason(self, stamp_ns: int) -> str:
        gaps = []
        for stream in OPTIONAL_STREAMS:
            nearest = min((item.stamp_ns - stamp_ns for item in self._queues[stream]), key=abs, default=None)
            if nearest is None:
                gaps.append(f"no {stream} message queued")
            elif abs(nearest) > self.slop_ns:
                side = "later" if nearest > 0 else "earlier"
                gaps.append(f"nearest {stream} stamp is {abs(nearest) / 1e6:.1f} ms {side}")
        return (
            f"colour frame never synchronised: {', '.join(gaps)} than the colour stamp (sync_slop is "
            f"{self.slop_ns / 1e6:.1f} ms; raise the sync_slop parameter or have the driver stamp depth and "
            "camera info like the colour image)"
        )

    def _now(self, now: Optional[float]) -> float:
        return self._clock() if now is None else now
