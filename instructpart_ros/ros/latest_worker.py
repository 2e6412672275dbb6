"""A background thread that always works on the newest item: latest frame wins.

The camera keeps publishing while the model runs; instead of a queue that grows
whenever the model is slower than the camera, there is one slot. Submitting while the
slot is full replaces (drops) the waiting item.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Optional

_STOP = object()


class LatestWorker:
    """Runs ``process(item)`` on one background thread, on the newest submitted item only."""

    def __init__(
        self,
        process: Callable[[Any], None],
        on_error: Callable[[Exception], None],
        name: str = "inference",
    ) -> None:
        self._process = process
        self._on_error = on_error
        self._condition = threading.Condition()
        self._slot: Any = None
        self._busy = False
        self.dropped = 0  # items replaced before they were processed
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: Any) -> bool:
        """Put ``item`` in the slot; returns True when it replaced an unprocessed item."""
        with self._condition:
            if self._slot is _STOP:
                return False
            replaced = self._slot is not None
            self.dropped += replaced
            self._slot = item
            self._condition.notify()
            return replaced

    @property
    def busy(self) -> bool:
        """Whether an item is being processed or waiting."""
        with self._condition:
            return self._busy or self._slot not in (None, _STOP)

    def wait_idle(self, timeout: Optional[float] = None) -> bool:
        """Block until nothing is processing or waiting; False on timeout."""
        with self._condition:
            return self._condition.wait_for(lambda: not self._busy and self._slot in (None, _STOP), timeout)

    def stop(self, timeout: Optional[float] = None) -> bool:
        """Discard the waiting item, let the current one finish, end the thread; False on timeout."""
        with self._condition:
            self._slot = _STOP
            self._condition.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._slot is not None)
                item, self._slot = self._slot, None
                if item is _STOP:
                    self._slot = _STOP
                    self._condition.notify_all()
                    return
                self._busy = True
            try:
                self._process(item)
            except Exception as error:  # noqa: BLE001 - the thread must outlive any bad item
                self._on_error(error)
            finally:
                with self._condition:
                    self._busy = False
                    self._condition.notify_all()
