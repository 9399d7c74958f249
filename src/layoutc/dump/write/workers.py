"""``--workers N``: windows compressed in N forked children, received by the parent in pfn order.

Window ``i`` goes to child ``i % N``; each child reads its windows from its own file descriptor, encodes
them with its own codec context and reports them, in order, on its own pipe; the parent reads the pipes
in turn, so windows come back in the order they were cut and the output equals one worker's byte for
byte. Nothing else runs in the parent: no pool, no task queue, no pickling of pages. (A
``multiprocessing`` pool spent 26 % of the children's CPU in the parent's handler threads, measured on
a 4 GiB vmcore: two workers ran 1.34 times as fast as one where two free cores allow 2.)

A window on the pipe: a header ``(pfn, npages, payload bytes)``, the payload, the kinds (one byte a
page) and the sizes (``uint32`` a page). A child that fails sends ``npages = ERROR`` and its
exception pickled (a :class:`.errors.SourceFault` is re-raised as such in the parent, which then writes
an incomplete dump as with one worker). The pipes fill when the parent writes slower than the
children compress, which is the bound on memory: at most a pipe's worth of windows waits per child.

**Placed payloads** (``output_fd``, a regular output file): the payload does not cross the pipe. The
window comes without it, as a :class:`Placement`; the writer gives it a file offset (``place``), the
parent sends that offset down a second pipe to the child, and the child writes the payload there
itself with ``pwrite`` and reports ``WRITTEN`` (bytes written, errno). The writer commits a window's
page descriptors only after ``settle`` has seen that report, so a dump cut short by a fault or a
signal claims only pages whose data is on disk, as with one worker. This takes the payload's two pipe
copies and the parent's write off the dump: with two workers the parent was a third process on two
cores (6.1 mixed, zstd: 0.261 s with the pipe against 0.246 s without the payload copies, measured).
A child holds at most ``AHEAD`` encoded windows whose offsets it has not received yet; before it
reports an error it writes every window whose offset comes, so the parent keeps what one worker keeps.
"""

from __future__ import annotations

import errno
import gc
import os
import struct

from layoutc.dump import interrupt
from layoutc.dump.errors import SinkFault
from layoutc.dump.read.physmap import PhysMap, Piece
from layoutc.dump.read.vmcore_source import FileReader
from layoutc.dump.write import compression as codecs
from layoutc.dump.write.encode import Encoder, PageWindow

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

HEADER = struct.Struct("<QII")  # pfn, npages, payload bytes | written bytes, WRITTEN, errno | 0, ERROR, pickle bytes
ERROR = 0xFFFFFFFF
WRITTEN = 0xFFFFFFFE
OFFSET = struct.Struct("<q")  # parent to child: where the child's next held payload goes
AHEAD = 1
"""Encoded windows a placing child may hold before it waits for their offsets: with the one being encoded,
two windows in flight, as the sizing model counts a worker (``layoutc.kernel.sizing.DUMPER_WORKER``); 2, 4
or 8 measured no faster."""
PIPE_BYTES = 1 << 20  # F_SETPIPE_SZ where allowed (the default 64 KiB holds less than one window)
F_SETPIPE_SZ = 1031  # fcntl.h (Linux); fcntl.F_SETPIPE_SZ only exists from Python 3.10 on

Job = tuple[Piece, int, int]  # a window: its piece, first pfn, pages


def windows(
    physmap: PhysMap, source: FileReader, jobs: Sequence[Job], encoder: Encoder, workers: int,
    output_fd: int | None = None,
) -> Iterator[PageWindow]:
    """Encoded windows of ``jobs``, in order, compressed by ``workers`` children reading ``source`` again
    (:meth:`.FileReader.reopened`: the same file, read the same way).

    With ``output_fd`` each window's payload is a :class:`Placement` the children write to that file."""
    children: list[_Child] = []
    here = _Here(physmap, source, encoder, output_fd)
    gc.freeze()  # the parent's objects out of every collection: a child's collector would copy their pages
    try:
        for index in range(workers):
            children.append(_Child.start(children, here, jobs[index::workers]))
        for index in range(len(jobs)):
            yield children[index % workers].receive()
    finally:
        try:
            for child in children:  # what the writer placed is written (or reported not) before they go
                child.settle_all()
        finally:
            _reap(children)
            here.close()


