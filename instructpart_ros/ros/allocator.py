"""Keep freed memory in the process for the next frame instead of returning it to the kernel.

Every frame allocates and frees tens of megabytes of large buffers (input messages, the
depth and mask arrays, part points, the result message). glibc's malloc maps large
blocks fresh and trims freed heap memory beyond twice its (self-adjusting) mmap
threshold, so the next frame page-faults the same memory in again. With the model on
the CPU its own large tensors raise that threshold high enough; with a stand-in for a
model that allocates little host memory (as on a GPU) the node page-faulted ~4,300
times per frame for a part of 266-284k points and spent 5-6 ms more per frame on the
2-core CI machine (``bench/node_latency.py``: ``large_mask_no_model`` against
``large_mask_no_model_default_malloc``). Fixed thresholds
keep those blocks for reuse; the resident memory then stays at its per-frame peak
instead of dropping between frames.
"""
from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1  # glibc <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024  # the largest glibc accepts on 64-bit: blocks below it are reused
TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024  # free memory kept at the top of each heap


def keep_freed_memory() -> bool:
    """Set glibc malloc's mmap and trim thresholds (process-wide, call once at start-up).

    Returns False, changing nothing, where the C library is not glibc (macOS, musl).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
