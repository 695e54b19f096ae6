"""Keep the server's native heap from growing with the number of requests it has served.

glibc's malloc raises its mmap threshold each time a large block is freed (up to 32 MB), after which Pillow's
16 MB image blocks come from heaps that are rarely returned: after a few large uploads on different threads a
server kept 300 MB it no longer used (`python -m tools.stress_memory`). And each of Gradio's worker threads gets
a heap (arena) of its own, up to 8 per core, each keeping its freed memory: resident memory crept up by about 20 MB
per 1,000 requests (`python -m tools.stress_load --requests 1200`). A fixed threshold and two arenas stop both.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

M_ARENA_MAX, M_MMAP_THRESHOLD = -8, -3
"""mallopt's parameter numbers, from glibc's malloc.h."""
ARENAS = 2
"""One per core of a free Space; threads share them (the interpreter's lock serialises most of their work anyway)."""
MMAP_THRESHOLD = 1 << 20
"""Allocations of 1 MB or more get their own mapping, returned when freed: decoded images, not a request's small
objects."""


def limit_heap_growth() -> bool:
    """Set glibc's arena count and mmap threshold for this process; call it before the server starts its threads.

    Returns:
        False, with nothing done, where the C library is not glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        done = bool(libc.mallopt(M_ARENA_MAX, ARENAS)) and bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):
        done = False
    if not done:
        log.info("not glibc: the heap is left to the system allocator")
    return done