class _Here:
    """The parent's own encoder and writes: the windows of a worker that ended without sending or writing
    them are encoded here (the codecs are deterministic: the same payload), so a worker killed (say, by the
    crash kernel's out-of-memory killer) makes a slower dump, never a different one."""

    def __init__(self, physmap: PhysMap, source: FileReader, encoder: Encoder, out: int | None) -> None:
        self.physmap, self.source, self.encoder, self.out = physmap, source, encoder, out
        self.reader: FileReader | None = None

    def encode(self, job: Job) -> PageWindow:
        if self.reader is None:
            self.reader = self.source.reopened()
        piece, pfn, n = job
        compress = codecs.lookup(self.encoder.codec_name).compress
        return self.encoder.encode(self.physmap.read(self.reader, piece, pfn, n), pfn, n, compress)

    def window(self, job: Job) -> PageWindow:
        """``job`` encoded here; placing, its payload written here at the offset the writer gives it."""
        w = self.encode(job)
        if self.out is None or not w.payload:
            return w
        return PageWindow(w.pfn, w.npages, w.kinds, w.sizes, b"", _WrittenHere(self, w.payload))

    def write(self, payload: bytes, offset: int) -> tuple[int, int]:
        """``(bytes written, errno)`` of ``payload`` written at ``offset`` of the output."""
        assert self.out is not None
        return _pwrite_all(self.out, payload, offset)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None


class _WrittenHere:
    """A payload the parent encoded itself, written when the writer places it."""

    __slots__ = ("here", "payload", "size", "offset", "done", "errno")

    def __init__(self, here: _Here, payload: bytes) -> None:
        self.here, self.payload, self.size = here, payload, len(payload)
        self.offset, self.done, self.errno = -1, -1, 0

    def place(self, offset: int) -> None:
        self.offset = offset
        self.done, self.errno = self.here.write(self.payload, offset)

    def settle(self) -> None:
        _check(self.offset, self.size, self.done, self.errno)


def _check(offset: int, size: int, done: int, err: int) -> None:
    if err or done < size:
        raise SinkFault(offset + done, os.strerror(err) if err else "write returned 0")


class Placement:
    """A window's payload that its worker writes to the output at the offset the writer gives it."""

    __slots__ = ("child", "job", "size", "offset", "done", "errno")

    def __init__(self, child: _Child, job: Job, size: int) -> None:
        self.child = child
        self.job = job
        self.size = size
        self.offset = -1
        self.done = -1  # bytes written, once the child has said so
        self.errno = 0

    def place(self, offset: int) -> None:
        """Have the worker write the payload at ``offset`` (it does so when it next looks at its offsets)."""
        self.offset = offset
        self.child.unsettled.append(self)
        try:
            os.write(self.child.offsets, OFFSET.pack(offset))
        except OSError:  # the child is gone (EPIPE): settle() reports the payload as not written
            pass

    def settle(self) -> None:
        """Return once the payload is written; :class:`.errors.SinkFault` where it is not, whole."""
        while self.done < 0 and self.child.pump():
            pass
        if self.done < 0:  # the child ended holding it: encoded again here and written at its offset
            again = self.child.here.encode(self.job).payload
            same = len(again) == self.size
            self.done, self.errno = self.child.here.write(again, self.offset) if same else (0, errno.EIO)
        _check(self.offset, self.size, self.done, self.errno)


