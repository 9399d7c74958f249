"""Process tuning for the page loop: glibc malloc thresholds.

zlib allocates and frees about 270 KiB of state for every page it compresses (deflateInit and
deflateEnd in each ``zlib.compress`` call, as in makedumpfile's ``compress2``).  With glibc's default
trim threshold the heap top is returned to the kernel after every page and faulted back in on the
next: measured here, 87 us per 4 KiB page instead of 53 us.  Raising the trim and mmap thresholds
keeps that memory in the heap (bounded: at most ``TRIM_BYTES`` of free heap is kept).
"""

from __future__ import annotations

M_TRIM_THRESHOLD = -1  # malloc.h
M_MMAP_THRESHOLD = -3
TRIM_BYTES = 16 << 20
MMAP_BYTES = 16 << 20  # windows and payloads come from the heap and are reused


def tune_malloc() -> bool:
    """Set glibc's malloc thresholds; False where that is impossible (no ctypes, not glibc)."""
    try:
        import ctypes
    except ImportError:
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_TRIM_THRESHOLD, TRIM_BYTES)) and bool(mallopt(M_MMAP_THRESHOLD, MMAP_BYTES))
