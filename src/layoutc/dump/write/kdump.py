"""kdump-compressed output, header version 6, with makedumpfile's conventions (docs/reference/dump-formats.md §3.2).

One pass: the header, sub-header with the notes, both bitmaps and a zeroed page_desc table are
written first; page data is streamed after the table and each batch's descriptors are written
into their reserved slots once the batch's data is written.  A fault cuts bitmap 2 at the first
page whose data is not safely written and marks the header INCOMPLETE, so every page the
bitmap still claims is readable.
"""

from __future__ import annotations

import bisect
import itertools
import struct
import sys
import time

from layoutc.dump import extents
from layoutc.dump.errors import SinkFault
from layoutc.dump.extents import Extent
from layoutc.dump.interrupt import critical
from layoutc.dump.read.elf_input import Vmcore
from layoutc.dump.record import Frozen, init
from layoutc.dump.write.compression import DUMP_DH_COMPRESSED_INCOMPLETE
from layoutc.dump.write.encode import PACKED, ZERO, PageWindow

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from layoutc.dump.write.encode import Placed
    from layoutc.dump.write.sink import Sink

DISK_DUMP_HEADER = struct.Struct("<8si65s65s65s65s65s65s6xqqIiiIIIIIIi")  # 464 bytes
KDUMP_SUB_HEADER = struct.Struct("<QiiQQqQqQqQQQQ")  # 104 bytes
PAGE_DESC = struct.Struct("<qIIQ")  # offset, size, flags, page_flags: 24 bytes
KDUMP_SIGNATURE = b"KDUMP   "
HEADER_VERSION = 6
UNKNOWN = b"unknown"
FLUSH_BYTES = 1 << 20
PLACED_FLUSH_BYTES = 8 << 20
"""Placed payloads (worker processes write them) are waited for less often: each wait stops the parent until
the newest window's worker has written it, and with two workers settling every 1 MiB cost 2-3 % of the wall
time against every 8 MiB (6.1 mixed, zstd: 1.69x against 1.74x the speed of one worker, measured)."""
_ZERO = bytes((ZERO,))
ZEROS_CHUNK = 1 << 20


