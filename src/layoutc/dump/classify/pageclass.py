"""Page classes from the crashed kernel's struct pages (docs/reference/dump-formats.md §2.1-§2.3).

The struct page of each present pfn is found through SPARSEMEM (``mem_section``, extreme) or
``SYMBOL(vmemmap)``, read through the kernel's own page tables, and classified as makedumpfile's
``__exclude_unnecessary_pages()`` does: free (buddy), page cache, private page cache, user data
(anonymous and hugetlb, whole compound pages), hwpoison and offline.  Every class is gated on the
VMCOREINFO keys it needs: a class whose keys are missing is not excluded, and the result says
which dump-level bits were dropped and why.  Nothing is guessed.
"""

from __future__ import annotations

import os
import struct

from layoutc.dump import extents
from layoutc.dump.classify import pagebatch, pagescan
from layoutc.dump.extents import Extent
from layoutc.dump.read.pagetable import PageTable, missing_root
from layoutc.dump.read.vmcoreinfo import VmcoreInfo
from layoutc.dump.record import Frozen, init

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from mmap import mmap
    from typing import Any

    from layoutc.dump.read.pagetable import BulkPhys, ReadPhys

    StructPages = bytes | bytearray | mmap  # read, read into a kept buffer (maybe longer than the batch), or mapped

DL_EXCLUDE_ZERO, DL_EXCLUDE_CACHE, DL_EXCLUDE_CACHE_PRI, DL_EXCLUDE_USER_DATA, DL_EXCLUDE_FREE = 1, 2, 4, 8, 16
PAGE_MAPPING_ANON = 1
SECTION_MARKED_PRESENT = 1
SECTION_MAP_MASK = ~0x3F
BATCH = 512  # makedumpfile PGMM_CACHED
CHUNK = 32768  # struct pages read at once: 2 MiB
CLASSES = ("free", "cache", "cache_private", "user", "hwpoison", "offline")
ALWAYS = ("hwpoison", "offline")
BUDGET_CLASSES = ("free", "cache", "cache_private", "user")

S32 = struct.Struct("<i")
U64 = struct.Struct("<Q")


class StructPageLayout(Frozen):
    """struct page field offsets and flag numbers from VMCOREINFO (None: unknown)."""

    __slots__ = (
        "size", "flags", "mapping", "mapcount", "private", "compound_head", "compound_order", "compound_dtor", "pg",
        "values", "free_area_len"
    )
    size: int
    flags: int
    mapping: int | None
    mapcount: int | None
    private: int | None
    compound_head: int | None
    compound_order: int | None
    compound_dtor: int | None
    pg: dict[str, int | None]
    values: dict[str, int | None]
    free_area_len: int | None

    def __init__(
        self,
        size: int,
        flags: int,
        mapping: int | None,
        mapcount: int | None,
        private: int | None,
        compound_head: int | None,
        compound_order: int | None,
        compound_dtor: int | None,
        pg: dict[str, int | None],
        values: dict[str, int | None],
        free_area_len: int | None,
    ) -> None:
        init(
            self,
            size=size,
            flags=flags,
            mapping=mapping,
            mapcount=mapcount,
            private=private,
            compound_head=compound_head,
            compound_order=compound_order,
            compound_dtor=compound_dtor,
            pg=pg,
            values=values,
            free_area_len=free_area_len,
        )

    @classmethod
    def from_info(cls, info: VmcoreInfo, size: int, flags: int) -> StructPageLayout:
        pg = {
            k: info.number(f"PG_{k}")
            for k in ("lru", "private", "swapcache", "swapbacked", "slab", "hwpoison", "hugetlb", "head_mask")
        }
        values = {
            k: info.number(f"PAGE_{k}_MAPCOUNT_VALUE") for k in ("BUDDY", "OFFLINE", "SLAB", "HUGETLB", "UNACCEPTED")
        }
        values["HUGETLB_PAGE_DTOR"] = info.number("HUGETLB_PAGE_DTOR")
        return cls(
            size,
            flags,
            info.offset("page.mapping"),
            info.offset("page._mapcount"),
            info.offset("page.private"),
            tail_word_offset(info),
            info.offset("page.compound_order"),
            info.offset("page.compound_dtor"),
            pg,
            values,
            info.length("zone.free_area"),
        )


