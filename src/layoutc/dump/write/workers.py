"""``--workers N``: windows compressed in N forked children, received by the parent in pfn order.

The parent writes the index of every window (job) to one token pipe that all children read
(:mod:`.worker`): whichever child is free takes the next one, so a child on a busier core, or with
slower windows, simply takes fewer. Each child reads its windows from its own file descriptor, encodes
them with its own codec context and reports them on its own pipe. The parent needs the windows in
order: it reads only the children that may still report the next one (those whose last report was of an
earlier job: a child's jobs only grow), stashes what comes, and encodes a window itself when no child can
report it any more, so the output equals one worker's byte for byte. Nothing else runs in the parent: no
pool, no pickling of pages. (A ``multiprocessing`` pool spent 26 % of the children's CPU in the parent's
handler threads, measured on a 4 GiB vmcore: two workers ran 1.34 times as fast as one where two free
cores allow 2. Windows dealt round-robin, child ``i % N`` for window ``i``, left a child waiting for the
other's slower windows: they slept 17-71 ms of a 200 ms dump on two cores, 8-15 ms taking them from the
token pipe, bench/dump/RESULTS.md.)

A child that fails reports its exception pickled with the job it failed on (a
:class:`.errors.SourceFault` is re-raised as such in the parent, in that window's place, which then
writes an incomplete dump as with one worker). The report pipes fill when the parent writes slower than
the children compress, which is the bound on memory: at most a pipe's worth of windows waits per child.

**Placed payloads** (``output_fd``, a regular output file): the payload does not cross the pipe. The
window comes without it, as a :class:`Placement`; the writer gives it a file offset (``place``), the
parent sends that offset down a second pipe to the child, and the child writes the payload there
itself with ``pwrite`` and reports ``WRITTEN`` (bytes written, errno). The writer commits a window's
page descriptors only after ``settle`` has seen that report, so a dump cut short by a fault or a
signal claims only pages whose data is on disk, as with one worker. This takes the payload's two pipe
copies and the parent's write off the dump: with two workers the parent was a third process on two
cores (6.1 mixed, zstd: 0.261 s with the pipe against 0.246 s without the payload copies, measured).
A child holds payloads waiting for their offsets up to :data:`.worker.HOLD_WINDOWS` windows' page bytes.
"""

from __future__ import annotations

import errno
import gc
import os
import select

from layoutc.dump import interrupt
from layoutc.dump.errors import SinkFault
from layoutc.dump.read.physmap import PhysMap
from layoutc.dump.read.vmcore_source import FileReader
from layoutc.dump.write import compression as codecs
from layoutc.dump.write import worker
from layoutc.dump.write.encode import Encoder, PageWindow, read_window
from layoutc.dump.write.worker import DONE, ERROR, HEADER, NO_JOB, OFFSET, TOKEN, WRITTEN, Job

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

PIPE_BYTES = 1 << 20  # F_SETPIPE_SZ where allowed (the default 64 KiB holds less than one window)
F_SETPIPE_SZ = 1031  # fcntl.h (Linux); fcntl.F_SETPIPE_SZ only exists from Python 3.10 on
TOKENS_A_WRITE = 4096 // TOKEN.size  # PIPE_BUF: a pipe write this small is whole or refused, never split


def windows(
    physmap: PhysMap, source: FileReader, jobs: Sequence[Job], encoder: Encoder, workers: int,
    output_fd: int | None = None,
) -> Iterator[PageWindow]:
    """Encoded windows of ``jobs``, in order, compressed by ``workers`` children reading ``source`` again
    (:meth:`.FileReader.reopened`: the same file, read the same way).

    With ``output_fd`` each window's payload is a :class:`Placement` the children write to that file."""
    children: list[_Child] = []
    here = _Here(physmap, source, encoder, output_fd)
    tokens = _Tokens(len(jobs))
    got: dict[int, PageWindow | BaseException] = {}  # reported, not yet asked for
    gc.freeze()  # the parent's objects out of every collection: a child's collector would copy their pages
    try:
        for _ in range(workers):
            children.append(_Child.start(children, here, jobs, tokens, got))
        tokens.forked()
        for index in range(len(jobs)):
            yield _collect(index, children, tokens, got, here, jobs)
    finally:
        try:
            tokens.close()  # no more jobs: a child that is still taking them ends
            for child in children:  # what the writer placed is written (or reported not) before they go
                child.settle_all()
        finally:
            _reap(children)
            here.close()


def _collect(
    index: int, children: list[_Child], tokens: _Tokens, got: dict[int, PageWindow | BaseException], here: _Here,
    jobs: Sequence[Job],
) -> PageWindow:
    """Window ``index``: reported by a child (its failure is raised here, in the window's place), or encoded here
    when no child can report it any more (the one that took it ended without it)."""
    while index not in got:
        waiting = [c for c in children if c.may_report(index)]
        if not waiting:
            return here.window(jobs[index])
        ready = tokens.wait([c.reports for c in waiting])
        for child in waiting:
            if child.reports in ready:
                child.pump()
    window = got.pop(index)
    if isinstance(window, BaseException):
        raise window
    return window


