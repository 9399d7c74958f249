"""Opening the dumper's input files without blocking, looping or reading without bound.

The source, ``--spec`` and ``--iomem`` must be regular files: ``/proc/vmcore`` and ``/proc/iomem``
are (procfs gives them ``S_IFREG``; ``/proc/iomem`` reports size 0 and is read to its end).  A FIFO
would block ``open()`` until a writer appears and ``read()`` until it closes, a character device
such as ``/dev/zero`` never ends, and a directory or socket has no bytes: each is refused with one
line that says what the path is.  Files are opened with ``O_NONBLOCK`` and checked with
``fstat()`` on the open descriptor, so nothing can swap the file between the check and the read.
Side files are read up to a fixed cap.
"""

from __future__ import annotations

import errno
import os
import stat

from layoutc.dump.errors import InputError

SPEC_MAX_BYTES = 1 << 20
"""A filter spec is a few KiB (one object per range); 1 MiB holds over 10 000 ranges."""

IOMEM_MAX_BYTES = 4 << 20
"""/proc/iomem has one ~50-byte line per resource: a few hundred lines, a few thousand on a large
NUMA server with many devices."""

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def kind(mode: int) -> str:
    """What a non-regular file is, for messages."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def open_error(path: str, what: str, exc: OSError) -> InputError:
    """The message for a path that cannot be opened."""
    code = exc.errno or errno.EIO
    problem = f"cannot open the {what}: {os.strerror(code)}"
    if code == errno.ELOOP:
        return InputError(path, problem + " (a symbolic link loop)", "point it at a real file")
    fix = "check the path" if code == errno.ENOENT else "check the path and its permissions"
    return InputError(path, problem, fix)


def open_regular(path: str, what: str, fix: str) -> int:
    """A read-only descriptor of the regular file ``path`` (blocking reads), or :class:`InputError`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise open_error(path, what, exc) from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise InputError(path, f"the {what} is {kind(mode)}, not a regular file", fix)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_capped(path: str, what: str, cap: int, fix: str) -> bytes:
    """The whole regular file ``path``, refused when it holds more than ``cap`` bytes."""
    fd = open_regular(path, what, fix)
    chunks: list[bytes] = []
    size = 0
    try:
        while size <= cap:
            try:
                chunk = os.read(fd, min(1 << 16, cap + 1 - size))
            except OSError as exc:
                raise InputError(path, f"reading the {what} failed at byte {size}: {exc.strerror}", fix) from exc
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > cap:
        raise InputError(path, f"the {what} is larger than {cap} bytes, the most it can sensibly be", fix)
    return b"".join(chunks)
