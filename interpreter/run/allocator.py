"""Keeping freed memory for reuse during training (glibc malloc).

A training step frees and reallocates the same large arrays every step. By default glibc
serves blocks over 128 KiB with mmap and returns them to the system on free, so every step
pays a page fault for each page it touches again: on a small CNN that is about a third of
the step. Raising the mmap and trim thresholds makes malloc keep those blocks and hand
them back on the next step, the effect of a caching allocator (PyTorch has its own).

The command line turns this on for `run` and `predict` (set NNSPEC_SYSTEM_MALLOC=1 to keep
the system's defaults); library users can call `keep_freed_memory()` themselves. It changes
process-wide malloc settings, so a library does not do it behind its caller's back.
"""
from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3


def keep_freed_memory(mmap_threshold: int = 64 * 2**20, trim_threshold: int = 256 * 2**20
                      ) -> bool:
    """Ask glibc to serve blocks up to `mmap_threshold` from its heap and keep up to
    `trim_threshold` of freed memory; returns whether it took effect (glibc only)."""
    if not sys.platform.startswith("linux") or os.environ.get("NNSPEC_SYSTEM_MALLOC"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold)
                and mallopt(M_TRIM_THRESHOLD, trim_threshold))
