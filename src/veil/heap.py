"""The C heap of a veil process: freed array memory kept for the next array.

A million-element run allocates and frees arrays of 1–16 MB hundreds of times. glibc
serves such sizes with fresh `mmap`s and returns them on `free`, so every new array
starts as untouched pages that the kernel faults in and zeroes one by one: a third of a
local run's CPU time was spent in the kernel, mostly there (`perf`, docs/performance.md).
Raising the mmap threshold to its maximum (32 MiB on 64-bit glibc) and not trimming
the heap's top lets a freed block serve the next array of its size without a fault.
Set once per command, before any array exists; forked servers and parties inherit it.
"""

from __future__ import annotations

import ctypes
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20
"""Blocks this large and larger still get their own mapping (glibc's maximum)."""
TRIM_THRESHOLD = 1 << 30
"""Free memory at the heap's top beyond this goes back to the OS."""


def keep_freed_memory() -> bool:
    """Tune glibc's allocator as above; False where it is not glibc (nothing changes)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
        bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
