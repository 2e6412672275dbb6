"""Why no colour frame arrives while its camera info does: the sign of frames too big for the transport.

Camera info is small and always gets through; a colour image of several megabytes is
lost whole under best-effort QoS when Fast DDS's shared-memory segment (about 2 MB with
``LARGE_DATA``) cannot hold it while the subscriber drains it (measured in
bench/big_frames.py: 4000x3000 frames 0 of 5). Pure Python, clock passed in, so the rule
is testable without ROS.
"""
from __future__ import annotations

from typing import Optional

# Frames above this many bytes can be lost under best effort with LARGE_DATA's default segment.
DEFAULT_SEGMENT_BYTES = 2 * 1024 * 1024
SEGMENT_SETTING = "FASTDDS_BUILTIN_TRANSPORTS='LARGE_DATA?sockets_size=64MB'"


class ColourSilence:
    """Tracks colour and camera info arrivals; ``reason`` says when colour is missing and why it may be."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._last_color: Optional[float] = None
        self._info_since: Optional[float] = None  # start of the current run of camera info messages
        self._last_info: Optional[float] = None
        self._info_size = (0, 0)

    def color(self, now: float) -> None:
        self._last_color = now

    def camera_info(self, now: float, width: int, height: int) -> None:
        if self._last_info is None or now - self._last_info > self.timeout_s:
            self._info_since = now
        self._last_info = now
        self._info_size = (width, height)

    def reason(self, now: float, color_topic: str, info_topic: str, reliability: str) -> str:
        """Why colour is missing ("" while colour arrives, or camera info is silent too)."""
        if self._last_info is None or now - self._last_info > self.timeout_s:
            return ""
        since = self._info_since if self._last_color is None else max(self._info_since, self._last_color)
        if now - since < self.timeout_s:
            return ""
        width, height = self._info_size
        silence = (f"camera info arrives on '{info_topic}' ({width}x{height} images) but no colour image on "
                   f"'{color_topic}' for {now - since:.1f} s")
        if reliability == "best_effort" and width * height * 3 > DEFAULT_SEGMENT_BYTES:
            return (f"{silence}: frames of {width * height * 3 / 1e6:.0f} MB are lost whole under best_effort when "
                    f"the shared-memory segment is smaller (about 2 MB with LARGE_DATA): set {SEGMENT_SETTING} in "
                    "every process, camera driver included (see docs/perception_node.md, Big frames), or "
                    "input_reliability:=reliable for a reliable driver")
        return (f"{silence}: check the colour topic's remapping and that its publisher's QoS matches "
                f"input_reliability={reliability}")
