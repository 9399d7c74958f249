"""One ``--workers`` child: take windows from the shared token pipe, encode them, report them to the parent.

The parent's side (the token pipe, the reports read in window order, the placements) is :mod:`.workers`.
A child takes the next job index from the token pipe whenever it is free, so the windows go where the
time is (a child on a core the parent or another process shares, or with slower windows, simply takes
fewer) and its job indices only grow. Each window is reported on the child's own pipe:

* a window: ``HEADER(job, npages, payload bytes)``, the payload unless placing, the kinds (a byte a page)
  and the sizes (``uint32`` a page);
* ``HEADER(bytes written, WRITTEN, errno)``: a placed payload written at the offset the parent sent;
* ``HEADER(job, ERROR, pickle bytes)`` and the exception pickled: the child failed on that job and ends;
* ``HEADER(0, DONE, 0)``: the token pipe is empty and closed; only placed payloads are written from now on.

Placing (``out``, a regular output file), the child holds payloads whose offsets it has not received yet
up to ``HOLD_WINDOWS`` windows' page bytes in all (always the latest, whatever its size); before it reports
an error it writes every payload whose offset comes, so the parent keeps what one worker keeps.
"""

from __future__ import annotations

import errno
import os
import struct

from layoutc.dump import interrupt
from layoutc.dump.read.physmap import PhysMap, Piece
from layoutc.dump.read.vmcore_source import FileReader
from layoutc.dump.write import compression as codecs
from layoutc.dump.write.encode import Encoder, read_window

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

Job = tuple[Piece, int, int]  # a window: its piece, first pfn, pages

HEADER = struct.Struct("<QII")  # see the module's docstring
ERROR = 0xFFFFFFFF
WRITTEN = 0xFFFFFFFE
DONE = 0xFFFFFFFD
NO_JOB = (1 << 64) - 1  # an error before the child took a job
OFFSET = struct.Struct("<q")  # parent to child: where the child's next held payload goes
TOKEN = struct.Struct("<I")  # parent to children: the index of a job to take
HOLD_WINDOWS = 1
"""The payload bytes a placing child may hold before it waits for their offsets, in windows' page bytes (the
pages of the largest window, ``encode.WINDOW_PAGES``, at the dump's page size): with the window being encoded,
two windows' bytes in flight, as the sizing model counts a worker (``layoutc.kernel.sizing.DUMPER_WORKER``).
Bound to one window whatever its size, a child waited for the other's slower windows (bench/dump/RESULTS.md)."""


def serve(
    fd: int, offsets: int, tokens: int, physmap: PhysMap, source: FileReader, jobs: Sequence[Job], encoder: Encoder,
    out: int | None,
) -> None:
    """The child's whole life: encode the jobs whose indices it takes from ``tokens`` onto ``fd`` (placing:
    their payloads onto ``out`` at the offsets read from ``offsets``), then exit without the parent's cleanup."""
    code = 0
    budget = HOLD_WINDOWS * max((n for _, _, n in jobs), default=0) * encoder.page_size  # a window's page bytes
    held = Held(fd, offsets, out, budget) if out is not None else None
    job = NO_JOB
    try:
        interrupt.for_worker()
        reader: FileReader | None = None
        codec: codecs.Codec | None = None
        while (token := os.read(tokens, TOKEN.size)) != b"":
            (job,) = TOKEN.unpack(token)
            if reader is None or codec is None:  # after the first token: a failure here belongs to a job
                reader = source.reopened()
                codec = codecs.lookup(encoder.codec_name)
            piece, pfn, n = jobs[job]
            w = read_window(physmap, reader, piece, pfn, n, encoder, codec)
            if held is None:
                write_all(fd, [HEADER.pack(job, w.npages, len(w.payload)), w.payload, w.kinds, w.sizes.tobytes()])
                continue
            write_all(fd, [HEADER.pack(job, w.npages, len(w.payload)), w.kinds, w.sizes.tobytes()])
            held.hold(w.payload)
        job = NO_JOB
        write_all(fd, [HEADER.pack(0, DONE, 0)])
        if held is not None:
            held.write(len(held.payloads))
    except (BrokenPipeError, Stopped):  # the parent stopped (an error or a signal there), or a write
        code = 0  # failed and was reported: nothing more to say
    except BaseException as exc:  # noqa: BLE001 - every failure goes to the parent, which decides
        code = _fail(fd, held, job, exc)
    finally:
        os._exit(code)


def _fail(fd: int, held: Held | None, job: int, exc: BaseException) -> int:
    """Write what is held (the parent places every window before ``job``), then report the failure."""
    if held is not None:
        try:
            held.write(len(held.payloads))
        except (OSError, Stopped):
            return 0  # the parent is gone, or a write failed and was reported
    return _send_error(fd, job, exc)


class Stopped(Exception):
    """The parent closed the offsets pipe, or a payload could not be written (and that was reported)."""


class Held:
    """A placing child's encoded payloads, oldest first, each waiting for its offset."""

    def __init__(self, reports: int, offsets: int, out: int, budget: int) -> None:
        self.reports, self.offsets, self.out, self.budget = reports, offsets, out, budget
        self.payloads: list[bytes] = []
        self.held = 0  # bytes of the payloads
        self.carry = b""  # part of an offset (a pipe read may end inside one)
        os.set_blocking(offsets, False)

    def hold(self, payload: bytes) -> None:
        if payload:
            self.payloads.append(payload)
            self.held += len(payload)
        self.write(self.over())

    def over(self) -> int:
        """How many of the oldest payloads must be written before the next window is encoded: until the rest
        fit the budget, or only the latest is left."""
        n, held = 0, self.held
        while held > self.budget and len(self.payloads) - n > 1:
            held -= len(self.payloads[n])
            n += 1
        return n

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
                raise Stopped
            got = self.carry + got
            whole = len(got) - len(got) % OFFSET.size
            self.carry = got[whole:]
            for (offset,) in OFFSET.iter_unpack(got[:whole]):
                self._put(self.payloads.pop(0), offset)
                at_least -= 1

    def _put(self, payload: bytes, offset: int) -> None:
        self.held -= len(payload)
        done, err = pwrite_all(self.out, payload, offset)
        write_all(self.reports, [HEADER.pack(done, WRITTEN, err)])
        if done < len(payload):
            raise Stopped


def pwrite_all(fd: int, data: bytes, offset: int) -> tuple[int, int]:
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


def _send_error(fd: int, job: int, exc: BaseException) -> int:
    import pickle

    try:
        blob = pickle.dumps(exc)
    except Exception:  # noqa: BLE001 - an exception that does not pickle still reaches the parent
        blob = pickle.dumps(RuntimeError(f"worker failed: {exc!r}"))
    try:
        write_all(fd, [HEADER.pack(job, ERROR, len(blob)), blob])
    except OSError:
        return 1
    return 0


def write_all(fd: int, parts: list[bytes]) -> None:
    total = sum(map(len, parts))
    done = os.writev(fd, parts)
    if done < total:  # a blocking pipe write cut short by a signal: the rest, in order
        rest = memoryview(b"".join(parts))[done:]
        while rest:
            rest = rest[os.write(fd, rest) :]