class Classes(Frozen):
    """Excluded pfns per class, and what could not be decided."""

    __slots__ = ("pages", "level", "notes")
    pages: dict[str, list[Extent]]
    level: int  # the dump level actually applied
    notes: tuple[str, ...]

    def __init__(self, pages: dict[str, list[Extent]], level: int, notes: tuple[str, ...] = ()) -> None:
        init(self, pages=pages, level=level, notes=notes)

    def excluded(self, level: int) -> dict[str, list[Extent]]:
        """The classes that ``level`` (already capability-gated) excludes."""
        bits = {"free": DL_EXCLUDE_FREE, "cache": DL_EXCLUDE_CACHE, "cache_private": DL_EXCLUDE_CACHE_PRI}
        bits["user"] = DL_EXCLUDE_USER_DATA
        return {c: p for c, p in self.pages.items() if c in ALWAYS or bits.get(c, 0) & level}


def capabilities(info: VmcoreInfo, level: int) -> tuple[int, list[str]]:
    """The dump level that VMCOREINFO supports, and one note per bit dropped."""
    notes: list[str] = []
    base = info.missing("SIZE(page)", "OFFSET(page.flags)")
    if info.symbol("vmemmap") is None:
        base += info.missing(
            "SYMBOL(mem_section)",
            "LENGTH(mem_section)",
            "SIZE(mem_section)",
            "OFFSET(mem_section.section_mem_map)",
            "NUMBER(SECTION_SIZE_BITS)",
        )
    base += missing_root(info)
    if base:
        dropped = level & ~DL_EXCLUDE_ZERO
        if dropped:
            notes.append(
                f"dump level {level} needs struct pages, but VMCOREINFO lacks {', '.join(base)}; "
                f"using dump level {level & DL_EXCLUDE_ZERO}"
            )
        return -1, notes
    # Tail pages carry other data where a head has `mapping`: without the tail word a tail could
    # pass for a cache or anon page.
    tails = [] if tail_word_offset(info) is not None else ["OFFSET(page.compound_head or compound_info)"]
    need = {
        DL_EXCLUDE_FREE: ["OFFSET(page._mapcount)", "OFFSET(page.private)", "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)"],
        DL_EXCLUDE_CACHE: [
            "OFFSET(page.mapping)",
            "NUMBER(PG_lru)",
            "NUMBER(PG_private)",
            "NUMBER(PG_swapcache)",
        ],
        DL_EXCLUDE_CACHE_PRI: ["OFFSET(page.mapping)", "NUMBER(PG_lru)", "NUMBER(PG_swapcache)"],
        DL_EXCLUDE_USER_DATA: ["OFFSET(page.mapping)", "NUMBER(PG_head_mask)"],
    }
    for bit, keys in need.items():
        lacking = info.missing(*keys) + (tails if bit != DL_EXCLUDE_FREE else [])
        if bit == DL_EXCLUDE_USER_DATA and not (
            info.offset("page.compound_order") is not None
            or info.number("PG_hugetlb") is not None
            or info.number("PAGE_HUGETLB_MAPCOUNT_VALUE") is not None
        ):
            lacking.append("the compound order (OFFSET(page.compound_order) or the folio fields)")
        if level & bit and lacking:
            level &= ~bit
            notes.append(f"dump level bit {bit} needs {', '.join(lacking)}; not excluding that class")
    return level, notes


def tail_word_offset(info: VmcoreInfo) -> int | None:
    """Offset of the word whose bit 0 marks a tail page.

    ``page.compound_head`` until Linux 7.0; Linux 7.1 renamed it ``page.compound_info`` (kernel
    commit "mm: rename the 'compound_head' field in the 'struct page' to 'compound_info'", with its
    VMCOREINFO entry) and, when ``sizeof(struct page)`` is a power of two under SPARSEMEM_VMEMMAP,
    stores ``mask | 1`` instead of ``head | 1`` ("mm: rework compound_head() for power-of-2
    sizeof(struct page)"; the mask is ``GENMASK(63, order + log2(SIZE(page)))``).  Bit 0 still
    marks a tail in both encodings, and only bit 0 is used here, as makedumpfile f50c015 does.
    """
    found = info.offset("page.compound_head")
    return found if found is not None else info.offset("page.compound_info")


