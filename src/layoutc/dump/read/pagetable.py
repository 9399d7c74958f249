"""Kernel virtual → physical address translation on x86_64 (docs/reference/dump-formats.md §2.2).

Arm64 is :mod:`.arm64`, a subclass; :meth:`PageTable.from_vmcoreinfo` picks it by VMCOREINFO.

A 4- or 5-level page-table walk from VMCOREINFO, as makedumpfile's ``vtop4_x86_64`` does, with no
linear shortcuts (vmemmap_base and page_offset_base are randomized by KASLR).  Translations are
cached per mapping (2 MiB PMD pages cover 32768 struct pages each); the page tables' pages are read
once, and a 4 KiB page's walk starts at the page table found for its 2 MiB.
"""

from __future__ import annotations

import struct

from layoutc.dump.read.vmcoreinfo import VmcoreInfo
from layoutc.dump.record import Frozen, init

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from mmap import mmap
    from typing import Protocol

    ReadPhys = Callable[[int, int], bytes | None]

    class BulkPhys(Protocol):
        """Large reads of physical memory without a fresh buffer each (physmap.PhysReader): struct-page batches."""

        def mapped(self, pa: int, size: int) -> mmap | None: ...

        def read_into(self, pa: int, buf: bytearray | memoryview) -> bool: ...

KERNEL_MAP = 0xFFFFFFFF80000000  # __START_KERNEL_map
PRESENT = 0x1
PSE = 0x80
ADDR_MASK = 0x000FFFFFFFFFF000  # ~0xfff0000000000fff
U64 = struct.Struct("<Q")



class Mapping(Frozen):
    """One translation: ``[va, va + size)`` maps to ``[pa, pa + size)``."""

    __slots__ = ("va", "pa", "size")
    va: int
    pa: int
    size: int

    def __init__(self, va: int, pa: int, size: int) -> None:
        init(self, va=va, pa=pa, size=size)


def missing_root(info: VmcoreInfo) -> list[str]:
    """The VMCOREINFO keys address translation needs and lacks, for the architecture VMCOREINFO is from."""
    from layoutc.dump.read import arm64

    if arm64.is_arm64(info):
        return arm64.missing(info)
    out = (
        []
        if info.symbol("init_top_pgt") is not None or info.symbol("init_level4_pgt") is not None
        else ["SYMBOL(init_top_pgt)"]
    )
    return out + info.missing("NUMBER(pgtable_l5_enabled)")


class PageTable:
    """Walks the crashed kernel's page tables through ``read_phys``."""

    def __init__(self, read_phys: ReadPhys, root_pa: int, five_level: bool, sme_mask: int = 0) -> None:
        self.read_phys = read_phys
        self.root_pa = root_pa
        self.five_level = five_level
        self.mask = ADDR_MASK & ~sme_mask
        self._cache: dict[int, Mapping | None] = {}
        self._tables: dict[int, bytes | None] = {}  # table pages read so far, by physical address
        self._ptes: dict[int, int] = {}  # page tables (of 4 KiB pages) by the 2 MiB of va they map

    @classmethod
    def from_vmcoreinfo(cls, info: VmcoreInfo, read_phys: ReadPhys) -> PageTable | None:
        """The kernel's page table (x86_64, or arm64 by its VMCOREINFO), or None when VMCOREINFO lacks its root."""
        from layoutc.dump.read import arm64  # arm64 builds on this module

        if arm64.is_arm64(info):
            return arm64.Arm64PageTable.from_info(info, read_phys)
        root = info.symbol("init_top_pgt")
        if root is None:
            root = info.symbol("init_level4_pgt")  # before 4.13
        l5 = info.number("pgtable_l5_enabled")
        if root is None or l5 is None:
            return None
        phys_base = info.number("phys_base") or 0
        return cls(read_phys, root - KERNEL_MAP + phys_base, bool(l5), info.number("sme_mask") or 0)

    def _entry(self, table: int, index: int) -> int | None:
        """Entry ``index`` of the table at ``table``: the table's page is read once, then kept (a
        run of 4 KiB mappings walks the same tables page after page)."""
        pa = table + index * 8
        base = pa & ~0xFFF
        if base in self._tables:
            page = self._tables[base]
        else:
            page = self._tables[base] = self.read_phys(base, 4096)
        if page is None or len(page) != 4096:  # part of the page is not in the source: read the entry alone
            raw = self.read_phys(pa, 8)
            return U64.unpack(raw)[0] if raw is not None else None
        entry: int = U64.unpack_from(page, pa - base)[0]
        return entry

    def mapping(self, va: int) -> Mapping | None:
        """The mapping that contains ``va``, or None when it is not mapped."""
        key = va >> 21
        if key in self._cache:
            hit = self._cache[key]
            if hit is None or hit.va <= va < hit.va + hit.size:
                return hit
        found = self._walk(va)
        if found is None or found.size >= 1 << 21:
            self._cache[key] = found
        return found

    def _walk(self, va: int) -> Mapping | None:
        table = self._ptes.get(va >> 21)  # the page table of these 2 MiB, when one was walked to
        if table is not None:
            shifts = [12]
        else:
            shifts = [48, 39, 30, 21, 12] if self.five_level else [39, 30, 21, 12]
            table = self.root_pa
        for level, shift in enumerate(shifts):
            entry = self._entry(table, (va >> shift) & 511)
            if entry is None or not entry & PRESENT:
                return None
            is_leaf = shift == 12 or (shift in (30, 21) and entry & PSE)
            if is_leaf:
                size = 1 << shift
                base = entry & self.mask & ~(size - 1)
                start = va & ~(size - 1)
                return Mapping(start, base, size)
            table = entry & self.mask
            if shift == 21:
                self._ptes[va >> 21] = table
            del level
        return None

    def translate(self, va: int) -> int | None:
        """The physical address of ``va``."""
        m = self.mapping(va)
        return None if m is None else m.pa + (va - m.va)

    def read(self, va: int, size: int) -> bytes | None:
        """``size`` bytes of kernel virtual memory, or None if any part is unmapped or absent."""
        out = []
        while size > 0:
            m = self.mapping(va)
            if m is None:
                return None
            n = min(size, m.va + m.size - va)
            chunk = self.read_phys(m.pa + (va - m.va), n)
            if chunk is None:
                return None
            out.append(chunk)
            va += n
            size -= n
        return b"".join(out)
