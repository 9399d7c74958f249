"""Kernel virtual → physical address translation on arm64 with 4 KiB pages (docs/reference/dump-formats.md §2.7).

The kernel tells its addresses apart the same way (LNX:arch/arm64/include/asm/memory.h
``__virt_to_phys_nodebug``, v6.1 and v7.2):

* the linear map ``[PAGE_OFFSET, PAGE_END)`` is arithmetic, ``__lm_to_phys``: ``(va - PAGE_OFFSET) +
  PHYS_OFFSET`` with ``PAGE_OFFSET = _PAGE_OFFSET(VA_BITS) = -(1 << VA_BITS)`` (the configured
  VA_BITS) and ``PAGE_END = -(1 << (min(VA_BITS, 48) - 1))``.  A 52-bit kernel on a CPU without
  LPA2 runs with 48-bit VAs; ``arm64_memblock_init()`` then lowers ``memstart_addr`` by
  ``_PAGE_OFFSET(48) - _PAGE_OFFSET(52)``, so the same sum, modulo 2^64, still holds with the
  ``NUMBER(PHYS_OFFSET)`` VMCOREINFO prints;
* the root of the kernel's page tables is an image symbol, ``__pa_symbol(swapper_pg_dir)`` =
  ``va - kimage_voffset`` (``__kimg_to_phys``);
* everything else (vmemmap, where the struct pages are; the kernel image; vmalloc) is walked
  through ``swapper_pg_dir`` as the MMU does: 4 levels for 48-bit VAs, 5 with LPA2
  (``NUMBER(TCR_EL1_T1SZ)`` 12: 52-bit VAs, 16 entries at level -1), where a descriptor's output
  address bits 51:50 sit in bits 9:8 (``__pte_to_phys`` with ``CONFIG_ARM64_PA_BITS_52`` and 4 KiB
  pages).  Blocks of 1 GiB and 2 MiB are cached as on x86.

Other configurations (16 or 64 KiB pages, 39- or 47-bit VAs) are refused up front by
:func:`problems`, naming the configuration.
"""

from __future__ import annotations

from layoutc.dump.read.pagetable import U64, Mapping, PageTable
from layoutc.dump.read.vmcoreinfo import VmcoreInfo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from layoutc.dump.read.pagetable import ReadPhys

EM_AARCH64 = 183
PAGE_SIZE = 4096
VA_BITS = (48, 52)
MASK64 = (1 << 64) - 1
OA_48 = 0x0000FFFFFFFFF000  # PTE_ADDR_LOW, 48-bit output addresses
OA_LPA2 = 0x0003FFFFFFFFF000  # bits 49:12; bits 51:50 come from descriptor bits 9:8
ROOT_KEYS = ("NUMBER(VA_BITS)", "NUMBER(PHYS_OFFSET)", "NUMBER(kimage_voffset)", "SYMBOL(swapper_pg_dir)")
SUPPORTED = "layoutc dump reads arm64 vmcores with 4 KiB pages and 48- or 52-bit virtual addresses"


def is_arm64(info: VmcoreInfo) -> bool:
    """Whether VMCOREINFO is an arm64 kernel's (arch_crash_save_vmcoreinfo writes these two)."""
    return "NUMBER(VA_BITS)" in info.raw or "NUMBER(kimage_voffset)" in info.raw


def vabits_actual(info: VmcoreInfo) -> int | None:
    """The VA size the kernel ran with: ``64 - TCR_EL1.T1SZ`` (5.9+), else the configured VA_BITS."""
    t1sz = info.number("TCR_EL1_T1SZ")
    return 64 - t1sz if t1sz is not None else info.number("VA_BITS")


def problems(info: VmcoreInfo) -> list[tuple[str, str]]:
    """``(key, problem)`` for an arm64 configuration the dumper cannot translate; empty when supported."""
    out: list[tuple[str, str]] = []
    if info.page_size not in (None, PAGE_SIZE):
        kib = (info.page_size or 0) // 1024
        out.append(("PAGESIZE", f"arm64 with {kib} KiB pages is not supported; {SUPPORTED}"))
        return out
    bits = info.number("VA_BITS")
    if bits is not None and bits not in VA_BITS:
        out.append(("NUMBER(VA_BITS)", f"arm64 with VA_BITS {bits} is not supported; {SUPPORTED}"))
        return out
    actual = vabits_actual(info)
    if bits is not None and actual is not None and (actual not in VA_BITS or actual > bits):
        out.append(
            (
                "NUMBER(TCR_EL1_T1SZ)",
                f"arm64 running with {actual}-bit virtual addresses (VA_BITS {bits}) is not supported; {SUPPORTED}",
            )
        )
    return out


def missing(info: VmcoreInfo) -> list[str]:
    """The VMCOREINFO keys the translation needs and lacks."""
    return info.missing(*ROOT_KEYS)


class Arm64PageTable(PageTable):
    """The crashed arm64 kernel's address space: linear map by arithmetic, the rest by a table walk."""

    def __init__(self, read_phys: ReadPhys, info: VmcoreInfo) -> None:
        bits = info.number("VA_BITS") or 48
        actual = vabits_actual(info) or bits
        self.lpa2 = actual == 52
        self.page_offset = -(1 << bits) & MASK64
        self.page_end = -(1 << (min(bits, 48) - 1)) & MASK64
        self.phys_offset = info.number("PHYS_OFFSET") or 0
        self.kimage_voffset = (info.number("kimage_voffset") or 0) & MASK64
        root = ((info.symbol("swapper_pg_dir") or 0) - self.kimage_voffset) & MASK64
        super().__init__(read_phys, root, self.lpa2)

    @classmethod
    def from_info(cls, info: VmcoreInfo, read_phys: ReadPhys) -> Arm64PageTable | None:
        """The table, or None when VMCOREINFO lacks a key it needs or names an unsupported configuration."""
        if missing(info) or problems(info) or info.page_size not in (None, PAGE_SIZE):
            return None
        return cls(read_phys, info)

    def linear(self, va: int) -> bool:
        """``__is_lm_address``: inside ``[PAGE_OFFSET, PAGE_END)``."""
        return (va - self.page_offset) & MASK64 < (self.page_end - self.page_offset) & MASK64

    def mapping(self, va: int) -> Mapping | None:
        """The 2 MiB piece of the linear map that holds ``va``, or the walked mapping."""
        if self.linear(va):
            start = va & ~((1 << 21) - 1)
            return Mapping(start, ((start - self.page_offset) + self.phys_offset) & MASK64, 1 << 21)
        return super().mapping(va)

    def _address(self, entry: int) -> int:
        if self.lpa2:
            return (entry & OA_LPA2) | ((entry >> 8) & 3) << 50
        return entry & OA_48

    def _walk(self, va: int) -> Mapping | None:
        shifts = (48, 39, 30, 21, 12) if self.lpa2 else (39, 30, 21, 12)
        table = self.root_pa
        for shift in shifts:
            index = (va >> shift) & (0xF if shift == 48 else 0x1FF)
            raw = self.read_phys(table + index * 8, 8)
            if raw is None:
                return None
            entry = U64.unpack(raw)[0]
            if not entry & 1:
                return None
            if shift == 12 or not entry & 2:  # a page, or a block (1 GiB at level 1, 2 MiB at level 2)
                if (shift == 12 and not entry & 2) or shift not in (30, 21, 12):
                    return None
                size = 1 << shift
                return Mapping(va & ~(size - 1), self._address(entry) & ~(size - 1), size)
            table = self._address(entry)
        return None
