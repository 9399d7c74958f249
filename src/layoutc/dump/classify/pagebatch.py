"""makedumpfile's decision chain over a whole batch of struct pages, standard library only.

Each field the chain reads becomes a *lane mask*: a Python int with bit ``8 * i`` set when page ``i``
of the batch has the property (a flag bit, bit 0 of ``mapping``, ``_mapcount`` equal to a page-type
value, bit 0 of the tail word).  Lane masks come from strided slices of the batch
(``raw[offset::size]``: one byte of the field per page, sliced block by block so that the struct
pages stay in cache) and ``int.from_bytes``; the chain is then a handful of big-int ``&``, ``|`` and
``^`` over all pages at once, in C.  ``_mapcount == value`` starts from the pages whose most telling
byte equals the value's: a few of them are found in that byte's column with ``bytes.find`` and checked
one by one, many by the other three bytes.  A column is made an int only when lane arithmetic reads it.

Only the pages whose decision can cover more than one page go through the per-page chain
(:class:`layoutc.dump.classify.pageclass.Chain`), in pfn order, with makedumpfile's skip over the
rest of each multi-page range it excludes: buddy heads (their order is ``private``), unaccepted
blocks, and compound heads (their order is in the next struct page).  Every other page decides a
single page, independently of its neighbours, so its class is a mask expression; the skipped ranges
are removed from those masks.  When free blocks cover at least half of a batch, their heads are
decided first and only the pages outside them become lanes (:func:`_gaps`).  Same result as
``pageclass._classify_batch`` page for page (tests/dump/test_dump_pageclass.py and
test_dump_pagebatch.py run both on fixtures and on random struct pages).
"""

from __future__ import annotations

import struct

from layoutc.dump import extents

TYPE_CHECKING = False
if TYPE_CHECKING:
    from layoutc.dump.classify.pageclass import Chain, StructPageLayout, StructPages

S32 = struct.Struct("<i")
SPARSE = 64  # at most this many candidates of an equal32 are checked one by one
FEW_SHIFTS = 8  # a mask of at most this many pages is built by shifts, a larger one from bytes
BLOCK = 8192  # pages whose columns are sliced together: 512 KiB of 64-byte struct pages stay in cache
_REPEATS: dict[tuple[int, int], int] = {}


def _repeat(n: int, byte: int) -> int:
    """``byte`` in every lane of ``n``."""
    key = (n, byte)
    value = _REPEATS.get(key)
    if value is None:
        value = _REPEATS[key] = int.from_bytes(bytes((byte,)) * n, "little")
    return value


