"""Byte access to the dump source: mmap in large windows, pread as the fallback.

``/proc/vmcore`` supports mmap since Linux 3.11 and is much faster that way (dump-formats.md §4);
a regular file works either way.  Short reads are reported as truncation, never padded silently.
"""

from __future__ import annotations

import errno
import mmap
import os
from typing import Protocol

from .errors import SourceFault

WINDOW_BYTES = 4 << 20
"""Default window: makedumpfile maps 4 MiB (MAP_REGION); it keeps RSS flat."""


class Reader(Protocol):
    """Random access to the source file; tests inject failing implementations."""

    @property
    def size(self) -> int:
        """File size in bytes."""
        ...

    def read(self, offset: int, size: int) -> bytes | memoryview:
        """Return exactly ``size`` bytes at ``offset`` or raise :class:`SourceFault`."""
        ...

    def close(self) -> None:
        """Release the file and any mapping."""
        ...


class FileReader:
    """A source file read with pread, or through mmap windows when ``use_mmap``."""

    def __init__(self, path: str, *, use_mmap: bool = True, window: int = WINDOW_BYTES) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        st = os.fstat(self._fd)
        self._size = st.st_size
        self._window = max(mmap.ALLOCATIONGRANULARITY, window - window % mmap.ALLOCATIONGRANULARITY)
        self._map: mmap.mmap | None = None
        self._map_start = 0
        self._map_end = 0
        self._use_mmap = use_mmap and self._size > 0
        self._buf = bytearray()

    @property
    def size(self) -> int:
        return self._size

    def read(self, offset: int, size: int) -> bytes | memoryview:
        if offset < 0 or size < 0 or offset + size > self._size:
            raise SourceFault(offset, size, f"beyond the end of the source ({self._size} bytes): truncated")
        if self._use_mmap and size <= self._window:
            try:
                return self._mapped(offset, size)
            except OSError:
                # /proc/vmcore on kernels before 3.11, or a filesystem without mmap.
                self._unmap()
                self._use_mmap = False
        return self._pread(offset, size)

    def _mapped(self, offset: int, size: int) -> bytes:
        if not (self._map_start <= offset and offset + size <= self._map_end):
            self._unmap()
            start = offset - offset % mmap.ALLOCATIONGRANULARITY
            end = min(self._size, max(start + self._window, offset + size))
            self._map = mmap.mmap(self._fd, end - start, mmap.MAP_SHARED, mmap.PROT_READ, offset=start)
            self._map_start, self._map_end = start, end
        assert self._map is not None
        rel = offset - self._map_start
        # A copy: memoryviews into the map would pin it and forbid unmapping the window.
        return self._map[rel : rel + size]

    def _pread(self, offset: int, size: int) -> bytes:
        if len(self._buf) < size:
            self._buf = bytearray(size)
        view = memoryview(self._buf)[:size]
        done = 0
        while done < size:
            try:
                n = os.preadv(self._fd, [view[done:]], offset + done)
            except OSError as exc:
                raise SourceFault(offset + done, size - done, os.strerror(exc.errno or errno.EIO)) from exc
            if n == 0:
                raise SourceFault(offset + done, size - done, "unexpected end of file: truncated")
            done += n
        return bytes(view)

    def _unmap(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
            self._map_start = self._map_end = 0

    def close(self) -> None:
        self._unmap()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
