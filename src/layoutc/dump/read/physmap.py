"""Physical page frame → source bytes, from the PT_LOADs (docs/reference/dump-formats.md §1.2).

The first matching PT_LOAD wins, as in makedumpfile's ``paddr_to_offset()``; a PT_LOAD contained
in another one (the kernel-text duplicate) is consulted last, so RAM segments stay contiguous.
Pages only partly covered by segments are assembled, and bytes covered by no file data read as zero.
"""

from __future__ import annotations

import bisect

from layoutc.dump import extents
from layoutc.dump.extents import Extent
from layoutc.dump.read.elf_input import Phdr
from layoutc.dump.record import Frozen, init

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from mmap import mmap

    from layoutc.dump.read.vmcore_source import Reader


class Kind:
    """How a piece's bytes are obtained (plain strings: no ``enum`` on the dumper's start-up path)."""

    FILE = "file"  # whole pages, contiguous in the file
    ZERO = "zero"  # inside p_memsz but beyond p_filesz
    MIXED = "mixed"  # one page assembled from fragments


class Piece(Frozen):
    """A run of pages ``[pfn_start, pfn_end)`` with one way of reading them."""

    __slots__ = ("pfn_start", "pfn_end", "kind", "file_offset", "fragments")
    pfn_start: int
    pfn_end: int
    kind: str  # a Kind
    file_offset: int
    fragments: tuple[tuple[int, int, int], ...]  # (offset in page, file offset or -1, length)

    def __init__(
        self,
        pfn_start: int,
        pfn_end: int,
        kind: str,
        file_offset: int = 0,
        fragments: tuple[tuple[int, int, int], ...] = (),
    ) -> None:
        init(self, pfn_start=pfn_start, pfn_end=pfn_end, kind=kind, file_offset=file_offset, fragments=fragments)


