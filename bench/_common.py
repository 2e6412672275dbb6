"""What every benchmark in bench/ shares: timing, the machine it ran on, writing its JSON."""
from __future__ import annotations

import json
import os
import pathlib
import platform
import statistics
import timeit

import numpy as np


def median_ms(function, runs: int) -> float:
    """Median wall time of ``function()`` over ``runs`` calls, in ms, after one warm-up call."""
    function()  # warm up (imports, first allocation)
    return 1e3 * statistics.median(timeit.repeat(function, number=1, repeat=runs))


def machine(**versions) -> dict:
    """The machine and library versions a result was measured with (plus ``versions``)."""
    return {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(), "numpy": np.__version__,
            "load_average": os.getloadavg(), **versions}


def emit(report: dict, out: pathlib.Path | None) -> None:
    """Print the report as JSON, and also write it to ``out`` when given."""
    text = json.dumps(report, indent=2)
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