class _Child:
    """The parent's end of one worker: its pid, its report pipe and (placing) its offsets pipe."""

    __slots__ = ("pid", "reports", "offsets", "here", "jobs", "reported", "ahead", "unsettled", "ended")

    def __init__(self, pid: int, reports: int, offsets: int, here: _Here, jobs: Sequence[Job]) -> None:
        self.pid, self.reports, self.offsets, self.here, self.jobs = pid, reports, offsets, here, jobs
        self.reported = 0  # windows the child has reported (or the parent encoded in its place)
        self.ahead: list[PageWindow | BaseException] = []  # read while settling, not asked for yet
        self.unsettled: list[Placement] = []  # placed, not reported written, in the order placed
        self.ended = False

    @classmethod
    def start(cls, others: list[_Child], here: _Here, jobs: Sequence[Job]) -> _Child:
        out = here.out
        reports, report_end = os.pipe()
        _widen(report_end)
        offsets_end, offsets = os.pipe() if out is not None else (-1, -1)
        pid = os.fork()
        if pid == 0:  # the child: never returns
            for fd in (reports, offsets, *(f for c in others for f in (c.reports, c.offsets))):
                if fd >= 0:
                    os.close(fd)
            _serve(report_end, offsets_end, here.physmap, here.source, jobs, here.encoder, out)
        os.close(report_end)
        if offsets_end >= 0:
            os.close(offsets_end)
        return cls(pid, reports, offsets, here, jobs)

    def receive(self) -> PageWindow:
        """The child's next window (its failure is raised here, in the window's place); encoded here when
        the child has ended without it."""
        while not self.ahead:
            if not self.pump():
                self.reported += 1
                return self.here.window(self.jobs[self.reported - 1])
        got = self.ahead.pop(0)
        if isinstance(got, BaseException):
            raise got
        return got

    def pump(self) -> bool:
        """Read one report: a window goes to ``ahead``, WRITTEN settles the oldest placement. False at the end."""
        if self.ended:
            return False
        try:
            head = _read_head(self.reports)
            if not head:
                raise _Ended
            first, npages, size = HEADER.unpack(head)
            if npages == WRITTEN:
                placed = self.unsettled.pop(0)
                placed.done, placed.errno = first, size
            elif npages == ERROR:
                import pickle

                self.ahead.append(pickle.loads(_read_exactly(self.reports, size)))
            else:
                self.ahead.append(self._window(first, npages, size))
        except _Ended:  # a report cut short is dropped: its window is encoded here
            self.ended = True
            return False
        return True

    def _window(self, pfn: int, npages: int, size: int) -> PageWindow:
        placing = self.offsets >= 0
        payload = b"" if placing else _read_exactly(self.reports, size)
        tail = _read_exactly(self.reports, 5 * npages)
        sizes = memoryview(tail[npages:]).cast("I")
        job = self.jobs[self.reported]
        self.reported += 1
        placed = Placement(self, job, size) if placing and size else None
        return PageWindow(pfn, npages, tail[:npages], sizes, payload, placed)

    def settle_all(self) -> None:
        """Every placed payload written, by the child or (it ended) here; failures stay for the writer's settle."""
        for placed in list(self.unsettled):
            try:
                placed.settle()
            except SinkFault:
                pass


def _widen(fd: int) -> None:
    try:
        import fcntl

        fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, OSError):  # not Linux, or above /proc/sys/fs/pipe-max-size: the default pipe
        pass


def _serve(
    fd: int, offsets: int, physmap: PhysMap, source: FileReader, jobs: Sequence[Job], encoder: Encoder,
    out: int | None,
) -> None:
    """The child's whole life: encode ``jobs`` in order onto ``fd`` (placing: their payloads onto ``out`` at
    the offsets read from ``offsets``), then exit without the parent's cleanup."""
    code = 0
    held = _Held(fd, offsets, out) if out is not None else None
    try:
        interrupt.for_worker()
        reader = source.reopened()
        compress = codecs.lookup(encoder.codec_name).compress
        for piece, pfn, n in jobs:
            w = encoder.encode(physmap.read(reader, piece, pfn, n), pfn, n, compress)
            if held is None:
                _write_all(fd, [HEADER.pack(w.pfn, w.npages, len(w.payload)), w.payload, w.kinds, w.sizes.tobytes()])
                continue
            _write_all(fd, [HEADER.pack(w.pfn, w.npages, len(w.payload)), w.kinds, w.sizes.tobytes()])
            held.hold(w.payload)
        if held is not None:
            held.write(len(held.payloads))
    except (BrokenPipeError, _Stopped):  # the parent stopped (an error or a signal there), or a write
        code = 0  # failed and was reported: nothing more to say
    except BaseException as exc:  # noqa: BLE001 - every failure goes to the parent, which decides
        code = _fail(fd, held, exc)
    finally:
        os._exit(code)


