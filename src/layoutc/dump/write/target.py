"""Where a dump is written: never over its source, staged under a temporary name, then renamed.

``layoutc dump SRC SRC`` (or OUTPUT a symlink or hard link to SRC) used to truncate the vmcore
before reading it.  :func:`plan` compares the output with the source by ``(st_dev, st_ino)``
after following symlinks, and refuses outputs in ``/proc`` and ``/sys`` (``/proc/vmcore`` is read
only, and nothing there holds a dump).  A regular output file is written as
``.NAME.layoutc-PID.part`` beside the real path and renamed over it once it is finished or marked
INCOMPLETE, so a dumper killed outright (SIGKILL, power loss) never leaves a file under the
output's name that claims pages it does not hold.  Streams (``-``, a FIFO, a character device)
and block devices are written in place; only the flattened format can go to a stream.
"""

from __future__ import annotations

import errno
import os
import stat

from layoutc.dump.errors import InputError, OutputRefused, SinkFault
from layoutc.dump.read.inputs import kind
from layoutc.dump.record import Frozen, init

PSEUDO_FS = ("/proc", "/sys")


class OutputTarget(Frozen):
    """The output: ``final`` is what the user named (symlinks resolved), ``staged`` the temporary
    file written first (None: written in place)."""

    __slots__ = ("final", "staged", "stream")
    final: str
    staged: str | None
    stream: bool  # a pipe, a character device or stdout: no seeking back

    def __init__(self, final: str, staged: str | None, stream: bool) -> None:
        init(self, final=final, staged=staged, stream=stream)

    def open(self) -> int:
        """The descriptor to write: a new temporary file beside ``final``, or ``final`` itself."""
        if self.final == "-":
            return 1
        path = self.staged or self.final
        flags = os.O_WRONLY | os.O_CLOEXEC
        if self.staged is not None:
            flags |= os.O_CREAT | os.O_EXCL
            try:
                os.unlink(path)  # left by a dumper with our pid that was killed: never followed
            except OSError:
                pass
        try:
            return os.open(path, flags, 0o600)
        except OSError as exc:
            raise SinkFault(0, f"cannot create {path}: {os.strerror(exc.errno or errno.EIO)}") from exc

    def publish(self) -> None:
        """Rename the finished (or INCOMPLETE-marked) temporary file to the output's name."""
        if self.staged is None:
            return
        try:
            os.replace(self.staged, self.final)
        except OSError as exc:
            reason = os.strerror(exc.errno or errno.EIO)
            raise SinkFault(0, f"cannot rename {self.staged} to {self.final}: {reason}") from exc


def plan(output: str, source: str, source_id: tuple[int, int] | None, fmt: str) -> OutputTarget:
    """Check OUTPUT against the source and the format before anything is opened for writing."""
    if output == "-":
        st = os.fstat(1)
        _not_source(output, source, source_id, st)
        return OutputTarget("-", None, True)
    real = os.path.realpath(output)
    inside = [d for d in PSEUDO_FS if real == d or real.startswith(d + "/")]
    if inside:
        raise OutputRefused(
            output,
            f"the output resolves to {real}, inside {inside[0]}, which holds no dump files "
            "(/proc/vmcore is the source, read only)",
            "write the dump to a file system, e.g. /var/crash/vmcore",
        )
    try:
        st = os.stat(real)
    except FileNotFoundError:
        return OutputTarget(real, _staged_name(real), False)
    except OSError as exc:
        code = exc.errno or errno.EIO
        raise InputError(output, f"cannot check the output: {os.strerror(code)}", "name another file") from exc
    _not_source(output, source, source_id, st)
    if stat.S_ISREG(st.st_mode):
        return OutputTarget(real, _staged_name(real), False)
    if stat.S_ISBLK(st.st_mode):
        return OutputTarget(real, None, False)
    if (stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode)) and fmt == "flat":
        return OutputTarget(real, None, True)
    if stat.S_ISDIR(st.st_mode):
        fix = f"name a file in it, e.g. {os.path.join(output, 'vmcore')}"
    elif stat.S_ISSOCK(st.st_mode):
        fix = "name a regular file, or write to stdout with OUTPUT -"
    else:
        fix = "the kdump and ELF formats seek back to rewrite their headers: use --format flat for a stream"
    raise OutputRefused(output, f"the output is {kind(st.st_mode)}", fix)


def _not_source(output: str, source: str, source_id: tuple[int, int] | None, st: os.stat_result) -> None:
    if source_id is not None and (st.st_dev, st.st_ino) == source_id:
        raise OutputRefused(
            output,
            f"the output is the dump source {source} itself (device {st.st_dev}, inode {st.st_ino}); "
            "writing it would destroy the vmcore before it is read",
            "name another output file",
        )


def _staged_name(real: str) -> str:
    head, tail = os.path.split(real)
    return os.path.join(head, f".{tail}.layoutc-{os.getpid()}.part")


def source_identity(path: str, reader: object) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of the source: from the open reader, else from the path."""
    got = getattr(reader, "identity", None)
    if isinstance(got, tuple):
        return got
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)
