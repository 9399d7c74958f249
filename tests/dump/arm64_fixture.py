"""A synthetic arm64 kernel for the dumper (docs/dumper.md, arm64): 4 KiB pages, RAM at 1 GiB as on QEMU virt.

The struct pages and their ground truth are :class:`kernel_fixture.Kernel`'s (the 7.1+ layout: folios,
page types, ``compound_info``), moved up by PHYS_OFFSET.  ``va_bits=52`` is the Debian 7.2 kernel on
an LPA2 CPU: 5-level tables from ``swapper_pg_dir`` (16 entries at level -1), SYMBOL(vmemmap);
``va_bits=48`` is a 4-level kernel (as Debian 6.1) whose struct pages are found through
``mem_section``, with the shareability bits 9:8 set in every descriptor as a 48-bit kernel sets them.
The kernel image is mapped with 4 KiB pages, vmemmap and the linear map with 2 MiB blocks.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import kernel_fixture as kf
import vmcore_fixtures as fixtures

PS = 4096
BASE = 0x40000000  # PHYS_OFFSET: RAM starts at 1 GiB on QEMU virt
BASE_PFN = BASE // PS
M64 = (1 << 64) - 1
# physical placement, relative to BASE (the class pfns of kernel_fixture.CLASSES stay clear of these)
TABLES = 0x1000000  # page-table pages, allocated upwards
UTS, NODEMASK = 0x1010000, 0x1011000  # inside the kernel image
IMAGE = 0x1000000  # the kernel image's first 2 MiB, mapped with 4 KiB pages
ROOTS = 0x1100000  # NR_SECTION_ROOTS pointers, memblock (linear map)
SECTIONS = 0x1500000
MEMMAP = 0x2000000  # vmemmap backing, one 2 MiB block
KASLR = 0x2C8000000  # KERNELOFFSET, 2 MiB aligned
AF_VALID, TABLE_BITS, SHARED = 0x401, 0x3, 0x300


@dataclass
class Arm64Kernel(kf.Kernel):
    va_bits: int = 52

    def __post_init__(self) -> None:
        self.generation = "7.1"
        super().__post_init__()

    @property
    def page_offset(self) -> int:
        return -(1 << self.va_bits) & M64

    @property
    def kimage_vaddr(self) -> int:
        # KIMAGE_VADDR = MODULES_END: _PAGE_END(48) + 128 MiB (6.1) or + 2 GiB (7.x), plus KASLR
        return 0xFFFF800000000000 + (0x80000000 if self.va_bits == 52 else 0x8000000) + KASLR

    @property
    def kimage_voffset(self) -> int:
        return (self.kimage_vaddr - (BASE + IMAGE)) & M64

    @property
    def vmemmap_start(self) -> int:
        if self.va_bits == 52:  # 6.9+: VMEMMAP_END = -SZ_1G, VMEMMAP_SIZE = (_PAGE_END(48) - PAGE_OFFSET) >> 6
            return (-(1 << 30) - ((0xFFFF800000000000 - self.page_offset) >> 6)) & M64
        return -(1 << (48 - 6)) & M64  # 6.1: -(1 << (VA_BITS - VMEMMAP_SHIFT))

    @property
    def vmemmap(self) -> int:
        return (self.vmemmap_start - BASE_PFN * 64) & M64  # the kernel's vmemmap: struct page of pfn 0

    def linear(self, pa: int) -> int:
        return (pa - BASE + self.page_offset) & M64

    def image(self, rel: int) -> int:
        return self.kimage_vaddr + rel - IMAGE

    def cls(self, pfn: int) -> str | None:
        return super().cls(pfn - BASE_PFN)

    def struct_page(self, pfn: int) -> bytes:
        return super().struct_page(pfn - BASE_PFN)

    def vmcoreinfo(self) -> str:
        drop = ("SYMBOL(", "NUMBER(pgtable_l5", "NUMBER(phys_base", "NUMBER(sme_mask", "NUMBER(KERNEL_IMAGE")
        drop += ("NUMBER(VMALLOC", "KERNELOFFSET", "LENGTH(mem_section)", "NUMBER(MAX_PHYSMEM", "OSRELEASE", "CRASH")
        lines = [ln for ln in kf.VMCOREINFO_71.splitlines() if not ln.startswith(drop)]
        roots = 1 << (self.va_bits - 27 - 8)  # NR_MEM_SECTIONS / SECTIONS_PER_ROOT (256 with 16-byte sections)
        head = [
            f"OSRELEASE={'7.2.13' if self.va_bits == 52 else '6.1.0'}-synthetic-arm64",
            f"SYMBOL(init_uts_ns)={self.image(UTS):x}",
            f"SYMBOL(node_online_map)={self.image(NODEMASK):x}",
            f"SYMBOL(swapper_pg_dir)={self.image(TABLES):x}",
            f"SYMBOL(_stext)={self.image(IMAGE) + 0x10000:x}",
            f"SYMBOL(mem_section)={self.linear(BASE + ROOTS):x}",
            f"LENGTH(mem_section)={roots}",
            f"NUMBER(MAX_PHYSMEM_BITS)={self.va_bits}",
        ]
        if self.va_bits == 52:
            head.append(f"SYMBOL(vmemmap)={self.vmemmap:x}")
        tail = [
            f"NUMBER(VA_BITS)={self.va_bits}",
            f"NUMBER(VMEMMAP_START)=0x{self.vmemmap_start:x}",
            f"NUMBER(kimage_voffset)=0x{self.kimage_voffset:x}",
            f"NUMBER(PHYS_OFFSET)=0x{BASE:x}",
            f"NUMBER(TCR_EL1_T1SZ)=0x{64 - self.va_bits:x}",
            f"KERNELOFFSET={KASLR:x}",
            "CRASHTIME=1700000000",
        ]
        return "\n".join(head + lines + tail) + "\n"

    def fixture(self) -> fixtures.Fixture:
        fx = fixtures.Fixture(
            ranges=[(BASE, self.ram)],
            vmcoreinfo=self.vmcoreinfo(),
            zero_run=(kf.ZERO_PAGES[0] + BASE_PFN, kf.ZERO_PAGES[1] + BASE_PFN),
            page_offset=(self.page_offset - BASE) & M64,
            e_machine=183,
        )
        self._tables(fx.overrides)
        o, base = fx.overrides, BASE_PFN
        uts = (b"Linux", b"synthetic", self.fixture_release, b"#1 SMP PREEMPT_DYNAMIC", b"aarch64", b"(none)")
        o[base + UTS // PS] = b"".join(f.ljust(65, b"\0") for f in uts).ljust(PS, b"\0")
        o[base + NODEMASK // PS] = b"\x01".ljust(PS, b"\0")
        sections = bytearray(PS)  # section 8 holds pfn 0x40000: present, has mem_map, online
        first = BASE_PFN >> 15
        for nr in range(first, first + -(-self.ram // (128 << 20))):
            struct.pack_into("<QQ", sections, nr * 16, self.vmemmap | 0x7, 0)
        roots = 1 << (self.va_bits - 27 - 8)
        for page in range(roots * 8 // PS):
            o[base + ROOTS // PS + page] = bytes(PS)
        o[base + ROOTS // PS] = struct.pack("<Q", self.linear(BASE + SECTIONS)).ljust(PS, b"\0")
        o[base + SECTIONS // PS] = bytes(sections)
        npfn = self.ram // PS
        for page in range(512):
            first_pfn = BASE_PFN + page * PS // 64
            o[base + MEMMAP // PS + page] = (
                b"".join(self.struct_page(p) for p in range(first_pfn, first_pfn + PS // 64))
                if page < npfn * 64 // PS
                else bytes(PS)
            )
        return fx

    def _tables(self, o: dict[int, bytes]) -> None:
        """swapper_pg_dir and below: the image with 4 KiB pages, vmemmap and the linear map with 2 MiB blocks."""
        tables: dict[int, list[int]] = {TABLES: [0] * 512}
        extra = SHARED if self.va_bits == 48 else 0
        shifts = (48, 39, 30, 21) if self.va_bits == 52 else (39, 30, 21)

        def walk_to(va: int, leaf_shift: int) -> list[int]:
            table = TABLES
            for shift in shifts + ((12,) if leaf_shift == 12 else ()):
                if shift == leaf_shift:
                    return tables[table]
                index = (va >> shift) & (0xF if shift == 48 else 0x1FF)
                entry = tables[table][index]
                if not entry:
                    nxt = TABLES + len(tables) * PS
                    tables[nxt] = [0] * 512
                    entry = tables[table][index] = BASE + nxt | TABLE_BITS | extra
                table = (entry & 0xFFFFFFFFF000) - BASE
            raise AssertionError(leaf_shift)

        for i in range(512):  # the image's first 2 MiB, 4 KiB pages (AF | page | valid)
            va = self.image(IMAGE) + i * PS
            walk_to(va, 12)[(va >> 12) & 511] = BASE + IMAGE + i * PS | 0x403 | extra
        blocks = [(self.vmemmap_start, BASE + MEMMAP)]  # pfn 0x40000's struct page first
        blocks += [(self.linear(BASE + off), BASE + off) for off in range(0, self.ram, 2 << 20)]
        for va, pa in blocks:
            walk_to(va, 21)[(va >> 21) & 511] = pa | AF_VALID | extra
        assert len(tables) < 16, "page-table pages overrun UTS"
        for at, entries in tables.items():
            o[BASE_PFN + at // PS] = struct.pack("<512Q", *entries)