class MemMap:
    """Where the struct page of a pfn lives (kernel virtual address)."""

    def __init__(
        self, info: VmcoreInfo, table: PageTable, page_size: int, struct_size: int, phys: BulkPhys | None = None
    ) -> None:
        self.table = table
        self.phys = phys
        self._buf = bytearray()
        self.struct_size = struct_size
        self.vmemmap = info.symbol("vmemmap")
        bits = info.number("SECTION_SIZE_BITS") or 27
        self.pages_per_section = 1 << (bits - (page_size.bit_length() - 1))
        self.root = info.symbol("mem_section")
        self.ms_size = info.size("mem_section") or 16
        self.map_off = info.offset("mem_section.section_mem_map") or 0
        self.per_root = page_size // self.ms_size
        self.nr_roots = info.length("mem_section") or 0
        # makedumpfile is_sparsemem_extreme(): the root array has NR_MEM_SECTIONS / SECTIONS_PER_ROOT
        # entries; otherwise SYMBOL(mem_section) is the flat array of struct mem_section itself.
        physmem = info.number("MAX_PHYSMEM_BITS")
        nr_sections = 1 << (physmem - bits) if physmem is not None else None
        self.extreme = nr_sections is None or self.nr_roots == nr_sections // self.per_root

    def section_base(self, nr: int) -> int | None:
        """``coded`` mem_map of a section: struct page va of pfn = base + pfn * SIZE(page)."""
        if self.vmemmap is not None:
            return self.vmemmap
        if self.root is None:
            return None
        if self.extreme:
            if nr // self.per_root >= self.nr_roots:
                return None
            raw = self.table.read(self.root + (nr // self.per_root) * 8, 8)
            if raw is None or not U64.unpack(raw)[0]:
                return None
            ms = U64.unpack(raw)[0] + (nr % self.per_root) * self.ms_size
        else:
            if nr >= self.nr_roots:
                return None
            ms = self.root + nr * self.ms_size
        raw = self.table.read(ms + self.map_off, 8)
        if raw is None:
            return None
        value = U64.unpack(raw)[0]
        return value & SECTION_MAP_MASK if value & SECTION_MARKED_PRESENT else None

    def batches(self, present: list[Extent]) -> Iterator[tuple[int, int, StructPages | None]]:
        """``(pfn, n, struct pages)`` for the present pfns, at most one section (or 32768) at a time."""
        for pfn, n in self.spans(present):
            yield pfn, n, self.read(pfn, n)

    def spans(self, present: list[Extent]) -> Iterator[tuple[int, int]]:
        """The batches' ``(pfn, n)``: they end at multiples of a section (or 32768) or where the present pfns
        end, never inside one of makedumpfile's pfn-aligned blocks of ``BATCH`` struct pages, so
        :func:`compound_order` sees a head's next struct page wherever makedumpfile does."""
        limit = min(self.pages_per_section, CHUNK)
        for start, end in present:
            pfn = start
            while pfn < end:
                stop = min(end, (pfn // limit + 1) * limit)
                yield pfn, stop - pfn
                pfn = stop

    def read(self, pfn: int, n: int) -> StructPages | None:
        """The struct pages of ``[pfn, pfn + n)`` in one section, valid until the next call; None if unreadable. In one
        page-table mapping, through ``phys``: mapped (a reader that maps), else read into the first bytes of one buffer
        made for the largest batch (one per batch faulted 2 500 times a dump; readers stop at a batch's ``n`` pages)."""
        base = self.section_base(pfn // self.pages_per_section)
        if base is None:
            return None
        va, size = base + pfn * self.struct_size, n * self.struct_size
        m = self.table.mapping(va) if self.phys is not None else None
        if m is None or va + size > m.va + m.size or self.phys is None:
            return self.table.read(va, size)
        mapped = self.phys.mapped(m.pa + va - m.va, size)
        if mapped is not None:
            return mapped
        if len(self._buf) < size:
            self._buf = bytearray(max(size, min(self.pages_per_section, CHUNK) * self.struct_size))
        into = self.phys.read_into(m.pa + va - m.va, memoryview(self._buf)[:size])
        return self._buf if into else self.table.read(va, size)


def _numpy() -> Any:
    # numpy's OpenBLAS starts one thread per CPU at import; the scan needs none (about 0.05 s of CPU).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def classify(
    info: VmcoreInfo,
    table: PageTable,
    present: list[Extent],
    page_size: int,
    level: int,
    vectorize: bool | None = None,
    keep: list[Extent] | None = None,
    workers: int = 1,
    phys: BulkPhys | None = None,
) -> Classes:
    """Exclusion extents per class for the present pfns (makedumpfile's decision chain).

    Each batch goes through ``pagebatch`` (the chain as lane-mask arithmetic, standard library);
    ``vectorize=True`` runs it through numpy (``pagescan``) instead, when numpy is importable.
    ``keep`` (normalized pfn extents): pages no class may take, whatever their struct pages say;
    the chain still decides (and skips) as makedumpfile's does, and these pages are cut out of
    what it excludes. ``workers`` > 1: the batches are split between that many processes
    (:mod:`.forked`); the same result.
    """
    applied, notes = capabilities(info, level)
    if applied < 0:
        return Classes({}, level & DL_EXCLUDE_ZERO, tuple(notes))
    size, flags_off = info.size("page"), info.offset("page.flags")
    assert size is not None and flags_off is not None
    lay = StructPageLayout.from_info(info, size, flags_off)
    memmap = MemMap(info, table, page_size, size, phys)
    np: Any = _numpy() if vectorize else None
    chain = Chain(lay, applied)

    def run(spans: list[tuple[int, int]]) -> tuple[dict[str, list[Extent]], int]:
        found: dict[str, list[Extent]] = {c: [] for c in CLASSES}
        unread = 0
        for pfn, n in spans:
            raw = memmap.read(pfn, n)
            if raw is None:
                unread += n
            elif np is None:
                pagebatch.classify(chain, lay, pfn, n, raw, found, keep)
            else:
                pagescan.classify(np, lay, applied, pfn, n, raw, found)
        if keep and np is not None:
            found = {c: extents.subtract(extents.normalize(p), keep) for c, p in found.items()}
        return {c: extents.normalize(p) for c, p in found.items() if p}, unread

    spans = list(memmap.spans(present))
    if workers > 1 and len(spans) > 1:
        from layoutc.dump.classify import forked

        parts = forked.split(run, [spans[k::workers] for k in range(workers)])
    else:
        parts = [run(spans)]
    found = {c: extents.normalize([e for got, _ in parts for e in got.get(c, ())]) for c in CLASSES}
    unread = sum(n for _, n in parts)
    if unread:
        notes.append(f"{unread} struct pages could not be read; those pages are kept")
    return Classes({c: p for c, p in found.items() if p}, applied, tuple(notes))


def _classify_batch(
    lay: StructPageLayout,
    level: int,
    first: int,
    n: int,
    raw: StructPages,
    found: dict[str, list[Extent]],
    indices: Iterable[int] | None = None,
    keep: list[Extent] | None = None,
) -> None:
    """makedumpfile's loop over one batch, page by page: after excluding a range of more than one
    page (a free block, a compound page) it skips the rest of that range without looking at those
    pages.  The reference that ``pagebatch`` (the default) and ``pagescan`` are tested against.

    ``indices``: only these pages (ascending); default all.  ``keep``: pages cut out of every
    excluded range (normalized extents), the skip unchanged.
    """
    chain = Chain(lay, level)
    reach = 0
    for i in range(n) if indices is None else indices:
        if i < reach:
            continue
        got = chain.decide(first, n, raw, i)
        if got is not None:
            name, stop = got
            pfn = first + i
            found[name].extend(extents.subtract([(pfn, stop)], keep) if keep else [(pfn, stop)])
            if stop - pfn > 1:
                reach = i + stop - pfn


def _mask(nr: int | None) -> int:
    return 0 if nr is None else 1 << (nr & 0x3F)


class Chain:
    """makedumpfile's decision chain for one struct page, with the layout's masks precomputed."""

    def __init__(self, lay: StructPageLayout, level: int) -> None:
        pg, val = lay.pg, lay.values
        self.lay = lay
        self.head = pg["head_mask"] or 0
        self.lru, self.swapcache, self.swapbacked = _mask(pg["lru"]), _mask(pg["swapcache"]), _mask(pg["swapbacked"])
        self.private, self.hwpoison, self.slab = _mask(pg["private"]), _mask(pg["hwpoison"]), _mask(pg["slab"])
        self.slab_value, self.buddy = val["SLAB"], val["BUDDY"]
        self.unaccepted, self.offline = val["UNACCEPTED"], val["OFFLINE"]
        self.free = bool(level & DL_EXCLUDE_FREE)
        self.cache = bool(level & DL_EXCLUDE_CACHE)
        self.cache_private = bool(level & DL_EXCLUDE_CACHE_PRI)
        self.user = bool(level & DL_EXCLUDE_USER_DATA)
        self.unaccepted_span = 1 << ((lay.free_area_len or 11) - 1)

    def decide(self, first: int, n: int, raw: StructPages, i: int) -> tuple[str, int] | None:
        """The class of page ``i`` of the batch and the end of the range it excludes, or None."""
        lay = self.lay
        off = i * lay.size
        if lay.compound_head is not None and U64.unpack_from(raw, off + lay.compound_head)[0] & 1:
            return None  # a tail: its head decides for the whole compound page
        flags = U64.unpack_from(raw, off + lay.flags)[0]
        mapcount = S32.unpack_from(raw, off + lay.mapcount)[0] if lay.mapcount is not None else None
        mapping = U64.unpack_from(raw, off + lay.mapping)[0] if lay.mapping is not None else 0
        pfn = first + i
        order, hugetlb = compound_order(lay, raw, i, n, mapcount, pfn) if flags & self.head else (0, False)
        slab = (self.slab_value is not None and mapcount == self.slab_value) or bool(flags & self.slab)
        anon = bool(mapping & PAGE_MAPPING_ANON) and not slab
        cache = bool(flags & self.lru) or bool(
            flags & self.swapcache and (not self.swapbacked or flags & self.swapbacked)
        )
        if self.free and mapcount == self.buddy and not slab:
            private = U64.unpack_from(raw, off + lay.private)[0] if lay.private is not None else 0
            # An order from memory: without LENGTH(zone.free_area), 64 still bounds 1 << private.
            if private < (lay.free_area_len if lay.free_area_len is not None else 64):
                return "free", pfn + (1 << private)
            return None  # an invalid order: makedumpfile keeps the page
        if self.free and self.unaccepted is not None and mapcount == self.unaccepted:
            return "free", pfn + self.unaccepted_span
        if self.cache and cache and not flags & self.private and not anon:
            return "cache", pfn + (1 << order)
        if self.cache_private and cache and not anon:
            return "cache_private", pfn + (1 << order)
        if self.user and (anon or hugetlb):
            return "user", pfn + (1 << order)
        if flags & self.hwpoison:
            return "hwpoison", pfn + 1
        if self.offline is not None and mapcount == self.offline and not slab:
            return "offline", pfn + 1
        return None


def _bit(flags: int, nr: int | None) -> bool:
    return nr is not None and bool(flags >> (nr & 0x3F) & 1)


def compound_order(
    lay: StructPageLayout, raw: StructPages, i: int, n: int, mapcount: int | None, pfn: int
) -> tuple[int, bool]:
    """Order and hugetlb-ness of the compound head at index ``i`` of ``raw``.

    makedumpfile reads struct pages in pfn-aligned batches of 512 and does not look at page + 1
    of a batch's last page; neither do we.
    """
    if i + 1 >= n or pfn % BATCH == BATCH - 1:
        return 0, False
    nxt = (i + 1) * lay.size
    flags1 = U64.unpack_from(raw, nxt + lay.flags)[0]
    if lay.values["HUGETLB"] is not None:  # 6.9+: folio._flags_1 and page_type
        order, hugetlb = flags1 & 0xFF, mapcount == lay.values["HUGETLB"]
    elif lay.pg["hugetlb"] is not None:  # 6.6-6.8
        order, hugetlb = flags1 & 0xFF, _bit(flags1, lay.pg["hugetlb"])
    elif lay.compound_order is not None:
        order = raw[nxt + lay.compound_order]
        dtor = raw[nxt + lay.compound_dtor] if lay.compound_dtor is not None else None
        hugetlb = dtor is not None and dtor == lay.values["HUGETLB_PAGE_DTOR"]
    else:
        return 0, False
    if order >= 64 or pfn & ((1 << order) - 1):
        return 0, hugetlb
    return order, hugetlb


def for_dump(
    raw_info: dict[str, str],
    read_phys: ReadPhys,
    present: list[Extent],
    page_size: int,
    level: int,
    keep: list[Extent] | None = None,
    workers: int = 1,
    phys: BulkPhys | None = None,
) -> tuple[dict[str, list[Extent]], int, list[str]]:
    """Pages to exclude per class at ``level``, the level actually applied, and notes; no class takes
    a page of ``keep``. ``phys``: struct pages without a fresh copy each where it can (:meth:`MemMap.read`)."""
    if not raw_info:
        notes = []
        if level & ~DL_EXCLUDE_ZERO:
            notes.append(
                f"dump level {level} needs VMCOREINFO and the source has none; "
                f"using dump level {level & DL_EXCLUDE_ZERO}"
            )
        return {}, level & DL_EXCLUDE_ZERO, notes
    info = VmcoreInfo(raw_info)
    table = PageTable.from_vmcoreinfo(info, read_phys)
    if table is None:
        applied, notes = capabilities(info, level)
        return {}, level & DL_EXCLUDE_ZERO, notes
    classes = classify(info, table, present, page_size, level, keep=keep, workers=workers, phys=phys)
    return classes.excluded(classes.level), classes.level | (level & DL_EXCLUDE_ZERO), list(classes.notes)