class Lanes:
    """Lane ints of one batch: byte lane ``i`` (bits ``8 * i`` to ``8 * i + 7``) is page ``i``'s.

    A *mask* has 0 or 1 in each lane; a *column* the byte of each page's struct page at one offset,
    sliced as bytes first (:meth:`column_bytes`) and made an int only when lane arithmetic needs it
    (``int.from_bytes``: about 10 instructions a byte, the largest cost of a batch)."""

    def __init__(self, raw: StructPages, n: int, size: int) -> None:
        self.raw, self.n, self.size, self.stop = raw, n, size, n * size
        self.all = _repeat(n, 1)
        self._columns: dict[int, int] = {}
        self._bytes: dict[int, bytes | bytearray] = {}  # a bytearray's slices are bytearrays

    def column(self, offset: int) -> int:
        """Byte ``offset`` of every page's struct page, one lane each."""
        col = self._columns.get(offset)
        if col is None:
            col = self._columns[offset] = int.from_bytes(self.column_bytes(offset), "little")
        return col

    def column_bytes(self, offset: int) -> bytes | bytearray:
        """Byte ``offset`` of every page's struct page, one byte each."""
        col = self._bytes.get(offset)
        if col is None:
            col = self._bytes[offset] = self.raw[offset : self.stop : self.size]
        return col

    def load(self, offsets: set[int]) -> None:
        """Slice the columns at ``offsets`` now, all of them over one :data:`BLOCK` of pages before
        the next: the same bytes as :meth:`column_bytes` slices, with the block's struct pages in cache
        (a batch of one block is left to :meth:`column_bytes`)."""
        raw, size, stop = self.raw, self.size, self.stop
        step = BLOCK * size
        if stop <= step:
            return
        todo = sorted(o for o in offsets if o not in self._bytes)
        parts: list[list[bytes | bytearray]] = [[] for _ in todo]
        for lo in range(0, stop, step):
            hi = min(lo + step, stop)
            for o, part in zip(todo, parts, strict=True):
                part.append(raw[lo + o : hi : size])
        for o, part in zip(todo, parts, strict=True):
            self._bytes[o] = b"".join(part)

    def bit(self, offset: int | None, nr: int | None) -> int:
        """Pages whose 64-bit word at ``offset`` has bit ``nr``."""
        if offset is None or nr is None:
            return 0
        nr &= 0x3F
        return (self.column(offset + nr // 8) >> (nr & 7)) & self.all

    def any_bits(self, offset: int, mask: int) -> int:
        """Pages whose 64-bit word at ``offset`` has any bit of ``mask``."""
        if mask > 0 and not mask & (mask - 1):  # one bit
            return self.bit(offset, mask.bit_length() - 1)
        return self.nonzero(
            [
                self.column(offset + j) & _repeat(self.n, (mask >> (8 * j)) & 0xFF)
                for j in range(8)
                if mask >> (8 * j) & 0xFF
            ]
        )

    def nonzero(self, lanes: list[int]) -> int:
        """Mask of the lanes where any of ``lanes`` is not zero (carry-free: no lane spills into the next)."""
        merged = 0
        for value in lanes:
            merged |= value
        low = _repeat(self.n, 0x7F)
        return ((((merged & low) + low) | merged) >> 7) & self.all

    def equal32(self, offset: int | None, value: int | None) -> int:
        """Pages whose signed 32-bit field at ``offset`` equals ``value``.

        The candidates are the pages whose byte :func:`key` of the field is the value's.  Up to
        :data:`SPARSE` of them are found in that column's bytes (``bytes.find``, a ``memchr``: no lane
        arithmetic, and most page types are on no page of a batch) and checked one by one; more, by
        the other three columns."""
        pages = self.sparse32(offset, value)
        if pages is not None:
            return self.mask(pages)
        assert offset is not None and value is not None  # sparse32 answers [] for no field or no value
        raw = (value & 0xFFFFFFFF).to_bytes(4, "little")
        at = key(value)
        hit = self.equal8(offset + at, raw[at])
        rest = [j for j in range(4) if j != at]
        self.load({offset + j for j in rest})
        cols = [(self.column(offset + j), raw[j]) for j in rest]
        return hit & (self.all ^ self.nonzero([c ^ _repeat(self.n, b) if b else c for c, b in cols]))

    def sparse32(self, offset: int | None, value: int | None) -> list[int] | None:
        """The pages whose signed 32-bit field at ``offset`` equals ``value``, ascending, when at most
        :data:`SPARSE` have the value's byte :func:`key` there; None when more have."""
        if offset is None or value is None or not -(1 << 31) <= value < 1 << 31:
            return []
        at = key(value)
        few = self.few(offset + at, (value & 0xFFFFFFFF) >> (8 * at) & 0xFF)
        if few is None:
            return None
        unpack, size, data = S32.unpack_from, self.size, self.raw
        return [i for i in few if unpack(data, i * size + offset)[0] == value]

    def few(self, offset: int, value: int) -> list[int] | None:
        """The pages whose byte at ``offset`` is ``value``, ascending, when there are at most
        :data:`SPARSE`; None when there are more."""
        find = self.column_bytes(offset).find
        out: list[int] = []
        i = find(value)
        while i >= 0:
            if len(out) == SPARSE:
                return None
            out.append(i)
            i = find(value, i + 1)
        return out

    def mask(self, pages: list[int]) -> int:
        """The lane mask of ``pages`` (indices of the batch)."""
        if len(pages) <= FEW_SHIFTS:  # a shift and an or each: cheaper than a whole batch's from_bytes
            out = 0
            for i in pages:
                out |= 1 << (8 * i)
            return out
        lanes = bytearray(self.n)
        for i in pages:
            lanes[i] = 1
        return int.from_bytes(lanes, "little")

    def runs_mask(self, runs: list[tuple[int, int]]) -> int:
        """The lane mask of the pages of ``runs`` (``[a, b)`` indices of the batch)."""
        lanes = bytearray(self.n)
        for a, b in runs:
            lanes[a:b] = b"\x01" * (b - a)
        return int.from_bytes(lanes, "little")

    def equal8(self, offset: int | None, value: int | None, shift: int = 0) -> int:
        """Pages whose byte at ``offset`` (of the page ``shift`` further on) equals ``value``."""
        if offset is None or value is None or not 0 <= value < 256:
            return 0
        return (self.all ^ self.nonzero([self.column(offset) ^ _repeat(self.n, value)])) >> (8 * shift)


def _minus(a: int, b: int) -> int:
    """``a & ~b`` for non-negative ``a`` and ``b`` (lane masks) without the negative ``~b``: Python's ``&``
    with a negative operand first complements its digits, about six times the cost on a batch's masks
    (262 144 bits: 25 µs against 4 µs a mask, measured with ``timeit``)."""
    return a ^ (a & b)


def key(value: int) -> int:
    """The byte of a 32-bit field that :meth:`Lanes.equal32` compares first: the first of
    ``value``'s bytes that is neither 0 nor 0xFF (the bytes most fields have), else byte 0."""
    raw = (value & 0xFFFFFFFF).to_bytes(4, "little")
    return next((j for j in range(4) if raw[j] not in (0, 0xFF)), 0)


def _indices(mask: int, n: int) -> list[int]:
    """Pages set in a mask, ascending."""
    if not mask:
        return []
    find = mask.to_bytes(n, "little").find
    out = []
    i = find(1)
    while i >= 0:
        out.append(i)
        i = find(1, i + 1)
    return out


def classify(chain: Chain, lay: StructPageLayout, first: int, n: int, raw: StructPages,
             found: dict[str, list[tuple[int, int]]],
             keep: list[tuple[int, int]] | None = None) -> None:  # fmt: skip
    """Append the excluded ranges of pages ``[first, first + n)`` to ``found``; the pages of ``keep``
    (normalized pfn extents) are cut out of them, as ``pageclass._classify_batch`` does.

    When free blocks cover most of the batch (an idle machine's memory), their heads are found first
    (:func:`_gaps`) and only the pages outside the blocks go through the lanes: a column costs its
    slice and its ``int.from_bytes`` per page, and makedumpfile never looks inside those blocks."""
    lanes, size = Lanes(raw, n, lay.size), lay.size
    gaps = _gaps(chain, lay, lanes, first, n, raw)
    part = b"".join([raw[a * size : b * size] for a, b in gaps]) if gaps is not None else b""
    ranges = _decide(chain, lay, Lanes(part, len(part) // size, size), first, n, raw, gaps) if gaps else None
    if ranges is None:
        ranges = _decide(chain, lay, lanes, first, n, raw, None)
        assert ranges is not None  # only the gaps can be given up, never the whole batch
    for name, pairs in ranges.items():
        found[name].extend(extents.subtract(extents.normalize(pairs), keep) if keep else pairs)


def _decide(chain: Chain, lay: StructPageLayout, lanes: Lanes, first: int, n: int, raw: StructPages,
            gaps: list[tuple[int, int]] | None) -> dict[str, list[tuple[int, int]]] | None:  # fmt: skip
    """The excluded pfn ranges per class of the batch ``raw`` (``n`` pages from ``first``).  ``lanes``
    hold all its pages (``gaps`` None) or the runs ``gaps`` of it, one after the other; None when the
    pages left out of ``gaps`` are not all skipped after all (a free head inside another head's range)."""
    lanes.load(_wanted(chain, lay))
    flags, pg, val = lay.flags, lay.pg, lay.values
    left = lanes.all ^ lanes.bit(lay.compound_head, 0)
    slab = lanes.equal32(lay.mapcount, val["SLAB"]) | lanes.bit(flags, pg["slab"])
    anon = _minus(lanes.bit(lay.mapping, 0), slab)
    cache = lanes.bit(flags, pg["lru"])
    swapcache = lanes.bit(flags, pg["swapcache"])
    if swapcache and pg["swapbacked"] is not None:
        swapcache &= lanes.bit(flags, pg["swapbacked"])
    cache = _minus(cache | swapcache, anon)
    hwpoison = lanes.bit(flags, pg["hwpoison"])
    offline = _minus(lanes.equal32(lay.mapcount, val["OFFLINE"]), slab)
    ranges: dict[str, list[tuple[int, int]]] = {}
    # A gap ends after a free head, whose next page in the lanes is then the next gap's first: should that
    # page make it special (a hugetlb head), and the chain skip over the gap's end, the check below fails.
    special = _multi_page(chain, lay, lanes, slab, cache | anon | hwpoison | offline) & left
    if special:
        left = _minus(left, special)
        at = _indices(special, lanes.n)
        skips = _specials(chain, first, n, raw, _real(at, gaps) if gaps else at, ranges)
        if gaps and extents.subtract(_outside(gaps, n), skips):
            return None
        if skips:
            left = _minus(left, lanes.runs_mask(_inside(skips, gaps) if gaps else skips))
    elif gaps and _outside(gaps, n):
        return None
    singles = (
        ("cache", chain.cache, _minus(cache, lanes.bit(flags, pg["private"])) if chain.cache else 0),
        ("cache_private", chain.cache_private, cache),
        ("user", chain.user, anon),
        ("hwpoison", True, hwpoison),
        ("offline", True, offline),
    )
    for name, enabled, mask in singles:
        hit = mask & left if enabled else 0
        if hit:
            left ^= hit
            runs = _runs(hit, lanes.n, 0)
            ranges.setdefault(name, []).extend(_real_runs(runs, gaps, first) if gaps else _shifted(runs, first))
    return ranges


def _gaps(chain: Chain, lay: StructPageLayout, lanes: Lanes, first: int, n: int,
          raw: StructPages) -> list[tuple[int, int]] | None:  # fmt: skip
    """The runs ``[a, b)`` of the batch outside the ranges that its free heads (buddy, unaccepted) exclude,
    each head decided by the chain in pfn order as makedumpfile skips; None when those ranges cover less
    than half of the batch, or when the heads are too many to find one by one (:meth:`Lanes.sparse32`)."""
    if not chain.free or lay.mapcount is None:
        return None
    heads: list[int] = []
    for value in (lay.values["BUDDY"], lay.values["UNACCEPTED"]):
        pages = lanes.sparse32(lay.mapcount, value)
        if pages is None:
            return None
        heads += pages
    gaps: list[tuple[int, int]] = []
    at = reach = 0
    decide = chain.decide
    for i in sorted(heads):
        if i < reach:
            continue
        got = decide(first, n, raw, i)
        if got is not None and got[1] - first - i > 1:
            reach = got[1] - first
            gaps.append((at, i + 1))
            at = min(reach, n)
    if at < n:
        gaps.append((at, n))
    return gaps if 2 * sum(b - a for a, b in gaps) <= n else None


def _outside(gaps: list[tuple[int, int]], n: int) -> list[tuple[int, int]]:
    """The runs of ``[0, n)`` between and after ``gaps``."""
    out = [(b, c) for (_, b), (c, _) in zip(gaps, gaps[1:], strict=False)]
    if gaps[-1][1] < n:
        out.append((gaps[-1][1], n))
    return out


def _real(at: list[int], gaps: list[tuple[int, int]]) -> list[int]:
    """Indices in the lanes (ascending) as indices of the batch."""
    return [a for a, _ in _real_runs([(i, i + 1) for i in at], gaps, 0)]


def _real_runs(runs: list[tuple[int, int]], gaps: list[tuple[int, int]], first: int) -> list[tuple[int, int]]:
    """Runs of lanes (ascending) as pfn ranges (``first`` plus indices of the batch), split where a gap ends."""
    out = []
    k = base = 0  # gap k starts at lane ``base``
    for a, b in runs:
        while a < b:
            while a >= base + gaps[k][1] - gaps[k][0]:
                base += gaps[k][1] - gaps[k][0]
                k += 1
            stop = min(b, base + gaps[k][1] - gaps[k][0])
            out.append((first + gaps[k][0] + a - base, first + gaps[k][0] + stop - base))
            a = stop
    return out


def _inside(runs: list[tuple[int, int]], gaps: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of batch runs (ascending, disjoint) inside ``gaps``, as runs of lanes."""
    out = []
    k = base = 0  # gap k starts at lane ``base``
    for a, b in runs:
        while k < len(gaps) and gaps[k][1] <= a:
            base += gaps[k][1] - gaps[k][0]
            k += 1
        j, at = k, base
        while j < len(gaps) and gaps[j][0] < b:
            lo, hi = max(a, gaps[j][0]), min(b, gaps[j][1])
            if lo < hi:
                out.append((at + lo - gaps[j][0], at + hi - gaps[j][0]))
            at += gaps[j][1] - gaps[j][0]
            j += 1
    return out


def _shifted(runs: list[tuple[int, int]], first: int) -> list[tuple[int, int]]:
    """Runs of the whole batch's lanes as pfn ranges."""
    return [(first + a, first + b) for a, b in runs]


def _wanted(chain: Chain, lay: StructPageLayout) -> set[int]:
    """The columns that :func:`classify` and :func:`_multi_page` read (a column missed here is
    sliced when it is read, one too many costs its slice)."""
    pg, val = lay.pg, lay.values
    bits = [pg[k] for k in ("slab", "lru", "swapcache", "swapbacked", "hwpoison")]
    if chain.cache:
        bits.append(pg["private"])
    values = [val["SLAB"], val["OFFLINE"]]
    if chain.free:
        values += [val["BUDDY"], val["UNACCEPTED"]]
    wanted: set[int | None] = {lay.mapping, lay.compound_head}
    if chain.head:
        head = chain.head
        while head:
            bits.append((head & -head).bit_length() - 1)
            head &= head - 1
        if chain.user:  # not compound_dtor, of the next page: read only when there are heads to look at
            values.append(val["HUGETLB"])
            bits.append(pg["hugetlb"])
    wanted.update(lay.flags + (nr & 0x3F) // 8 for nr in bits if nr is not None)
    if lay.mapcount is not None:
        wanted.update(lay.mapcount + key(v) for v in values if v is not None)
    return {offset for offset in wanted if offset is not None}


def _multi_page(chain: Chain, lay: StructPageLayout, lanes: Lanes, slab: int, classed: int) -> int:
    """Pages whose decision may cover more than one page, or needs the next struct page: buddy and
    unaccepted heads, and the compound heads that may be excluded at all (``classed``, or hugetlb)."""
    val, pg = lay.values, lay.pg
    special = 0
    if chain.head:
        heads = lanes.any_bits(lay.flags, chain.head)
        if chain.user and _minus(heads, classed):  # hugetlb-ness matters only for the heads not classed yet
            if val["HUGETLB"] is not None:
                classed |= lanes.equal32(lay.mapcount, val["HUGETLB"])
            elif pg["hugetlb"] is not None:
                classed |= lanes.bit(lay.flags, pg["hugetlb"]) >> 8  # in the next page's flags
            elif lay.compound_dtor is not None:
                classed |= lanes.equal8(lay.compound_dtor, val["HUGETLB_PAGE_DTOR"], shift=1)
        special = heads & classed
    if chain.free:
        buddy = _minus(lanes.equal32(lay.mapcount, val["BUDDY"]), slab)
        special |= buddy | lanes.equal32(lay.mapcount, val["UNACCEPTED"])
    return special


def _specials(chain: Chain, first: int, n: int, raw: StructPages, at: list[int],
              ranges: dict[str, list[tuple[int, int]]]) -> list[tuple[int, int]]:  # fmt: skip
    """The per-page chain for the special pages ``at`` (indices of the batch, ascending) in pfn order; the
    runs of the batch it skips, ascending."""
    skips = []
    reach = 0
    decide = chain.decide
    for i in at:
        if i < reach:
            continue
        got = decide(first, n, raw, i)
        if got is not None:
            name, stop = got
            ranges.setdefault(name, []).append((first + i, stop))
            if stop - first - i > 1:
                reach = stop - first
                skips.append((i + 1, min(reach, n)))
    return skips


def _runs(mask: int, n: int, base: int) -> list[tuple[int, int]]:
    """Runs of set pages of a mask as ``(start, end)`` indices plus ``base`` (a mask's lanes are 0
    or 1: a run ends at the next 0)."""
    find = mask.to_bytes(n, "little").find
    out = []
    i = find(1)
    while i >= 0:
        j = find(0, i)
        if j < 0:
            out.append((base + i, base + n))
            break
        out.append((base + i, base + j))
        i = find(1, j)
    return out
