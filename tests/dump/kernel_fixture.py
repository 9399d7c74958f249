"""A synthetic x86_64 kernel image for page-class filtering (docs/reference/dump-formats.md §6.4.3).

64 MiB of RAM with real 4-level page tables at SYMBOL(init_top_pgt) (2 MiB PSE mappings for the
direct map, __START_KERNEL_map and vmemmap), init_uts_ns, SPARSEMEM_EXTREME roots and 64-byte
struct pages of every class, with a 6.1-style VMCOREINFO.  ``Kernel.kept(level)`` is the
generator's own ground truth: the pfns makedumpfile keeps at that dump level.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import vmcore_fixtures as fixtures

PS = 4096
RAM = 64 << 20
PAGE_OFFSET = 0xFFFF888000000000
KERNEL_MAP = 0xFFFFFFFF80000000
VMEMMAP = 0xFFFFEA0000000000
PSE, PRESENT_RW = 0x80, 0x3

# physical placement
PGD, PUD_DM, PMD_DM, PUD_K, PMD_K, PUD_VM, PMD_VM, P4D_DM, P4D_K, P4D_VM = (0x1000000 + i * PS for i in range(10))
# 5-level paging (LA57) moves the direct map and vmemmap (docs/reference/dump-formats.md §2.2 defaults)
PAGE_OFFSET_L5 = 0xFF11000000000000
VMEMMAP_L5 = 0xFFD4000000000000
# KASLR randomizes page_offset_base and vmemmap_base (1 GiB aligned): nothing may assume defaults
PAGE_OFFSET_KASLR = 0xFFFF9C8000000000
VMEMMAP_KASLR = 0xFFFFD9C000000000
ROOTS_L5 = 131072  # NR_SECTION_ROOTS with MAX_PHYSMEM_BITS 52: 1 MiB of root pointers
SECTIONS_L5 = 0x1400000
UTS = 0x1010000
NODEMASK = 0x1011000
ROOTS = 0x1020000  # NR_SECTION_ROOTS pointers (16 KiB)
SECTIONS = 0x1024000  # the first root's array of struct mem_section
MEMMAP = 0x2000000  # vmemmap backing, one 2 MiB page

# 6.1 struct page (64 bytes)
PAGE = struct.Struct("<QQQQQQiiQ")  # flags, compound_head/lru.next, lru.prev, mapping, index, private,
#                                       _mapcount, _refcount, memcg_data
PG_LRU, PG_SWAPCACHE, PG_SLAB, PG_PRIVATE, PG_HEAD, PG_SWAPBACKED, PG_HWPOISON = 4, 10, 9, 13, 16, 19, 23
BUDDY, OFFLINE = -129, -257  # 6.1: ~PG_buddy, ~PG_offline in the page_type union
ANON_MAPPING = PAGE_OFFSET + 0x1234560 + 1  # PAGE_MAPPING_ANON
FILE_MAPPING = PAGE_OFFSET + 0x1234500

VMCOREINFO = f"""OSRELEASE=6.1.0-synthetic
PAGESIZE=4096
SYMBOL(init_uts_ns)={KERNEL_MAP + UTS:x}
OFFSET(uts_namespace.name)=0
SYMBOL(node_online_map)={KERNEL_MAP + NODEMASK:x}
SYMBOL(swapper_pg_dir)={KERNEL_MAP + PGD:x}
SYMBOL(_stext)={KERNEL_MAP + 0x1000000:x}
NUMBER(VMALLOC_START)=0xffffc90000000000
SYMBOL(mem_section)={KERNEL_MAP + ROOTS:x}
LENGTH(mem_section)=2048
SIZE(mem_section)=16
OFFSET(mem_section.section_mem_map)=0
NUMBER(SECTION_SIZE_BITS)=27
NUMBER(MAX_PHYSMEM_BITS)=46
SIZE(page)=64
SIZE(pglist_data)=172032
SIZE(zone)=1600
SIZE(free_area)=104
SIZE(list_head)=16
SIZE(nodemask_t)=128
OFFSET(page.flags)=0
OFFSET(page._refcount)=52
OFFSET(page.mapping)=24
OFFSET(page.lru)=8
OFFSET(page._mapcount)=48
OFFSET(page.private)=40
OFFSET(page.compound_dtor)=16
OFFSET(page.compound_order)=17
OFFSET(page.compound_head)=8
LENGTH(zone.free_area)=11
NUMBER(NR_FREE_PAGES)=0
NUMBER(PG_lru)={PG_LRU}
NUMBER(PG_private)={PG_PRIVATE}
NUMBER(PG_swapcache)={PG_SWAPCACHE}
NUMBER(PG_swapbacked)={PG_SWAPBACKED}
NUMBER(PG_slab)={PG_SLAB}
NUMBER(PG_hwpoison)={PG_HWPOISON}
NUMBER(PG_head_mask)={1 << PG_HEAD}
NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)={BUDDY}
NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)={OFFLINE}
NUMBER(HUGETLB_PAGE_DTOR)=2
NUMBER(phys_base)=0
SYMBOL(init_top_pgt)={KERNEL_MAP + PGD:x}
NUMBER(pgtable_l5_enabled)=0
KERNELOFFSET=0
NUMBER(KERNEL_IMAGE_SIZE)=1073741824
NUMBER(sme_mask)=0
CRASHTIME=1700000000
"""


def _v612(text: str) -> str:
    """The 6.12+ VMCOREINFO: folio fields instead of compound_order/dtor, page types PGTY << 24,
    slab as a page type (no PG_slab), SYMBOL(vmemmap)."""
    drop = (
        "OFFSET(page.compound_dtor)",
        "OFFSET(page.compound_order)",
        "NUMBER(PG_slab)",
        "NUMBER(HUGETLB_PAGE_DTOR)",
        "NUMBER(PAGE_BUDDY",
        "NUMBER(PAGE_OFFLINE",
        "OSRELEASE",
    )
    lines = [ln for ln in text.splitlines() if not ln.startswith(drop)]
    lines = (
        ["OSRELEASE=6.12.0-synthetic"]
        + lines
        + [
            f"SYMBOL(vmemmap)={VMEMMAP:x}",
            f"NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)={PGTY['buddy']}",
            f"NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)={PGTY['offline']}",
            f"NUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE)={PGTY['hugetlb']}",
            f"NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)={PGTY['slab']}",
            f"NUMBER(PAGE_UNACCEPTED_MAPCOUNT_VALUE)={PGTY['unaccepted']}",
        ]
    )
    return "\n".join(lines) + "\n"


# 6.12+: page_type = PGTY_x << 24 (include/linux/page-flags.h), as a signed 32-bit _mapcount
PGTY = {
    k: ((v << 24) ^ 0x80000000) - 0x80000000
    for k, v in {"buddy": 0xF0, "offline": 0xF1, "hugetlb": 0xF4, "slab": 0xF5, "unaccepted": 0xF7}.items()
}
VMCOREINFO_612 = _v612(VMCOREINFO)
# Linux 7.1+: the tail word is OFFSET(page.compound_info) (kernel commit "mm: rename the
# 'compound_head' field in the 'struct page' to 'compound_info'"); with a power-of-2 struct page
# under SPARSEMEM_VMEMMAP a tail stores GENMASK(63, order + log2(SIZE(page))) | 1 instead of
# head | 1 ("mm: rework compound_head() for power-of-2 sizeof(struct page)").
VMCOREINFO_71 = VMCOREINFO_612.replace("OSRELEASE=6.12.0-synthetic", "OSRELEASE=7.1.0-synthetic").replace(
    "OFFSET(page.compound_head)=8", "OFFSET(page.compound_info)=8"
)
U64_MASK = (1 << 64) - 1


def tail_mask(order: int) -> int:
    """compound_info of a tail page on 7.1+ (64-byte struct page): the mask, bit 0 set."""
    return (U64_MASK & ~((1 << (order + 6)) - 1)) | 1


@dataclass
class PageSpec:
    flags: int = 0
    head: int = 0
    mapping: int = 0
    private: int = 0
    mapcount: int = -1
    refcount: int = 1
    dtor_order: tuple[int, int] | None = None  # for the first tail of a compound page


# Ground-truth classes by pfn range, as makedumpfile decides them (docs/reference/dump-formats.md §2.3).
CLASSES: list[tuple[str, int, int]] = [
    ("free", 0x400, 0x800),  # order-10 buddy block
    ("free", 0x808, 0x810),  # order-3 buddy block
    ("cache", 0x900, 0xA00),  # LRU page cache
    ("cache_private", 0xA00, 0xA80),  # LRU + PG_private
    ("cache", 0xA80, 0xB00),  # swap cache
    ("user", 0xB00, 0xC00),  # anon
    ("user", 0xC00, 0xE00),  # an anonymous THP: head + 511 tails
    ("user", 0x1200, 0x1400),  # a hugetlb page, order 9 (file-backed, excluded as user data)
    ("slab", 0xE00, 0xE40),  # kept
    ("hwpoison", 0xE40, 0xE44),  # always dropped
    ("offline", 0xE50, 0xE60),  # always dropped
]
ZERO_PAGES = (0x3000, 0x3100)
# 6.12 only: unaccepted memory (a page type on the first page of a MAX_ORDER block, 1024 pages).
UNACCEPTED = ("free", 0x1800, 0x1C00)
# 7.1 only: an order-1 slab page whose tail's mapping slot (folio _large_mapcount etc.) reads odd,
# as on a real 7.2 vmcore: only the tail word tells it is not an anonymous page.
SLAB_COMPOUND = ("slab", 0xE60, 0xE62)
LEVEL_BITS = {"cache": 2 | 4, "cache_private": 4, "user": 8, "free": 16, "hwpoison": -1, "offline": -1}


@dataclass
class Kernel:
    generation: str = "6.1"  # or "6.12", "7.1"
    ram: int = RAM  # bytes, at most 1 GiB (one PMD table per mapping)
    extreme: bool = True  # SPARSEMEM_EXTREME (roots of pointers) or a flat mem_section array
    five_level: bool = False  # 5-level page tables (NUMBER(pgtable_l5_enabled)=1)
    kaslr: bool = False  # randomized page_offset_base and vmemmap_base (4-level)
    # A randomized kernel image: KERNELOFFSET moves its virtual addresses, phys_shift its physical
    # placement; phys_base = phys_shift - KERNELOFFSET (negative when only the virtual side moved,
    # printed signed as the kernel does). Both 2 MiB aligned (the image is mapped with PMD pages).
    kernel_offset: int = 0
    phys_shift: int = 0
    pages: dict[int, PageSpec] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for cls, lo, hi in self.classes:
            for pfn in range(lo, hi):
                self.pages[pfn] = self._spec(cls, pfn, lo)

    @property
    def phys_base(self) -> int:
        return self.phys_shift - self.kernel_offset

    def kva(self, pa: int) -> int:
        """Kernel-image virtual address of physical ``pa`` (``__va_symbol``)."""
        return KERNEL_MAP + pa - self.phys_base

    @property
    def page_offset(self) -> int:
        if self.kaslr:
            return PAGE_OFFSET_KASLR
        return PAGE_OFFSET_L5 if self.five_level else PAGE_OFFSET

    @property
    def vmemmap(self) -> int:
        if self.kaslr:
            return VMEMMAP_KASLR
        return VMEMMAP_L5 if self.five_level else VMEMMAP

    @property
    def fixture_release(self) -> bytes:
        """utsname.release in the fixture's init_uts_ns."""
        return f"{self.generation}.0-synthetic".encode()

    @property
    def classes(self) -> list[tuple[str, int, int]]:
        """Ground-truth class ranges of this generation."""
        return CLASSES + ([UNACCEPTED] if self.new else []) + ([SLAB_COMPOUND] if self.compound_info else [])

    @property
    def compound_info(self) -> bool:
        return self.generation == "7.1"

    @property
    def new(self) -> bool:
        return self.generation != "6.1"

    def _compound(self, pfn: int, lo: int, head: PageSpec, dtor: int) -> PageSpec:
        if pfn == lo:
            return head
        tail = PageSpec(head=tail_mask(9) if self.compound_info else (self.vmemmap + lo * 64) | 1)
        if pfn == lo + 1:
            if self.new:
                tail.flags = 9  # folio._flags_1: the order in the low byte
            else:
                tail.dtor_order = (dtor, 9)
        return tail

    def _spec(self, cls: str, pfn: int, lo: int) -> PageSpec:
        if cls == "free" and lo == UNACCEPTED[1]:
            return PageSpec(mapcount=PGTY["unaccepted"], refcount=0) if pfn == lo else PageSpec(refcount=0)
        if cls == "free":
            order = (0x800 - 0x400).bit_length() - 1 if lo == 0x400 else 3
            buddy = PGTY["buddy"] if self.new else BUDDY
            return PageSpec(mapcount=buddy, private=order, refcount=0) if pfn == lo else PageSpec(refcount=0)
        if cls == "cache":
            if lo == 0xA80:
                return PageSpec(flags=1 << PG_SWAPCACHE | 1 << PG_SWAPBACKED, mapping=0)
            return PageSpec(flags=1 << PG_LRU, mapping=FILE_MAPPING)
        if cls == "cache_private":
            return PageSpec(flags=1 << PG_LRU | 1 << PG_PRIVATE, mapping=FILE_MAPPING, private=0x1)
        if cls == "user" and lo == 0xC00:  # THP (6.1: TRANSHUGE_PAGE_DTOR = 3)
            return self._compound(pfn, lo, PageSpec(flags=1 << PG_HEAD | 1 << PG_LRU, mapping=ANON_MAPPING), 3)
        if cls == "user" and lo == 0x1200:  # hugetlb (6.1: HUGETLB_PAGE_DTOR = 2; 6.12: a page type)
            head = PageSpec(flags=1 << PG_HEAD, mapping=FILE_MAPPING, mapcount=PGTY["hugetlb"] if self.new else -1)
            return self._compound(pfn, lo, head, 2)
        if cls == "user":
            return PageSpec(flags=1 << PG_LRU | 1 << PG_SWAPBACKED, mapping=ANON_MAPPING)
        if cls == "slab" and lo == SLAB_COMPOUND[1]:
            if pfn == lo:
                return PageSpec(flags=1 << PG_HEAD, mapcount=PGTY["slab"])
            return PageSpec(flags=1, head=tail_mask(1), mapping=0xFFFFFFFF)  # _flags_1: order 1
        if cls == "slab":
            return PageSpec(mapcount=PGTY["slab"]) if self.new else PageSpec(flags=1 << PG_SLAB)
        if cls == "hwpoison":
            return PageSpec(flags=1 << PG_HWPOISON)
        if cls == "offline":
            return PageSpec(mapcount=PGTY["offline"] if self.new else OFFLINE)
        raise ValueError(cls)

    def cls(self, pfn: int) -> str | None:
        for cls, lo, hi in self.classes:
            if lo <= pfn < hi:
                return cls
        return None

    def struct_page(self, pfn: int) -> bytes:
        s = self.pages.get(pfn, PageSpec())
        raw = bytearray(PAGE.pack(s.flags, s.head, 0, s.mapping, 0, s.private, s.mapcount, s.refcount, 0))
        if s.dtor_order:
            raw[16], raw[17] = s.dtor_order
        return bytes(raw)

    def fixture(self) -> fixtures.Fixture:
        info = VMCOREINFO_71 if self.compound_info else VMCOREINFO_612 if self.new else VMCOREINFO
        if not self.extreme:  # LENGTH(mem_section) = NR_MEM_SECTIONS = 1 << (46 - 27)
            info = info.replace("LENGTH(mem_section)=2048", "LENGTH(mem_section)=524288")
        if self.kaslr:
            info = info.replace(f"SYMBOL(vmemmap)={VMEMMAP:x}", f"SYMBOL(vmemmap)={VMEMMAP_KASLR:x}")
        if self.five_level:
            info = info.replace("NUMBER(pgtable_l5_enabled)=0", "NUMBER(pgtable_l5_enabled)=1")
            info = info.replace(f"SYMBOL(vmemmap)={VMEMMAP:x}", f"SYMBOL(vmemmap)={VMEMMAP_L5:x}")
            info = info.replace("NUMBER(MAX_PHYSMEM_BITS)=46", "NUMBER(MAX_PHYSMEM_BITS)=52")
            info = info.replace("NUMBER(VMALLOC_START)=0xffffc90000000000", "NUMBER(VMALLOC_START)=0xffa0000000000000")
            info = info.replace("LENGTH(mem_section)=2048", f"LENGTH(mem_section)={ROOTS_L5}")
        if self.kernel_offset or self.phys_shift:
            info = self._relocate(info)
        fx = fixtures.Fixture(
            ranges=[(0x1000, 0x9F000 - 0x1000), (0x100000, self.ram - 0x100000)],
            vmcoreinfo=info,
            zero_run=ZERO_PAGES,
            page_offset=self.page_offset,
        )
        o = fx.overrides
        table = lambda entries: b"".join(struct.pack("<Q", e) for e in entries)  # noqa: E731
        po, vm = self.page_offset, self.vmemmap
        pgd = [0] * 512
        mappings = ((po, P4D_DM, PUD_DM), (KERNEL_MAP, P4D_K, PUD_K), (vm, P4D_VM, PUD_VM))
        for va, p4d_page, pud_page in mappings:
            if self.five_level:
                pgd[(va >> 48) & 511] = p4d_page | PRESENT_RW
                p4d = [0] * 512
                p4d[(va >> 39) & 511] = pud_page | PRESENT_RW
                o[p4d_page // PS] = table(p4d)
            else:
                pgd[(va >> 39) & 511] = pud_page | PRESENT_RW
        o[PGD // PS] = table(pgd)
        pud = [0] * 512
        pud[(po >> 30) & 511] = PMD_DM | PRESENT_RW
        o[PUD_DM // PS] = table(pud)
        o[PMD_DM // PS] = table([(i << 21) | PSE | PRESENT_RW if i < self.ram >> 21 else 0 for i in range(512)])
        pud = [0] * 512
        pud[(KERNEL_MAP >> 30) & 511] = PMD_K | PRESENT_RW
        o[PUD_K // PS] = table(pud)
        # __START_KERNEL_map + i * 2 MiB maps to i * 2 MiB + phys_base (only where that is RAM)
        kmap = [(i << 21) + self.phys_base for i in range(512)]
        o[PMD_K // PS] = table([pa | PSE | PRESENT_RW if 0 <= pa < self.ram else 0 for pa in kmap])
        pud = [0] * 512
        pud[(vm >> 30) & 511] = PMD_VM | PRESENT_RW
        o[PUD_VM // PS] = table(pud)
        npfn = self.ram // PS
        vm_pages = -(-npfn * 64 // (2 << 20))  # 2 MiB vmemmap mappings
        o[PMD_VM // PS] = table([MEMMAP + (i << 21) | PSE | PRESENT_RW if i < vm_pages else 0 for i in range(512)])
        uts = b"".join(
            f.ljust(65, b"\0")
            for f in (
                b"Linux",
                b"synthetic",
                self.fixture_release,
                b"#1 SMP PREEMPT_DYNAMIC",
                b"x86_64",
                b"(none)",
            )
        )
        o[UTS // PS] = uts.ljust(PS, b"\0")
        o[NODEMASK // PS] = b"\x01".ljust(PS, b"\0")
        nsec = -(-self.ram // (128 << 20))
        # present, has mem_map, online; coded mem_map: struct page va of pfn = VMEMMAP + pfn * 64
        sections = (struct.pack("<QQ", vm | 0x7, 0) * nsec).ljust(PS, b"\0")
        if self.extreme:
            nroots, at = (ROOTS_L5, SECTIONS_L5) if self.five_level else (2048, SECTIONS)
            roots = [po + at] + [0] * (nroots - 1)
            for i in range(nroots // 512):
                o[ROOTS // PS + i] = table(roots[i * 512 : (i + 1) * 512])
            o[at // PS] = sections
        else:
            o[ROOTS // PS] = sections  # the flat array (only its first page is non-zero)
        for page in range(npfn * 64 // PS):
            first = page * PS // 64
            o[MEMMAP // PS + page] = b"".join(self.struct_page(p) for p in range(first, first + PS // 64))
        for page in range(npfn * 64 // PS, vm_pages * 512):
            o[MEMMAP // PS + page] = bytes(PS)
        return fx

    def _relocate(self, info: str) -> str:
        """Kernel-image symbols at their randomized addresses; KERNELOFFSET and phys_base to match."""
        out = []
        for line in info.splitlines():
            key, _, value = line.partition("=")
            if key.startswith("SYMBOL(") and int(value, 16) >= KERNEL_MAP:
                line = f"{key}={self.kva(int(value, 16) - KERNEL_MAP):x}"
            elif key == "KERNELOFFSET":
                line = f"KERNELOFFSET={self.kernel_offset:x}"
            elif key == "NUMBER(phys_base)":
                line = f"NUMBER(phys_base)={self.phys_base}"
            out.append(line)
        return "\n".join(out) + "\n"

    def kept(self, fx: fixtures.Fixture, level: int, zero_in_bitmap: bool = True) -> set[int]:
        """The pfns a dump at ``level`` keeps (ground truth).

        In kdump output zero pages stay in bitmap 2 (they share one page_desc), so by default
        only the class exclusions count.
        """
        out = set()
        for pfn in fx.pfns():
            if pfn in fx.nodata_pfns():
                continue
            cls = self.cls(pfn)
            bits = LEVEL_BITS.get(cls or "", 0)
            if bits == -1 or bits & level:
                continue
            if level & 1 and not zero_in_bitmap and fixtures.expected_page(fx, pfn) == bytes(PS):
                continue
            out.add(pfn)
        return out