def _fail(fd: int, held: _Held | None, exc: BaseException) -> int:
    """Write what is held (the parent places every window reported before the failure), then report it."""
    if held is not None:
        try:
            held.write(len(held.payloads))
        except (OSError, _Stopped):
            return 0  # the parent is gone, or a write failed and was reported
    return _send_error(fd, exc)


class _Ended(Exception):
    """A worker's report pipe ended (the worker exited or was killed), possibly inside a report."""


class _Stopped(Exception):
    """The parent closed the offsets pipe, or a payload could not be written (and that was reported)."""


class _Held:
    """A placing child's encoded payloads, oldest first, each waiting for its offset."""

    def __init__(self, reports: int, offsets: int, out: int) -> None:
        self.reports, self.offsets, self.out = reports, offsets, out
        self.payloads: list[bytes] = []
        self.carry = b""  # part of an offset (a pipe read may end inside one)
        os.set_blocking(offsets, False)

    def hold(self, payload: bytes) -> None:
        if payload:
            self.payloads.append(payload)
        self.write(max(0, len(self.payloads) - AHEAD))

    def write(self, at_least: int) -> None:
        """Write the payloads whose offsets have come, waiting until ``at_least`` are written."""
        while self.payloads:
            try:
                got = os.read(self.offsets, OFFSET.size * len(self.payloads))
            except BlockingIOError:
                if at_least <= 0:
                    return
                os.set_blocking(self.offsets, True)
                got = os.read(self.offsets, OFFSET.size * len(self.payloads))
                os.set_blocking(self.offsets, False)
            if not got:
                raise _Stopped
            got = self.carry + got
            whole = len(got) - len(got) % OFFSET.size
            self.carry = got[whole:]
            for (offset,) in OFFSET.iter_unpack(got[:whole]):
                self._put(self.payloads.pop(0), offset)
                at_least -= 1

    def _put(self, payload: bytes, offset: int) -> None:
        done, err = _pwrite_all(self.out, payload, offset)
        _write_all(self.reports, [HEADER.pack(done, WRITTEN, err)])
        if done < len(payload):
            raise _Stopped


def _pwrite_all(fd: int, data: bytes, offset: int) -> tuple[int, int]:
    """Write ``data`` at ``offset`` of ``fd``: ``(bytes written, errno)``, errno 0 unless a write failed."""
    view, done = memoryview(data), 0
    while done < len(view):
        try:
            n = os.pwrite(fd, view[done:], offset + done)
        except OSError as exc:
            return done, exc.errno or errno.EIO
        if n == 0:
            break
        done += n
    return done, 0


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


def _read_head(fd: int) -> bytes:
    """A report's header, or b"" where the child has ended (closed its pipe) before it."""
    data = os.read(fd, HEADER.size)
    return data if len(data) in (0, HEADER.size) else data + _read_exactly(fd, HEADER.size - len(data))


def _read_exactly(fd: int, size: int) -> bytes:
    data = os.read(fd, size)
    if len(data) == size:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = os.read(fd, size - got)
        if not more:
            raise _Ended
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _reap(children: list[_Child]) -> None:
    """Close the pipes and wait for the children: a child still writing gets EPIPE and exits."""
    for child in children:
        child.ended = True  # a placement not settled by now settles as not written
        os.close(child.reports)
        if child.offsets >= 0:
            os.close(child.offsets)
        interrupt.stop(child.pid)  # exited already, or stopped early: it has nothing left to say
    for child in children:
        os.waitpid(child.pid, 0)