class _Tokens:
    """The parent's end of the token pipe: the job indices, in order, written as the pipe takes them."""

    def __init__(self, count: int) -> None:
        self.read_end, self.write_end = os.pipe()
        _widen(self.write_end)
        os.set_blocking(self.write_end, False)
        self.next, self.count = 0, count
        self.feed()

    def feed(self) -> None:
        """Write the next indices while the pipe takes them; after the last, close the write end, so that the
        children read the end of the file once they have taken every index."""
        while self.next < self.count and self.write_end >= 0:
            n = min(self.count - self.next, TOKENS_A_WRITE)
            try:
                os.write(self.write_end, b"".join(map(TOKEN.pack, range(self.next, self.next + n))))
            except BlockingIOError:
                return
            except BrokenPipeError:  # no child reads any more: the rest are encoded here
                break
            self.next += n
        if self.write_end >= 0:  # every index written (or nobody reads): end of file once the children drain it
            os.close(self.write_end)
            self.write_end = -1

    def wait(self, fds: list[int]) -> set[int]:
        """Which of ``fds`` can be read, feeding the token pipe meanwhile (a child may be waiting for a job)."""
        while True:
            poller = select.poll()
            for fd in fds:
                poller.register(fd, select.POLLIN)
            if self.write_end >= 0:
                poller.register(self.write_end, select.POLLOUT)
            ready = {fd for fd, _ in poller.poll()}
            if self.write_end >= 0 and self.write_end in ready:
                ready.discard(self.write_end)
                self.feed()
            if ready:
                return ready

    def forked(self) -> None:
        """The children hold the read end; the parent's copy goes (the pipe breaks when they all end)."""
        os.close(self.read_end)
        self.read_end = -1

    def close(self) -> None:
        for fd in (self.write_end, self.read_end):
            if fd >= 0:
                os.close(fd)
        self.write_end = self.read_end = -1


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
        codec = codecs.lookup(self.encoder.codec_name)
        return read_window(self.physmap, self.reader, piece, pfn, n, self.encoder, codec)

    def window(self, job: Job) -> PageWindow:
        """``job`` encoded here; placing, its payload written here at the offset the writer gives it."""
        w = self.encode(job)
        if self.out is None or not w.payload:
            return w
        return PageWindow(w.pfn, w.npages, w.kinds, w.sizes, b"", _WrittenHere(self, w.payload))

    def write(self, payload: bytes, offset: int) -> tuple[int, int]:
        """``(bytes written, errno)`` of ``payload`` written at ``offset`` of the output."""
        assert self.out is not None
        return worker.pwrite_all(self.out, payload, offset)

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

    __slots__ = ("pid", "reports", "offsets", "here", "jobs", "tokens", "got", "last", "done", "unsettled", "ended")

    def __init__(
        self, pid: int, reports: int, offsets: int, here: _Here, jobs: Sequence[Job], tokens: _Tokens,
        got: dict[int, PageWindow | BaseException],
    ) -> None:
        self.pid, self.reports, self.offsets, self.here, self.jobs = pid, reports, offsets, here, jobs
        self.tokens, self.got = tokens, got
        self.last = -1  # the job of the child's last report
        self.done = False  # reported DONE (or an error): no more windows come from it
        self.unsettled: list[Placement] = []  # placed, not reported written, in the order placed
        self.ended = False

    @classmethod
    def start(
        cls, others: list[_Child], here: _Here, jobs: Sequence[Job], tokens: _Tokens,
        got: dict[int, PageWindow | BaseException],
    ) -> _Child:
        out = here.out
        reports, report_end = os.pipe()
        _widen(report_end)
        offsets_end, offsets = os.pipe() if out is not None else (-1, -1)
        pid = os.fork()
        if pid == 0:  # the child: never returns
            for fd in (reports, offsets, tokens.write_end, *(f for c in others for f in (c.reports, c.offsets))):
                if fd >= 0:
                    os.close(fd)
            worker.serve(report_end, offsets_end, tokens.read_end, here.physmap, here.source, jobs, here.encoder, out)
        os.close(report_end)
        if offsets_end >= 0:
            os.close(offsets_end)
        return cls(pid, reports, offsets, here, jobs, tokens, got)

    def may_report(self, index: int) -> bool:
        """Whether window ``index`` may still come from this child (it takes jobs in ascending order)."""
        return not (self.ended or self.done) and self.last < index

    def pump(self) -> bool:
        """Read one report: a window or a failure goes to the parent's stash, WRITTEN settles the oldest
        placement. False at the end."""
        if self.ended:
            return False
        try:
            if self.tokens.write_end >= 0:
                self.tokens.wait([self.reports])
            head = _read_head(self.reports)
            if not head:
                raise _Ended
            first, npages, size = HEADER.unpack(head)
            if npages == WRITTEN:
                placed = self.unsettled.pop(0)
                placed.done, placed.errno = first, size
            elif npages == DONE:
                self.done = True
            elif npages == ERROR:
                import pickle

                failure = pickle.loads(_read_exactly(self.reports, size))
                self.done = True
                if first != NO_JOB:
                    self.last, self.got[first] = first, failure
            else:
                self.last, self.got[first] = first, self._window(first, npages, size)
        except _Ended:  # a report cut short is dropped: its window is encoded here
            self.ended = True
            return False
        return True

    def _window(self, index: int, npages: int, size: int) -> PageWindow:
        placing = self.offsets >= 0
        payload = b"" if placing else _read_exactly(self.reports, size)
        tail = _read_exactly(self.reports, 5 * npages)
        sizes = memoryview(tail[npages:]).cast("I")
        job = self.jobs[index]
        placed = Placement(self, job, size) if placing and size else None
        return PageWindow(job[1], npages, tail[:npages], sizes, payload, placed)

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


class _Ended(Exception):
    """A worker's report pipe ended (the worker exited or was killed), possibly inside a report."""


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
