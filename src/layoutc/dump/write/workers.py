"""``--workers N``: windows compressed in N forked children, received by the parent in pfn order.

Window ``i`` goes to child ``i % N``; each child reads its windows from its own file descriptor, encodes
them with its own codec context and writes them, in order, to its own pipe; the parent reads the pipes
in turn, so windows come back in the order they were cut and the output equals one worker's byte for
byte. Nothing else runs in the parent: no pool, no task queue, no pickling of pages. (A
``multiprocessing`` pool spent 26 % of the children's CPU in the parent's handler threads, measured on
a 4 GiB vmcore: two workers ran 1.34 times as fast as one where two free cores allow 2.)

A window on the pipe: a header ``(pfn, npages, payload bytes)``, the payload, the kinds (one byte a
page) and the sizes (``uint32`` a page). A child that fails sends ``npages = ERROR`` and its
exception pickled (a :class:`.errors.SourceFault` is re-raised as such in the parent, which then writes
an incomplete dump as with one worker). The pipes fill when the parent writes slower than the
children compress, which is the bound on memory: at most a pipe's worth of windows waits per child.
"""

from __future__ import annotations

import gc
import os
import struct
from array import array

from layoutc.dump import interrupt
from layoutc.dump.read.physmap import PhysMap, Piece
from layoutc.dump.read.vmcore_source import FileReader
from layoutc.dump.write import compression as codecs
from layoutc.dump.write.encode import Encoder, PageWindow

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

HEADER = struct.Struct("<QII")  # pfn, npages (or ERROR), payload bytes (or pickled error bytes)
ERROR = 0xFFFFFFFF
PIPE_BYTES = 1 << 20  # F_SETPIPE_SZ where allowed (the default 64 KiB holds less than one window)
F_SETPIPE_SZ = 1031  # fcntl.h (Linux); fcntl.F_SETPIPE_SZ only exists from Python 3.10 on

Job = tuple[Piece, int, int]  # a window: its piece, first pfn, pages


def windows(physmap: PhysMap, path: str, jobs: Sequence[Job], encoder: Encoder, workers: int) -> Iterator[PageWindow]:
    """Encoded windows of ``jobs``, in order, compressed by ``workers`` children reading ``path``."""
    children: list[tuple[int, int]] = []  # (pid, read end)
    gc.freeze()  # the parent's objects out of every collection: a child's collector would copy their pages
    try:
        for index in range(workers):
            read_end, write_end = os.pipe()
            _widen(write_end)
            pid = os.fork()
            if pid == 0:  # the child: never returns
                os.close(read_end)
                for _pid, other in children:
                    os.close(other)
                _serve(write_end, physmap, path, jobs[index::workers], encoder)
            os.close(write_end)
            children.append((pid, read_end))
        for index in range(len(jobs)):
            yield _receive(children[index % workers][1])
    finally:
        _reap(children)


def _widen(fd: int) -> None:
    try:
        import fcntl

        fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, OSError):  # not Linux, or above /proc/sys/fs/pipe-max-size: the default pipe
        pass


def _serve(fd: int, physmap: PhysMap, path: str, jobs: Sequence[Job], encoder: Encoder) -> None:
    """The child's whole life: encode ``jobs`` in order onto ``fd``, then exit without the parent's cleanup."""
    code = 0
    try:
        interrupt.for_worker()
        reader = FileReader(path)
        compress = codecs.lookup(encoder.codec_name).compress
        for piece, pfn, n in jobs:
            w = encoder.encode(physmap.read(reader, piece, pfn, n), pfn, n, compress)
            _write_all(fd, [HEADER.pack(w.pfn, w.npages, len(w.payload)), w.payload, w.kinds, w.sizes.tobytes()])
    except BrokenPipeError:  # the parent stopped reading (an error or a signal there): nothing to say
        code = 0
    except BaseException as exc:  # noqa: BLE001 - every failure goes to the parent, which decides
        code = _send_error(fd, exc)
    finally:
        os._exit(code)


def _send_error(fd: int, exc: BaseException) -> int:
    import pickle

    try:
        blob = pickle.dumps(exc)
    except Exception:  # noqa: BLE001 - an exception that does not pickle still reaches the parent
        blob = pickle.dumps(RuntimeError(f"worker failed: {exc!r}"))
    try:
        _write_all(fd, [HEADER.pack(0, ERROR, len(blob)), blob])
    except OSError:
        return 1
    return 0


def _write_all(fd: int, parts: list[bytes]) -> None:
    total = sum(map(len, parts))
    done = os.writev(fd, parts)
    if done < total:  # a blocking pipe write cut short by a signal: the rest, in order
        rest = memoryview(b"".join(parts))[done:]
        while rest:
            rest = rest[os.write(fd, rest) :]


def _receive(fd: int) -> PageWindow:
    pfn, npages, size = HEADER.unpack(_read_exactly(fd, HEADER.size))
    if npages == ERROR:
        import pickle

        raise pickle.loads(_read_exactly(fd, size))
    payload = _read_exactly(fd, size)
    tail = _read_exactly(fd, 5 * npages)
    sizes = array("I")
    sizes.frombytes(tail[npages:])
    return PageWindow(pfn, npages, tail[:npages], sizes, payload)


def _read_exactly(fd: int, size: int) -> bytes:
    data = os.read(fd, size)
    if len(data) == size:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = os.read(fd, size - got)
        if not more:
            raise RuntimeError(f"a worker process ended {size - got} bytes short of a window")
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _reap(children: list[tuple[int, int]]) -> None:
    """Close the pipes and wait for the children: a child still writing gets EPIPE and exits."""
    for pid, fd in children:
        os.close(fd)
        interrupt.stop(pid)  # exited already, or stopped early: it has nothing left to say
    for pid, _fd in children:
        os.waitpid(pid, 0)
