"""Give freed image buffers back to the operating system, so that a server's memory follows its load.

glibc's malloc raises its mmap threshold each time a large block is freed (up to 32 MB), after which Pillow's
16 MB image blocks come from per-thread heaps that are rarely returned: after a few large uploads on different
threads a server kept 300 MB it no longer used (`python -m tests.stress_memory`). A fixed threshold keeps every
large buffer in its own mapping, returned when freed.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3
"""mallopt's parameter number, from glibc's malloc.h."""
MMAP_THRESHOLD = 1 << 20
"""Allocations of 1 MB or more get their own mapping: decoded images, not the small objects of a request."""


def return_large_buffers() -> bool:
    """Fix glibc's mmap threshold at MMAP_THRESHOLD for this process; False (and nothing done) without glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        done = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):
        done = False
    if not done:
        log.info("not glibc: freed image buffers are left to the system allocator")
    return done
