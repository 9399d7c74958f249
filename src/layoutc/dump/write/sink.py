"""Output sinks: a regular file written by offset, or makedumpfile's flattened stream.

Every write names its absolute file offset.  A regular file takes it as a pwrite; the flattened
stream (docs/reference/dump-formats.md §3.3) turns it into a record ``{offset, size}`` (big-endian int64) plus
the bytes, so records can come in any order and later ones win; the end record (offset -1) is
written only once the dump is finished or marked INCOMPLETE, so a stream cut short (the dumper
killed, the pipe broken) has none and ``makedumpfile -R`` refuses it.  Both enforce the byte budget
as a last guard: the planner already guarantees it, so hitting the guard is a bug, reported as such.
Where the bytes go (a temporary file renamed at the end, stdout, a pipe) is :mod:`.target`'s.
"""

from __future__ import annotations

import errno
import os
import struct

from layoutc.dump.errors import SinkFault
from layoutc.dump.write.target import OutputTarget

# makedumpfile.h: struct makedumpfile_header / makedumpfile_data_header
FLAT_SIGNATURE = b"makedumpfile\0\0\0\0"
FLAT_HEADER = struct.Struct(">16sqq")  # signature, type=1, version=1
FLAT_DATA_HEADER = struct.Struct(">qq")  # offset, buf_size
FLAT_HEADER_BLOCK = 4096
TYPE_FLAT_HEADER = 1
VERSION_FLAT_HEADER = 1


TYPE_CHECKING = False
if TYPE_CHECKING:  # a protocol for the type checker alone: importing typing costs every dump's start-up
    from typing import Protocol

    class Sink(Protocol):
        """Where a writer puts its bytes."""

        seekable: bool
        """Whether bytes already written can be read back (a regular file)."""

        @property
        def shared_fd(self) -> int | None:
            """A descriptor worker processes may ``pwrite`` pages to themselves (a regular file), or None."""
            ...

        def reserve(self, offset: int, size: int) -> None:
            """Raise :class:`SinkFault` where ``size`` bytes at ``offset`` would pass the budget: the check
            ``write_at`` makes, for bytes a worker process writes through ``shared_fd``."""
            ...

        def write_at(self, offset: int, data: bytes | bytearray | memoryview) -> None:
            """Place ``data`` at ``offset`` of the logical output file."""
            ...

        def write_parts_at(self, offset: int, parts: list[bytes]) -> None:
            """``write_at(offset, b"".join(parts))``, without the join where the sink can."""
            ...

        def read_at(self, offset: int, size: int) -> bytes:
            """Read back bytes already written (regular files only)."""
            ...

        def close(self, publish: bool = True) -> None:
            """Close the output; ``publish``: the dump is settled (finished or marked INCOMPLETE), so
            write the flattened end marker and give the file its name."""
            ...


IOV_PARTS = 512  # at most this many buffers in one pwritev (IOV_MAX is 1024 on Linux)


class _Budget:
    def __init__(self, budget: int | None) -> None:
        self.budget = budget

    def check(self, offset: int, size: int) -> None:
        if self.budget is not None and offset + size > self.budget:
            raise SinkFault(
                offset,
                f"internal error: write of {size} bytes would exceed the budget of {self.budget} bytes",
            )


class FileSink:
    """A regular output file, written with pwrite."""

    seekable = True

    def __init__(self, target: OutputTarget, budget: int | None = None) -> None:
        self.target = target
        self._budget = _Budget(budget)
        self._fd = target.open()

    def write_at(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        self._budget.check(offset, len(data))
        view = memoryview(data)
        done = 0
        while done < len(view):
            try:
                n = os.pwrite(self._fd, view[done:], offset + done)
            except OSError as exc:
                raise SinkFault(offset + done, os.strerror(exc.errno or errno.EIO)) from exc
            if n == 0:
                raise SinkFault(offset + done, "write returned 0")
            done += n

    @property
    def shared_fd(self) -> int | None:
        return self._fd

    def reserve(self, offset: int, size: int) -> None:
        self._budget.check(offset, size)

    def write_parts_at(self, offset: int, parts: list[bytes]) -> None:
        """One pwritev for the parts (a window's payloads, up to FLUSH_BYTES): no join, no copy of them."""
        total = sum(map(len, parts))
        if len(parts) > IOV_PARTS:
            self.write_at(offset, b"".join(parts))
            return
        self._budget.check(offset, total)
        try:
            done = os.pwritev(self._fd, parts, offset)
        except OSError:
            done = 0  # write_at reports the fault at its offset
        if done < total:  # short (a full disk, a signal): the rest as write_at writes, and faults, it
            self.write_at(offset + done, memoryview(b"".join(parts))[done:])

    def read_at(self, offset: int, size: int) -> bytes:
        return os.pread(self._fd, size, offset)

    def close(self, publish: bool = True) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            if publish:
                self.target.publish()


class FlatSink:
    """makedumpfile's flattened format on a stream (``-`` is stdout)."""

    seekable = False

    def __init__(self, fd: int, budget: int | None = None, *, target: OutputTarget | None = None) -> None:
        self._fd = fd
        self._target = target if target is not None and target.final != "-" else None
        self._budget = _Budget(budget)
        self._pos = 0
        head = FLAT_HEADER.pack(FLAT_SIGNATURE, TYPE_FLAT_HEADER, VERSION_FLAT_HEADER)
        self._emit(head + bytes(FLAT_HEADER_BLOCK - len(head)))

    @classmethod
    def open(cls, target: OutputTarget, budget: int | None = None) -> FlatSink:
        """Flattened output to the target (stdout for ``-``)."""
        fd = target.open()
        try:
            return cls(fd, budget, target=target)
        except SinkFault:
            if fd != 1:
                os.close(fd)
            raise

    def write_at(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        # The budget applies to the reassembled file, not to the stream with its record headers.
        self._budget.check(offset, len(data))
        self._emit(FLAT_DATA_HEADER.pack(offset, len(data)))
        self._emit(data)

    def write_parts_at(self, offset: int, parts: list[bytes]) -> None:
        self.write_at(offset, b"".join(parts))

    @property
    def shared_fd(self) -> int | None:
        return None  # records go out in order, through this process

    def reserve(self, offset: int, size: int) -> None:
        self._budget.check(offset, size)

    def read_at(self, offset: int, size: int) -> bytes:
        raise SinkFault(offset, "internal error: a flattened stream cannot be read back")

    def _emit(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while len(view):
            try:
                n = os.write(self._fd, view)
            except OSError as exc:
                raise SinkFault(self._pos, os.strerror(exc.errno or errno.EIO)) from exc
            view = view[n:]
            self._pos += n

    def close(self, publish: bool = True) -> None:
        if self._fd < 0:
            return
        try:
            if publish:
                self._emit(FLAT_DATA_HEADER.pack(-1, -1))  # END_FLAG_FLAT_HEADER
        finally:
            if self._target is not None:
                os.close(self._fd)
            self._fd = -1
        if publish and self._target is not None:
            self._target.publish()