class KdumpLayout(Frozen):
    """File offsets of a kdump-compressed file, all derived from the block size and counts."""

    __slots__ = ("block_size", "max_mapnr", "size_note", "num_dumpable", "zero_page")
    block_size: int
    max_mapnr: int
    size_note: int
    num_dumpable: int
    zero_page: bool

    def __init__(self, block_size: int, max_mapnr: int, size_note: int, num_dumpable: int, zero_page: bool) -> None:
        init(
            self,
            block_size=block_size,
            max_mapnr=max_mapnr,
            size_note=size_note,
            num_dumpable=num_dumpable,
            zero_page=zero_page,
        )

    @property
    def sub_hdr_size(self) -> int:
        """Sub-header plus notes, in blocks."""
        return -(-(KDUMP_SUB_HEADER.size + self.size_note) // self.block_size)

    @property
    def bitmap_len(self) -> int:
        """Bytes of one bitmap, whole blocks."""
        nbytes = -(-self.max_mapnr // 8)
        return -(-nbytes // self.block_size) * self.block_size

    @property
    def bitmap_blocks(self) -> int:
        """Both bitmaps, in blocks."""
        return 2 * self.bitmap_len // self.block_size

    @property
    def bitmap1_offset(self) -> int:
        """Offset of bitmap 1 (pfn present)."""
        return (1 + self.sub_hdr_size) * self.block_size

    @property
    def desc_offset(self) -> int:
        """Offset of the page_desc table."""
        return (1 + self.sub_hdr_size + self.bitmap_blocks) * self.block_size

    @property
    def data_offset(self) -> int:
        """Offset of the first page data (the shared zero page when dump level bit 1 is set)."""
        return self.desc_offset + PAGE_DESC.size * self.num_dumpable

    @property
    def fixed_bytes(self) -> int:
        """Bytes that do not depend on the page contents: everything up to the first page."""
        return self.data_offset + (self.block_size if self.zero_page else 0)


def utsname(vmcore: Vmcore) -> tuple[bytes, ...]:
    """new_utsname fields from VMCOREINFO, when init_uts_ns cannot be read from memory (:mod:`.uts`).

    libkdumpfile takes the architecture from utsname.machine only when sysname, nodename, release,
    version and machine are all non-empty (``uts_looks_sane``), so unknown fields say "unknown".
    """
    release = vmcore.vmcoreinfo.get("OSRELEASE", "").encode()[:64] or UNKNOWN
    return (b"Linux", UNKNOWN, release, UNKNOWN, vmcore.machine.encode(), b"")


class KdumpWriter:
    """Writes one kdump-compressed file for a fixed set of kept pages."""

    def __init__(
        self,
        sink: Sink,
        vmcore: Vmcore,
        *,
        present: list[Extent],
        keep: list[Extent],
        max_mapnr: int,
        dump_level: int,
        codec_flag: int,
        phys_base: int = 0,
        uts: tuple[bytes, ...] | None = None,
    ) -> None:
        self.sink = sink
        self.vmcore = vmcore
        self.present = present
        self.keep = keep
        self.dump_level = dump_level
        self.codec_flag = codec_flag
        self.phys_base = phys_base
        self.uts = uts or utsname(vmcore)
        self.layout = KdumpLayout(
            vmcore.page_size, max_mapnr, len(vmcore.notes_blob), extents.count(keep), bool(dump_level & 1)
        )
        self._starts = [s for s, _ in keep]
        self._data_pos = self.layout.data_offset
        self._data: list[bytes] = []  # window payloads since the last flush
        self._placed: list[Placed] = []  # payloads worker processes write, since the last flush
        self._data_len = 0
        self._descs = bytearray()
        self._first_rank = 0  # rank of the first desc in self._descs
        self._rank = 0
        self._batch: list[tuple[int, int]] = []  # windows (pfn, npages) buffered since the last flush
        self.pending_pfn = 0  # every kept pfn below this is buffered or written
        self.committed_pfn = 0  # every kept pfn below this has its data and desc written
        self.written = 0
        self.zero_pages = 0  # pages booked as zero (dump level bit 1): makedumpfile's "Pages filled with zero"

    @property
    def zero_desc(self) -> bytes:
        """The page_desc every zero page shares."""
        return PAGE_DESC.pack(self.layout.data_offset, self.layout.block_size, 0, 0)

    def header(self, status_extra: int = 0) -> bytes:
        """Block 0: disk_dump_header, zero-padded."""
        lay = self.layout
        crashtime = self.vmcore.vmcoreinfo.get("CRASHTIME", "")
        tv_sec = int(crashtime) if crashtime.isdigit() else int(time.time())
        head = DISK_DUMP_HEADER.pack(
            KDUMP_SIGNATURE,
            HEADER_VERSION,
            *self.uts,
            tv_sec,
            0,  # tv_usec must stay 0: libkdumpfile tries the 32-bit layout first (§3.2)
            self.codec_flag | status_extra,
            lay.block_size,
            lay.sub_hdr_size,
            lay.bitmap_blocks,
            min(lay.max_mapnr, 0xFFFFFFFF),
            0,
            0,
            0,
            0,
            self.vmcore.nr_cpus,
        )
        return head + bytes(lay.block_size - len(head))

    def sub_header(self) -> bytes:
        """kdump_sub_header followed by the notes, padded to whole blocks."""
        lay = self.layout
        note_off = lay.block_size + KDUMP_SUB_HEADER.size
        info = self.vmcore.vmcoreinfo_note
        info_off, info_size = (note_off + info.desc_offset, len(info.desc)) if info else (0, 0)
        sub = KDUMP_SUB_HEADER.pack(
            self.phys_base & 0xFFFFFFFFFFFFFFFF,  # unsigned long; VMCOREINFO prints it signed (%ld)
            self.dump_level,
            0,
            0,
            0,
            info_off,
            info_size,
            note_off if lay.size_note else 0,
            lay.size_note,
            0,  # offset_eraseinfo
            0,  # size_eraseinfo
            0,  # start_pfn_64: only for --split
            0,  # end_pfn_64: only for --split
            lay.max_mapnr,
        )
        body = sub + self.vmcore.notes_blob
        return body + bytes(lay.sub_hdr_size * lay.block_size - len(body))

    def write_metadata(self) -> None:
        """Header, sub-header, bitmaps, the reserved desc table and the shared zero page."""
        lay = self.layout
        self.sink.write_at(0, self.header())
        self.sink.write_at(lay.block_size, self.sub_header())
        self._write_bitmap(lay.bitmap1_offset, self.present)
        self._write_bitmap(lay.bitmap1_offset + lay.bitmap_len, self.keep)
        end = lay.fixed_bytes
        for pos in range(lay.desc_offset, end, ZEROS_CHUNK):
            self.sink.write_at(pos, bytes(min(ZEROS_CHUNK, end - pos)))
        self._data_pos = end
        self.written = end

    def _write_bitmap(self, offset: int, pages: list[Extent]) -> None:
        step = 1 << 20
        for first in range(0, self.layout.bitmap_len, step):
            n = min(step, self.layout.bitmap_len - first)
            lo = bisect.bisect_right([e for _, e in pages], first * 8)
            self.sink.write_at(offset + first, extents.bitmap_bytes(pages[lo:], first, n))

    def add(self, windows: Iterable[PageWindow]) -> None:
        """Append the pages of each window; windows come in pfn order and cover exactly ``keep``."""
        flag_of_kind = bytes(self.codec_flag if k == PACKED else 0 for k in range(256))
        for w in windows:
            with critical():  # a signal waits until the window is booked (and flushed)
                self._append(w, flag_of_kind)

    def _append(self, w: PageWindow, flag_of_kind: bytes) -> None:
        pos = self._data_pos + self._data_len
        placed = w.placed
        if placed is not None:  # a worker process writes the payload: at pos, within the budget
            try:
                self.sink.reserve(pos, placed.size)
            except SinkFault:
                self.flush()  # what the workers wrote before it stays committed
                raise
            placed.place(pos)
            self._placed.append(placed)
            self._data_len += placed.size
        self._descs += self._window_descs(w, pos, flag_of_kind)
        self.zero_pages += w.kinds.count(ZERO)
        if w.payload:
            self._data.append(w.payload)
            self._data_len += len(w.payload)
        self._rank += w.npages
        self._batch.append((w.pfn, w.npages))
        self.pending_pfn = w.pfn + w.npages
        if self._data_len >= (PLACED_FLUSH_BYTES if self._placed else FLUSH_BYTES):
            self.flush()

    def _window_descs(self, w: PageWindow, pos: int, flag_of_kind: bytes) -> bytearray:
        """The page_descs of a window whose data starts at ``pos``: built column by column."""
        n = w.npages
        descs = bytearray(PAGE_DESC.size * n)
        if sys.byteorder != "little" or w.sizes.itemsize != 4:  # the columns are little-endian
            for i, (kind, size) in enumerate(zip(w.kinds, w.sizes, strict=True)):
                if kind != ZERO:
                    PAGE_DESC.pack_into(descs, i * PAGE_DESC.size, pos, size, flag_of_kind[kind], 0)
                    pos += size
        else:
            view = memoryview(descs)
            offsets = struct.pack(f"{n + 1}q", *itertools.accumulate(w.sizes, initial=pos))
            view.cast("q")[0::3] = memoryview(offsets).cast("q")[:n]  # offset (zero pages: fixed below)
            view.cast("I")[2::6] = w.sizes  # size
            view[12::24] = w.kinds.translate(flag_of_kind)  # flags (< 256)
            view.release()
        kinds = w.kinds
        a = kinds.find(ZERO)  # memchr: most windows have no zero page, or start their runs late
        if a >= 0:
            zero_desc = self.zero_desc
            while a >= 0:  # zero pages come in runs: one slice each
                b = n - len(kinds[a:].lstrip(_ZERO))
                descs[a * PAGE_DESC.size : b * PAGE_DESC.size] = zero_desc * (b - a)
                a = kinds.find(ZERO, b)
        return descs

    def flush(self) -> None:
        """Write buffered data, then its descriptors; afterwards they count as committed.

        Payloads placed with worker processes (all of a stream's or none) are waited for instead."""
        if self._placed:
            try:
                for placed in self._placed:
                    placed.settle()
            except SinkFault as exc:
                self._commit_partial(exc.offset)
                raise
            self._placed = []
            self._data_pos += self._data_len
            self._data_len = 0
        if self._data:
            # Each window's payload is one buffer; several go out in one pwritev, not joined first.
            try:
                self.sink.write_parts_at(self._data_pos, self._data)
            except SinkFault as exc:
                self._commit_partial(exc.offset if self.sink.seekable else self._data_pos)
                raise
            self._data_pos += self._data_len
            self._data = []
            self._data_len = 0
        if self._descs:
            self.sink.write_at(self.layout.desc_offset + PAGE_DESC.size * self._first_rank, self._descs)
            self._first_rank = self._rank
            self._descs = bytearray()
        self.committed_pfn = self.pending_pfn
        self._batch = []
        self.written = self._data_pos

    def _commit_partial(self, limit: int) -> None:
        """After a short write: commit the pages of this batch whose data ended before ``limit``."""
        size = PAGE_DESC.size
        pfns = (pfn for first, n in self._batch for pfn in range(first, first + n))
        ok = 0
        cut = self.pending_pfn
        for i, pfn in enumerate(pfns):
            offset, length, _, _ = PAGE_DESC.unpack_from(self._descs, i * size)
            if offset + length > limit and offset != self.layout.data_offset:
                cut = pfn
                break
            ok = i + 1
        try:
            self.sink.write_at(self.layout.desc_offset + size * self._first_rank, self._descs[: ok * size])
        except SinkFault:
            return  # the reserved slots could not be rewritten: keep the previous commit point
        self.committed_pfn = cut
        self.written = max(self.written, limit)

    def finish(self) -> None:
        """Flush and rewrite the header (as makedumpfile does at the end)."""
        self.flush()
        self.sink.write_at(0, self.header())

    def mark_incomplete(self) -> list[Extent]:
        """After a fault: cut bitmap 2 at the last committed page and set INCOMPLETE.

        Returns the pages that stay in the dump.
        """
        kept, _ = _cut(self.keep, self.committed_pfn)
        lay = self.layout
        self._write_bitmap(lay.bitmap1_offset + lay.bitmap_len, kept)
        self.sink.write_at(0, self.header(DUMP_DH_COMPRESSED_INCOMPLETE))
        return kept


def _cut(pages: list[Extent], pfn: int) -> tuple[list[Extent], list[Extent]]:
    return extents.intersect(pages, [(0, pfn)]), extents.subtract(pages, [(0, pfn)])