class PhysMap(Frozen):
    """Every present pfn of the source, as sorted disjoint pieces."""

    __slots__ = ("page_size", "pieces", "nodata", "floors")
    page_size: int
    pieces: tuple[Piece, ...]
    nodata: tuple[Extent, ...]
    """Pages wholly beyond p_filesz: makedumpfile's exclude_nodata_pages() leaves them out of
    the dump (bitmap 2) while they stay present (bitmap 1), so we do the same."""
    floors: tuple[Extent, ...]
    """Each PT_LOAD's pfns with its last page left out when the segment ends inside it."""

    def __init__(
        self,
        page_size: int,
        pieces: tuple[Piece, ...],
        nodata: tuple[Extent, ...] = (),
        floors: tuple[Extent, ...] = (),
    ) -> None:
        init(self, page_size=page_size, pieces=pieces, nodata=nodata, floors=floors)

    def bitmap1(self) -> list[Extent]:
        """The present pfns as makedumpfile's bitmap 1 has them.

        makedumpfile builds bitmap 1 in one of two ways: in a temporary file when both bitmaps fit
        its cyclic buffer at once (``create_1st_bitmap_file()``: a PT_LOAD's partial last page is
        present), in memory cycle by cycle otherwise (``create_bitmap_from_memhole()``: the partial
        last page is a hole).  The buffer is ``max_mapnr * 2 / 8`` bytes capped at 4 MiB
        (``calculate_cyclic_buffer_size()``), and one cycle is enough only when that times 8 is at
        least ``max_mapnr * 2``: so only when ``max_mapnr`` is a multiple of 4 and at most 16 Mi
        pages (and 60 % of the free memory holds the buffer, which a crash kernel's does).
        """
        present = self.present
        mapnr = self.max_mapnr
        buffer = min(4 << 20, mapnr * 2 // 8)
        if buffer * 8 >= mapnr * 2 or not self.floors:
            return present
        return extents.intersect(present, list(self.floors))

    def short_ends(self) -> dict[int, int]:
        """The partial last pages (a PT_LOAD that ends inside a page, as the x86 low RAM does at 0x9fc00): one past
        the page's pfn -> how many bytes at the page's end no PT_LOAD covers. The ELF output's segment ends where
        the source's does, as makedumpfile's ELF output does (and keeps such a page whatever ``max_mapnr`` is: the
        cyclic choice of :meth:`bitmap1` is its kdump format's alone)."""
        out = {}
        for p in self.pieces:
            if p.kind == Kind.MIXED:
                end = max(at + n for at, _, n in p.fragments)
                if end < self.page_size and sum(n for _, _, n in p.fragments) == end:  # covered from 0 to end
                    out[p.pfn_end] = self.page_size - end
        return out

    @property
    def present(self) -> list[Extent]:
        """Pfns inside some PT_LOAD: bitmap 1 of the kdump format."""
        return extents.normalize((p.pfn_start, p.pfn_end) for p in self.pieces)

    @property
    def max_mapnr(self) -> int:
        """One past the highest present pfn (makedumpfile ``get_max_mapnr()``)."""
        return max((p.pfn_end for p in self.pieces), default=0)

    def beyond(self, file_size: int) -> list[Extent]:
        """Pages whose bytes lie (partly) past the end of a truncated source file."""
        out: list[Extent] = []
        ps = self.page_size
        for p in self.pieces:
            if p.kind == Kind.FILE:
                whole = max(0, (file_size - p.file_offset) // ps)
                if p.pfn_start + whole < p.pfn_end:
                    out.append((p.pfn_start + whole, p.pfn_end))
            elif p.kind == Kind.MIXED and any(f >= 0 and f + n > file_size for _, f, n in p.fragments):
                out.append((p.pfn_start, p.pfn_end))
        return extents.normalize(out)

    def runs(self, wanted: list[Extent], limit: int) -> Iterator[tuple[Piece, int, int]]:
        """``(piece, pfn, npages)`` for the wanted pfns, at most ``limit`` pages each, in pfn order."""
        i = 0
        pieces = self.pieces
        for start, end in wanted:
            while i < len(pieces) and pieces[i].pfn_end <= start:
                i += 1
            k = i
            while k < len(pieces) and pieces[k].pfn_start < end:
                p = pieces[k]
                lo, hi = max(start, p.pfn_start), min(end, p.pfn_end)
                step = 1 if p.kind == Kind.MIXED else limit
                for pfn in range(lo, hi, max(1, step)):
                    yield p, pfn, min(step, hi - pfn)
                k += 1

    def read(self, reader: Reader, piece: Piece, pfn: int, npages: int) -> bytes | bytearray | memoryview:
        """The bytes of ``npages`` pages from ``pfn``, all inside ``piece``."""
        ps = self.page_size
        if piece.kind == Kind.FILE:
            return reader.read(piece.file_offset + (pfn - piece.pfn_start) * ps, npages * ps)
        if piece.kind == Kind.ZERO:
            return bytes(npages * ps)
        page = bytearray(ps)
        for in_page, file_off, length in piece.fragments:
            if file_off >= 0:
                page[in_page : in_page + length] = reader.read(file_off, length)
        return bytes(page)


def build(loads: tuple[Phdr, ...], page_size: int) -> PhysMap:
    """Resolve the PT_LOADs into disjoint pieces."""
    contained = _contained(loads)
    ordered = [ph for ph, c in zip(loads, contained, strict=True) if not c]
    ordered += [ph for ph, c in zip(loads, contained, strict=True) if c]
    covered = _Claimed()  # physical byte ranges already claimed
    whole: list[Piece] = []
    partial: dict[int, list[tuple[int, int, int]]] = {}
    for ph in ordered:
        spans = [
            (ph.p_paddr, ph.p_paddr + ph.p_filesz, ph.p_offset),
            (ph.p_paddr + ph.p_filesz, ph.p_paddr + ph.p_memsz, -1),
        ]
        for lo, hi, file_off in spans:
            for a, b in covered.free(lo, hi):
                _add_span(a, b, -1 if file_off < 0 else file_off + (a - lo), page_size, whole, partial)
        covered.claim(ph.p_paddr, ph.p_paddr + ph.p_memsz)
    for pfn, frags in partial.items():
        whole.append(Piece(pfn, pfn + 1, Kind.MIXED, 0, tuple(sorted(frags))))
    whole.sort(key=lambda p: p.pfn_start)
    nodata = extents.normalize(
        # rounded up at both ends, as makedumpfile does: a page partly backed by file data is dumped
        (-(-(ph.p_paddr + ph.p_filesz) // page_size), -(-(ph.p_paddr + ph.p_memsz) // page_size))
        for ph, c in zip(loads, contained, strict=True)
        if not c and ph.p_memsz
    )
    floors = extents.normalize((ph.p_paddr // page_size, (ph.p_paddr + ph.p_memsz) // page_size) for ph in loads)
    return PhysMap(page_size, tuple(_coalesce(whole, page_size)), tuple(nodata), tuple(floors))


class _Claimed:
    """Sorted disjoint byte ranges with bisect lookups: PT_LOAD counts can be large (PN_XNUM)."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def free(self, lo: int, hi: int) -> list[Extent]:
        """The parts of ``[lo, hi)`` not claimed yet."""
        out: list[Extent] = []
        i = bisect.bisect_right(self.ends, lo)
        cur = lo
        while i < len(self.starts) and self.starts[i] < hi:
            if self.starts[i] > cur:
                out.append((cur, self.starts[i]))
            cur = max(cur, self.ends[i])
            i += 1
        if cur < hi:
            out.append((cur, hi))
        return out

    def claim(self, lo: int, hi: int) -> None:
        """Add ``[lo, hi)``, merging with what it overlaps or touches."""
        if hi <= lo:
            return
        i = bisect.bisect_left(self.ends, lo)
        j = bisect.bisect_right(self.starts, hi)
        if i < j:
            lo, hi = min(lo, self.starts[i]), max(hi, self.ends[j - 1])
        self.starts[i:j] = [lo]
        self.ends[i:j] = [hi]


def _contained(loads: tuple[Phdr, ...]) -> list[bool]:
    """Whether each PT_LOAD lies inside another (the kernel-text duplicate), by a sort and sweep."""
    order = sorted(range(len(loads)), key=lambda i: (loads[i].p_paddr, -loads[i].p_memsz, i))
    flags = [False] * len(loads)
    reach = -1
    for i in order:
        end = loads[i].p_paddr + loads[i].p_memsz
        if end <= reach:
            flags[i] = True
        reach = max(reach, end)
    return flags


def _add_span(
    a: int, b: int, file_off: int, ps: int, whole: list[Piece], partial: dict[int, list[tuple[int, int, int]]]
) -> None:
    first_full = -(-a // ps)
    last_full = b // ps
    if first_full < last_full:
        off = file_off + (first_full * ps - a) if file_off >= 0 else 0
        whole.append(Piece(first_full, last_full, Kind.FILE if file_off >= 0 else Kind.ZERO, off))
        edges = [(a, first_full * ps), (last_full * ps, b)]
    else:
        edges = [(a, b)]
    for lo, hi in edges:
        pos = lo
        while pos < hi:
            pfn = pos // ps
            stop = min(hi, (pfn + 1) * ps)
            src = file_off + (pos - a) if file_off >= 0 else -1
            partial.setdefault(pfn, []).append((pos - pfn * ps, src, stop - pos))
            pos = stop


def _coalesce(pieces: list[Piece], ps: int) -> list[Piece]:
    out: list[Piece] = []
    for p in pieces:
        if out:
            q = out[-1]
            if (
                q.kind is p.kind
                and q.pfn_end == p.pfn_start
                and p.kind != Kind.MIXED
                and (p.kind == Kind.ZERO or q.file_offset + (q.pfn_end - q.pfn_start) * ps == p.file_offset)
            ):
                out[-1] = Piece(q.pfn_start, p.pfn_end, q.kind, q.file_offset)
                continue
            if p.pfn_start < q.pfn_end:  # a mixed page also claimed whole: the earlier claim wins
                continue
        out.append(p)
    return out


class PhysReader:
    """Random reads of physical memory from the source (for page tables and struct pages)."""

    def __init__(self, pmap: PhysMap, reader: Reader) -> None:
        self.pmap = pmap
        self.reader = reader
        self._starts = [p.pfn_start for p in pmap.pieces]

    def read(self, pa: int, size: int) -> bytes | None:
        """``size`` bytes at physical address ``pa``; None when part of it is not in the source."""
        ps = self.pmap.page_size
        out = []
        while size > 0:
            pfn = pa // ps
            i = bisect.bisect_right(self._starts, pfn) - 1
            if i < 0 or self.pmap.pieces[i].pfn_end <= pfn:
                return None
            piece = self.pmap.pieces[i]
            n = min(size, piece.pfn_end * ps - pa)
            if piece.kind == Kind.FILE:
                offset = piece.file_offset + pa - piece.pfn_start * ps
                copy = getattr(self.reader, "read_copy", None)
                out.append(copy(offset, n) if copy is not None else bytes(self.reader.read(offset, n)))
            elif piece.kind == Kind.ZERO:
                out.append(bytes(n))
            else:
                page = bytes(self.pmap.read(self.reader, piece, pfn, 1))
                out.append(page[pa - pfn * ps : pa - pfn * ps + n])
            pa += n
            size -= n
        return b"".join(out)

    def mapped(self, pa: int, size: int) -> mmap | None:
        """``size`` bytes at physical address ``pa`` in a mapping of the source, no copy, when they lie in one piece of
        file data and the reader maps (``FileReader.mapped``); None otherwise: read them."""
        mapper = getattr(self.reader, "mapped", None)
        offset = self._file_offset(pa, size)
        got: mmap | None = mapper(offset, size) if mapper is not None and offset is not None else None
        return got

    def read_into(self, pa: int, buf: bytearray | memoryview) -> bool:
        """``len(buf)`` bytes at physical address ``pa`` read into ``buf`` (``FileReader.read_into``), when they lie in
        one piece of file data; False otherwise, ``buf`` untouched: :meth:`read` them."""
        into = getattr(self.reader, "read_into", None)
        offset = self._file_offset(pa, len(buf))
        if into is None or offset is None:
            return False
        into(offset, buf)
        return True

    def _file_offset(self, pa: int, size: int) -> int | None:
        """Where ``[pa, pa + size)`` is in the source file, when it lies in one piece of file data."""
        ps = self.pmap.page_size
        i = bisect.bisect_right(self._starts, pa // ps) - 1
        if i < 0:
            return None
        piece = self.pmap.pieces[i]
        if piece.kind != Kind.FILE or pa + size > piece.pfn_end * ps:
            return None
        offset: int = piece.file_offset + pa - piece.pfn_start * ps
        return offset
