"""ELF64 core output (docs/reference/dump-formats.md §3.1, §6.1.2).

Layout: Ehdr | phdr[0] = PT_NOTE | PT_LOADs | (section header 0 when PN_XNUM) | notes | page-aligned
segment data.  Zero runs of at least ``ZERO_RUN_MIN`` pages become ``p_memsz > p_filesz`` tails
(they read back as zeros); pages excluded for any other reason are left out of every segment
(they read back as holes).  Shorter zero runs are written with their contents, as makedumpfile does.
"""

from __future__ import annotations

from layoutc.dump import extents
from layoutc.dump.errors import SinkFault
from layoutc.dump.extents import Extent
from layoutc.dump.interrupt import critical
from layoutc.dump.read.arm64 import EM_AARCH64, MASK64
from layoutc.dump.read.elf_input import (
    EHDR,
    ELFMAG,
    ET_CORE,
    NHDR,
    PHDR,
    PN_XNUM,
    PT_LOAD,
    PT_NOTE,
    SHDR,
    Vmcore,
)
from layoutc.dump.read.vmcoreinfo import VmcoreInfo
from layoutc.dump.record import Frozen, init
from layoutc.dump.write.encode import WINDOW_PAGES, PageWindow
from layoutc.dump.write.progress import Progress

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import TextIO

    from layoutc.dump.read import physmap
    from layoutc.dump.read.vmcore_source import Reader
    from layoutc.dump.write.sink import Sink

ZERO_RUN_MIN = 256  # makedumpfile PFN_EXCLUDED
KERNEL_MAP = 0xFFFFFFFF80000000  # __START_KERNEL_map
FLUSH_BYTES = 4 << 20
# ELF has no status field: an incomplete dump gets this extra note (room for it is always reserved).
# Readers skip notes they do not know; `readelf -n` shows it.
INCOMPLETE_NOTE = NHDR.pack(8, 12, 0) + b"LAYOUTC\0" + b"INCOMPLETE\0\0"


class LoadSegment(Frozen):
    """One output PT_LOAD: file pages ``[pfn_start, pfn_file_end)``, memory to ``pfn_mem_end``."""

    __slots__ = ("pfn_start", "pfn_file_end", "pfn_mem_end", "file_offset")
    pfn_start: int
    pfn_file_end: int
    pfn_mem_end: int
    file_offset: int

    def __init__(self, pfn_start: int, pfn_file_end: int, pfn_mem_end: int, file_offset: int) -> None:
        init(self, pfn_start=pfn_start, pfn_file_end=pfn_file_end, pfn_mem_end=pfn_mem_end, file_offset=file_offset)


def segments(keep: list[Extent], zero_runs: list[Extent], header_bytes: int, ps: int) -> list[LoadSegment]:
    """Segments for the kept pages, with long zero runs as memsz-only tails."""
    out: list[LoadSegment] = []
    pos = header_bytes
    zeros = extents.intersect(zero_runs, keep)
    zi = 0
    for start, end in keep:
        cur = start
        while zi < len(zeros) and zeros[zi][1] <= end:
            zs, ze = zeros[zi]
            out.append(LoadSegment(cur, zs, ze, pos if zs > cur else 0))
            pos += (zs - cur) * ps
            cur = ze
            zi += 1
        if cur < end:
            out.append(LoadSegment(cur, end, end, pos))
            pos += (end - cur) * ps
    return out


