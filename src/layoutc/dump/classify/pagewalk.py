"""The struct-page scan without numpy: find the few pages that can be excluded, at C speed.

A page can only be excluded when one of a handful of fields says so: a flag bit (PG_lru,
PG_swapcache, PG_hwpoison, PG_head), bit 0 of ``mapping`` (anonymous), or ``_mapcount`` equal to
one of the page-type values (buddy, unaccepted, offline).  Every other page is kept whatever the
rest of its struct page holds.  :func:`candidates` finds the pages where any of those fields is
set with byte operations that run in C (strided slices of the batch, ``bytes.translate``, big-int
OR, ``bytes.find``); only those pages go through the decision chain
(:func:`layoutc.dump.classify.pageclass.decide`), which is the same chain with or without this filter.

On an idle machine most memory is free, in buddy blocks whose tail pages are none of those, so
the chain looks at a few percent of the pages; on a busy one, page-cache and anonymous pages are
candidates and the chain runs for them (``pageclass.classify`` then prefers numpy when present).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from layoutc.dump.classify.pageclass import StructPageLayout

S32 = struct.Struct("<i")
_TABLES: dict[int, bytes] = {}


def _table(mask: int) -> bytes:
    """``bytes.translate`` table: a byte becomes 1 when it has a bit of ``mask``, else 0."""
    table = _TABLES.get(mask)
    if table is None:
        table = _TABLES[mask] = bytes(1 if v & mask else 0 for v in range(256))
    return table


def flag_mask(lay: StructPageLayout) -> int:
    """The flag bits that make a page a candidate."""
    mask = lay.pg["head_mask"] or 0
    for name in ("lru", "swapcache", "hwpoison"):
        nr = lay.pg[name]
        if nr is not None:
            mask |= 1 << (nr & 0x3F)
    return mask


def candidates(lay: StructPageLayout, n: int, raw: bytes) -> list[int]:
    """Indices (ascending) of the pages of the batch that the decision chain may exclude."""
    size = lay.size
    stop = n * size
    marks = 0
    mask = flag_mask(lay)
    for j in range(8):
        byte_mask = (mask >> (8 * j)) & 0xFF
        if byte_mask:
            column = raw[lay.flags + j : stop : size]  # byte j of every page's flags
            marks |= int.from_bytes(column.translate(_table(byte_mask)), "little")
    if lay.mapping is not None:
        marks |= int.from_bytes(raw[lay.mapping : stop : size].translate(_table(1)), "little")
    hits = bytearray(marks.to_bytes(n, "little"))
    if lay.mapcount is not None:
        wanted = (lay.values["BUDDY"], lay.values["UNACCEPTED"], lay.values["OFFLINE"])
        values = [v for v in wanted if v is not None and -(1 << 31) <= v < 1 << 31]  # others match no s32
        if lay.mapcount % 4 == 0 and size % 4 == 0:
            # the _mapcount column alone (4n bytes): a sixteenth of the batch to search
            column = memoryview(raw).cast("B")[:stop].cast("I")[lay.mapcount // 4 :: size // 4].tobytes()
            for value in values:
                _mark_field(column, 0, 4, 4 * n, S32.pack(value), hits)
        else:
            for value in values:
                _mark_field(raw, lay.mapcount, size, stop, S32.pack(value), hits)
    out = []
    i = hits.find(1)
    while i >= 0:
        out.append(i)
        i = hits.find(1, i + 1)
    return out


def _mark_field(raw: bytes, offset: int, size: int, stop: int, pattern: bytes, hits: bytearray) -> None:
    """Set ``hits[i]`` for every page ``i`` whose field at ``offset`` holds ``pattern``."""
    pos = raw.find(pattern, offset, stop)
    while pos >= 0:
        rel = pos - offset
        if rel % size == 0:
            hits[rel // size] = 1
            pos = raw.find(pattern, pos + size, stop)
        else:
            pos = raw.find(pattern, pos + 1, stop)
