"""Byte access to the dump source: mmap in large windows, pread as the fallback.

``/proc/vmcore`` supports mmap since Linux 3.11 and is much faster that way (docs/reference/dump-formats.md §4);
a regular file works either way.  Short reads are reported as truncation, never padded silently.
"""

from __future__ import annotations

import errno
import mmap
import os

from layoutc.dump.errors import SourceFault
from layoutc.dump.read.inputs import open_regular

WINDOW_BYTES = 4 << 20
"""Default window: makedumpfile maps 4 MiB (MAP_REGION); it keeps RSS flat."""


TYPE_CHECKING = False
if TYPE_CHECKING:  # a protocol for the type checker alone: importing typing costs every dump's start-up
    from typing import Protocol

    class Reader(Protocol):
        """Random access to the source file; tests inject failing implementations."""

        @property
        def size(self) -> int:
            """File size in bytes."""
            ...

        def read(self, offset: int, size: int) -> bytes | bytearray | memoryview:
            """Exactly ``size`` bytes at ``offset`` (valid until the next read), or :class:`SourceFault`."""
            ...

        def close(self) -> None:
            """Release the file and any mapping."""
            ...


class FileReader:
    """A source file read with pread, or through mmap windows when ``use_mmap``.

    ``use_mmap=None`` chooses: mmap for ``/proc/vmcore``, where read() remaps every page
    (docs/reference/dump-formats.md §4); pread for other files, where it costs fewer page faults (measured in
    bench/dump/RESULTS.md).  The source must be a regular file (:func:`.inputs.open_regular`).
    """

    def __init__(self, path: str, *, use_mmap: bool | None = None, window: int = WINDOW_BYTES) -> None:
        self.path = path
        self._fd = open_regular(path, "dump source", "give an ELF vmcore file, such as /proc/vmcore")
        st = os.fstat(self._fd)
        self._size = st.st_size
        self.identity = (st.st_dev, st.st_ino)
        self._window = max(mmap.ALLOCATIONGRANULARITY, window - window % mmap.ALLOCATIONGRANULARITY)
        self._map: mmap.mmap | None = None
        self._view: memoryview | None = None
        self._map_start = 0
        self._map_end = 0
        if use_mmap is None:
            use_mmap = os.path.realpath(path) == "/proc/vmcore"
        self._use_mmap = use_mmap and self._size > 0
        self._buf = bytearray()
        self._views: list[memoryview] = []  # of each page of _buf (page_views)

    @property
    def size(self) -> int:
        return self._size

    def reopened(self) -> FileReader:
        """A reader of the same file read the same way (mmap or pread, same window), for a worker process:
        its own file description and windows, and ``--mmap``/``--no-mmap`` honoured there too."""
        return FileReader(self.path, use_mmap=self._use_mmap, window=self._window)

    def read(self, offset: int, size: int) -> bytes | bytearray | memoryview:
        """The bytes at ``offset``, in a buffer that is reused: valid until the next call."""
        if offset < 0 or size < 0 or offset + size > self._size:
            raise SourceFault(offset, size, f"beyond the end of the source ({self._size} bytes): truncated")
        if self._use_mmap and size <= self._window:
            try:
                return self._mapped(offset, size)
            except OSError:
                # /proc/vmcore on kernels before 3.11, or a filesystem without mmap.
                self._unmap()
                self._use_mmap = False
        if 0 < size < len(self._buf):
            # a short window: a new bytes object from os.pread, not a new zeroed bytearray (the zeroing cost
            # 27 M instructions on a busy 3 GiB vmcore, whose kept runs change the window size 450 times)
            try:
                data = os.pread(self._fd, size, offset)
            except OSError:
                data = b""
            if len(data) == size:
                return data
        buf = self._buffer(size)
        self._pread(offset, buf)
        return buf

    def read_copy(self, offset: int, size: int) -> bytes:
        """Like :meth:`read`, in a new bytes object: one copy, where ``bytes(read())`` makes two."""
        if self._use_mmap or offset < 0 or size <= 0 or offset + size > self._size:
            return bytes(self.read(offset, size))
        try:
            data = os.pread(self._fd, size, offset)
        except OSError:
            data = b""
        return data if len(data) == size else bytes(self.read(offset, size))  # short: read() reports it

    def read_into(self, offset: int, buf: bytearray | memoryview) -> None:
        """Exactly ``len(buf)`` bytes at ``offset`` into ``buf``, or :class:`SourceFault`: a buffer the caller keeps,
        where :meth:`read_copy` makes a new one each time (whose pages the kernel's copy then faults in)."""
        if offset < 0 or offset + len(buf) > self._size:
            raise SourceFault(offset, len(buf), f"beyond the end of the source ({self._size} bytes): truncated")
        if self._use_mmap:
            buf[:] = self.read(offset, len(buf))
        else:
            self._pread(offset, buf)

    def mapped(self, offset: int, size: int) -> mmap.mmap | None:
        """Exactly ``[offset, offset + size)`` in a mapping of its own (not one of :meth:`read`'s windows, which the
        next read may replace), no copy: when this reader maps the source (``/proc/vmcore``, ``--mmap``; pread is
        kept where it is chosen, for the read errors it survives) and ``offset`` is a multiple of the mapping
        granularity. None otherwise, or when the mapping fails: the caller reads instead."""
        if not self._use_mmap or size <= 0 or offset % mmap.ALLOCATIONGRANULARITY or offset + size > self._size:
            return None
        try:
            return mmap.mmap(self._fd, size, mmap.MAP_SHARED, mmap.PROT_READ, offset=offset)
        except OSError:
            return None

    def page_views(self, buf: object, page_size: int) -> list[memoryview] | None:
        """A view of each page of ``buf`` when it is the buffer :meth:`read` reads whole windows into (the same one
        window after window), else None.  Made once per buffer, not once per window: a view sees what each read
        puts there.  The buffer is never resized while they exist (:meth:`_buffer` replaces it)."""
        if buf is not self._buf or not self._buf or len(self._buf) % page_size:
            return None
        views = self._views
        if not views or len(views[0]) != page_size:
            whole = memoryview(self._buf)
            views = self._views = [whole[at : at + page_size] for at in range(0, len(self._buf), page_size)]
        return views

    def _buffer(self, size: int) -> bytearray:
        # One buffer of the largest size read (a whole window): copying into it avoids a fresh allocation,
        # and its page faults, for every window.
        if len(self._buf) != size:
            self._buf = bytearray(size)
            self._views = []
        return self._buf

    def _mapped(self, offset: int, size: int) -> memoryview:
        """A view into the mapping, no copy: the codec reads the page cache (or the old kernel's memory)
        in place. A view keeps its window mapped; a window no view refers to any more is unmapped."""
        if not (self._map_start <= offset and offset + size <= self._map_end):
            self._unmap()
            start = offset - offset % mmap.ALLOCATIONGRANULARITY
            end = min(self._size, max(start + self._window, offset + size))
            self._map = mmap.mmap(self._fd, end - start, mmap.MAP_SHARED, mmap.PROT_READ, offset=start)
            self._map_start, self._map_end = start, end
            self._view = memoryview(self._map)
        rel = offset - self._map_start
        assert self._view is not None
        return self._view[rel : rel + size]

    def _pread(self, offset: int, buf: bytearray | memoryview) -> None:
        size = len(buf)
        view = memoryview(buf)
        done = 0
        while done < size:
            try:
                n = os.preadv(self._fd, [view[done:]], offset + done)
            except OSError as exc:
                raise SourceFault(offset + done, size - done, os.strerror(exc.errno or errno.EIO)) from exc
            if n == 0:
                raise SourceFault(offset + done, size - done, "unexpected end of file: truncated")
            done += n

    def _unmap(self) -> None:
        # Views handed out may still be alive (valid until the next read, but nothing forces a caller to
        # drop them): the mapping is closed when it can be, else when its last view is garbage.
        if self._map is not None:
            view, mapping = self._view, self._map
            self._view = self._map = None
            self._map_start = self._map_end = 0
            if view is not None:
                view.release()
            try:
                mapping.close()
            except BufferError:
                pass

    def close(self) -> None:
        self._unmap()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
