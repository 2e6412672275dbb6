"""Which frames an instruction is applied to, and when the language model has to run again.

- ``sticky``: an instruction applies to every new frame until replaced. The LLM runs on
  the first frame and then every ``reason_every_n`` frames (0 = only when the instruction
  changes); the frames in between reuse the cached ``[SEG]`` prompt embedding, which
  skips the expensive language model and runs only the image encoder and mask decoder.
- ``once``: each instruction gets exactly one result, on the latest frame.

Thread-safe: instructions arrive on the executor thread, plans are taken by the
inference thread.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Optional

STICKY = "sticky"
ONCE = "once"
MODES = (STICKY, ONCE)


@dataclass(frozen=True)
class InferencePlan:
    """What to run on one frame: the full model, or only the mask decoder with a cached prompt."""

    instruction: str
    prompt_embedding: Optional[Any] = None  # None: run the language model

    @property
    def runs_language_model(self) -> bool:
        return self.prompt_embedding is None


class InstructionPolicy:
    """Holds the current instruction and plans the work for each frame (see module docstring)."""

    def __init__(self, mode: str = STICKY, reason_every_n: int = 10) -> None:
        if mode not in MODES:
            raise ValueError(f"instruction mode {mode!r} is not supported: use one of {MODES}")
        if reason_every_n < 0:
            raise ValueError(
                f"reason_every_n must be >= 0 frames (0 = reason only when the instruction changes), "
                f"got {reason_every_n}"
            )
        self.mode = mode
        self.reason_every_n = reason_every_n
        self._lock = threading.Lock()
        self._instruction: Optional[str] = None
        self._pending = False  # once mode: the instruction still needs its result
        self._embedding: Optional[Any] = None
        self._frames_since_reasoning = 0

    @property
    def instruction(self) -> Optional[str]:
        return self._instruction

    @property
    def has_work(self) -> bool:
        """Whether a new frame would be segmented (sticky: an instruction; once: one still unanswered)."""
        return self._instruction is not None and (self.mode == STICKY or self._pending)

    def set_instruction(self, text: str) -> None:
        """Replace the instruction; the next frame runs the language model."""
        with self._lock:
            self._instruction = text
            self._pending = True
            self._embedding = None
            self._frames_since_reasoning = 0

    def plan(self) -> Optional[InferencePlan]:
        """The work for the next frame, or ``None`` when there is nothing to do."""
        with self._lock:
            if self._instruction is None:
                return None
            if self.mode == ONCE:
                if not self._pending:
                    return None
                self._pending = False
                return InferencePlan(self._instruction)
            due = self.reason_every_n > 0 and self._frames_since_reasoning >= self.reason_every_n
            if self._embedding is None or due:
                self._frames_since_reasoning = 1
                return InferencePlan(self._instruction)
            self._frames_since_reasoning += 1
            return InferencePlan(self._instruction, self._embedding)

    def record(self, plan: InferencePlan, prompt_embedding: Optional[Any]) -> None:
        """Cache the prompt embedding a language-model run produced (``None`` if no part was found)."""
        if not plan.runs_language_model or self.mode != STICKY:
            return
        with self._lock:
            if plan.instruction == self._instruction:
                self._embedding = prompt_embedding