def header_size(nsegs: int, notes: int, ps: int) -> int:
    """Bytes before the first segment, rounded up to a page so readers can mmap the data."""
    phnum = 1 + nsegs
    raw = EHDR.size + PHDR.size * phnum + (SHDR.size if phnum >= PN_XNUM else 0) + notes + len(INCOMPLETE_NOTE)
    return -(-raw // ps) * ps


def elf_header(
    vmcore: Vmcore,
    segs: list[LoadSegment],
    hdr: int,
    ps: int,
    incomplete: bool = False,
    short: dict[int, int] | None = None,
) -> bytes:
    """Ehdr, phdrs, optional section header 0, and the notes (plus the INCOMPLETE note). A segment that ends with a
    partial page (``short``: :meth:`.PhysMap.short_ends`) ends where the source's PT_LOAD does."""
    phnum = 1 + len(segs)
    phoff = EHDR.size
    shoff = phoff + PHDR.size * phnum if phnum >= PN_XNUM else 0
    notes_off = phoff + PHDR.size * phnum + (SHDR.size if shoff else 0)
    ident = ELFMAG + bytes([2, 1, 1, 0]) + bytes(8)
    out = bytearray(
        EHDR.pack(
            ident,
            ET_CORE,
            vmcore.e_machine,  # the source's: EM_X86_64 or EM_AARCH64
            1,
            0,
            phoff,
            shoff,
            0,
            EHDR.size,
            PHDR.size,
            min(phnum, PN_XNUM),
            SHDR.size if shoff else 0,
            1 if shoff else 0,
            0,
        )
    )
    notes = vmcore.notes_blob + (INCOMPLETE_NOTE if incomplete else b"")
    out += PHDR.pack(PT_NOTE, 0, notes_off, 0, 0, len(notes), len(notes), 0)
    page_offset = _page_offset(vmcore)
    for s in segs:
        paddr = s.pfn_start * ps
        cut = (short or {}).get(s.pfn_mem_end, 0)
        out += PHDR.pack(
            PT_LOAD,
            7,
            s.file_offset,
            page_offset + paddr,
            paddr,
            (s.pfn_file_end - s.pfn_start) * ps - (cut if s.pfn_file_end == s.pfn_mem_end else 0),
            (s.pfn_mem_end - s.pfn_start) * ps - cut,
            0,
        )
    if shoff:
        out += SHDR.pack(0, 0, 0, 0, 0, 0, 0, phnum, 0, 0)  # sh_info = real e_phnum
    out += notes
    return bytes(out) + bytes(hdr - len(out))


def _page_offset(vmcore: Vmcore) -> int:
    """p_vaddr - p_paddr of RAM: from a RAM PT_LOAD (makedumpfile get_page_offset_x86_64), 0 when unknown.

    arm64: the linear map's, ``PAGE_OFFSET - PHYS_OFFSET`` (LNX:arch/arm64/include/asm/memory.h
    ``__phys_to_virt``); its kernel-image PT_LOAD lies below KERNEL_MAP too.
    """
    info = VmcoreInfo(vmcore.vmcoreinfo)
    if vmcore.e_machine == EM_AARCH64:
        bits, phys = info.number("VA_BITS"), info.number("PHYS_OFFSET")
        return (-(1 << bits) - phys) & MASK64 if bits is not None and phys is not None else 0
    for ph in vmcore.loads:
        if ph.p_vaddr and ph.p_vaddr < KERNEL_MAP:
            return (ph.p_vaddr - ph.p_paddr) & 0xFFFFFFFFFFFFFFFF
    return 0


class ElfWriter:
    """Streams segment data for a fixed segment list."""

    def __init__(
        self,
        sink: Sink,
        vmcore: Vmcore,
        hdr: int,
        segs: list[LoadSegment],
        ps: int,
        zero_pages: int = 0,
        short: dict[int, int] | None = None,
    ) -> None:
        self.sink = sink
        self.vmcore = vmcore
        self.hdr = hdr
        self.segs = segs
        self.ps = ps
        self.file_pages = extents.normalize((s.pfn_start, s.pfn_file_end) for s in segs)
        self._buf = bytearray()
        self._pos = hdr
        self._batch: list[tuple[int, int]] = []
        self.pending_pfn = 0
        self.committed_pfn = 0
        self.written = 0
        self.zero_pages = zero_pages  # every zero page among the kept (dump level bit 1), short runs included
        self.short = short or {}  # partial last pages: their segments end short (PhysMap.short_ends)

    def write_metadata(self) -> None:
        """The headers and notes."""
        self.sink.write_at(0, elf_header(self.vmcore, self.segs, self.hdr, self.ps, short=self.short))
        self.written = self.hdr

    def add(self, windows: Iterable[PageWindow]) -> None:
        """Append the raw bytes of each window (windows cover ``file_pages`` in order)."""
        for w in windows:
            with critical():  # a signal waits until the window is booked (and flushed)
                self._buf += w.payload
                self._batch.append((w.pfn, w.npages))
                self.pending_pfn = w.pfn + w.npages
                if len(self._buf) >= FLUSH_BYTES:
                    self.flush()

    def flush(self) -> None:
        """Write buffered data."""
        if self._buf:
            try:
                self.sink.write_at(self._pos, self._buf)
            except SinkFault as exc:
                # Pages wholly written before the short write stay in the dump.
                done = (exc.offset - self._pos) // self.ps if self.sink.seekable else 0
                for pfn, n in self._batch:
                    if done < n:
                        self.committed_pfn = pfn + max(done, 0)
                        break
                    done -= n
                raise
            self._pos += len(self._buf)
            self._buf = bytearray()
        self._batch = []
        self.committed_pfn = self.pending_pfn
        self.written = self._pos

    def finish(self) -> None:
        """Flush the rest."""
        self.flush()

    def mark_incomplete(self) -> list[Extent]:
        """After a fault: rewrite the headers so that segments end at the last written page.

        ELF has no INCOMPLETE flag; segments past the fault get ``p_filesz = 0`` (makedumpfile
        leaves such files truncated; ours stay consistent).  Returns the pages still dumped.
        """
        cut = self.committed_pfn
        segs = []
        for s in self.segs:
            file_end = max(s.pfn_start, min(s.pfn_file_end, cut))
            segs.append(
                LoadSegment(
                    s.pfn_start,
                    file_end,
                    s.pfn_mem_end if file_end == s.pfn_file_end else file_end,
                    s.file_offset if file_end > s.pfn_start else 0,
                )
            )
        self.sink.write_at(0, elf_header(self.vmcore, segs, self.hdr, self.ps, True, self.short))
        return extents.normalize((s.pfn_start, s.pfn_file_end) for s in segs)


def zero_scan(
    pmap: physmap.PhysMap, reader: Reader, keep: list[Extent], stream: TextIO | None
) -> tuple[list[Extent], int]:
    """Runs of at least ``ZERO_RUN_MIN`` zero pages among ``keep`` (ELF output reads pages twice), and
    the number of zero pages among ``keep`` (short runs too: makedumpfile counts them all)."""
    ps = pmap.page_size
    zero = bytes(ps)
    runs: list[Extent] = []
    count = 0
    run_start = run_end = -1
    progress = Progress(extents.count(keep) * ps, stream, "zero scan")
    for piece, pfn, n in pmap.runs(keep, WINDOW_PAGES):
        got = pmap.read(reader, piece, pfn, n)
        # a mapped window (a memoryview): each page the prefix asked of a zero page, in place, no copy
        mapped = got if isinstance(got, memoryview) else None
        buf = got if not isinstance(got, memoryview) else b""
        progress.advance(n * ps)
        for i in range(n):
            if zero.startswith(mapped[i * ps : (i + 1) * ps]) if mapped is not None else buf.startswith(zero, i * ps):
                count += 1
                if run_end != pfn + i:
                    if run_end - run_start >= ZERO_RUN_MIN:
                        runs.append((run_start, run_end))
                    run_start = pfn + i
                run_end = pfn + i + 1
    if run_end - run_start >= ZERO_RUN_MIN:
        runs.append((run_start, run_end))
    progress.close()
    return runs, count
