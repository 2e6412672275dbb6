"""One progress-bar style (rate and ETA) for every long loop in evaluation."""
from __future__ import annotations

from tqdm import tqdm


def progress_bar(total: int, desc: str, unit: str, enabled: bool | None = None,
                 initial: int = 0) -> tqdm:
    """A tqdm bar to stderr; ``enabled=None`` shows it only on a terminal."""
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True,
                disable=None if enabled is None else not enabled)
