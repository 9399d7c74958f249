"""The x86_64 page-table walker on hand-built tables: 4 and 5 levels, 1 GiB, 2 MiB and 4 KiB pages."""

from __future__ import annotations

import struct

import pytest

from layoutc.dump.read.pagetable import PageTable

P, PSE = 0x3, 0x80


class Memory:
    """Physical memory as a dict of 4 KiB pages (absent pages read as None)."""

    def __init__(self) -> None:
        self.pages: dict[int, bytearray] = {}
        self.reads = 0

    def set(self, table: int, index: int, entry: int) -> None:
        page = self.pages.setdefault(table, bytearray(4096))
        struct.pack_into("<Q", page, index * 8, entry)

    def read(self, pa: int, size: int) -> bytes | None:
        self.reads += 1
        page = self.pages.get(pa & ~0xFFF)
        if page is None:
            return bytes(size) if pa >= 0x100000000 else None  # "RAM" beyond the tables reads zero
        return bytes(page[pa & 0xFFF : (pa & 0xFFF) + size])


def idx(va: int, shift: int) -> int:
    return (va >> shift) & 511


@pytest.mark.parametrize("five", [False, True])
def test_all_page_sizes(five: bool) -> None:
    mem = Memory()
    root, t1 = 0x10000, 0x11000
    # direct map, vmemmap and vmalloc addresses of each paging mode (distinct top-level entries)
    if five:
        va_1g, va_2m, va_4k = 0xFF11000000000000, 0xFFD4000000200000, 0xFFA0000000005000
    else:
        va_1g, va_2m, va_4k = 0xFFFF888000000000, 0xFFFFEA0000200000, 0xFFFFC90000005000
    levels = [48, 39] if five else [39]
    tables = iter(range(t1, t1 + 64 * 0x1000, 0x1000))  # a fresh table for every step of every walk
    for va, leaf_shift, leaf in ((va_1g, 30, 0x140000000), (va_2m, 21, 0x180200000), (va_4k, 12, 0x1C0005000)):
        table = root
        for shift in levels + [30, 21, 12]:
            if shift == leaf_shift:
                mem.set(table, idx(va, shift), leaf | P | (PSE if shift != 12 else 0) | (1 << 63))  # NX bit
                break
            nxt = next(tables)
            mem.set(table, idx(va, shift), nxt | P)
            table = nxt
    pt = PageTable(mem.read, root, five)
    assert pt.translate(va_1g + 0x12345678) == 0x140000000 + 0x12345678
    assert pt.translate(va_2m + 0x1FFFFF) == 0x180200000 + 0x1FFFFF
    assert pt.translate(va_4k + 0x123) == 0x1C0005123
    assert pt.translate(va_4k + 0x1000) is None  # next 4 KiB page: no PTE
    assert pt.translate(0xFFFF800000000000 if not five else 0xFF00000000000000) is None
    before = mem.reads
    assert pt.translate(va_2m + 8) == 0x180200008  # cached: no new reads
    assert mem.reads == before
    assert pt.read(va_2m + 0x1FFFF8, 16) is None  # crosses into an unmapped 2 MiB
    assert pt.read(va_1g, 16) == bytes(16)


def test_sme_mask_is_removed() -> None:
    mem = Memory()
    sme = 1 << 47
    va = 0xFFFF888000000000
    mem.set(0x10000, idx(va, 39), 0x11000 | P | sme)
    mem.set(0x11000, idx(va, 30), 0x40000000 | P | PSE | sme)
    assert PageTable(mem.read, 0x10000, False, sme).translate(va + 5) == 0x40000005
