"""The dump window: legacy pmem from ``memmap=nn!ss``, devdax and dax/kmem (docs/reference/kernel-rules.md §3.3-3.5).

* memmap=nn!ss adds an E820_TYPE_PRAM (12) entry that outranks RAM (LNX:arch/x86/kernel/e820.c
  parse_memmap_one, __e820__update_table "larger value takes precedence"); the range leaves
  memblock.memory and becomes "Persistent Memory (legacy)" -> nd_e820 -> /dev/pmemN.
* raw -> devdax: LNX:drivers/nvdimm/pfn_devs.c nd_pfn_init() computes the data offset.
* devdax -> System RAM: LNX:drivers/dax/kmem.c dax_kmem_range() hot-adds whole memory blocks only.
"""

from __future__ import annotations

from dataclasses import dataclass

from layoutc.model.profile import DevdaxMap
from layoutc.model.units import KiB, MiB, align_down, align_up

PAGE_SIZE = 4096
INFO_BLOCK = 8 * KiB  # nd_pfn_init: "start + SZ_8K" (the pfn info block sits at +4K)
MAX_STRUCT_PAGE_SIZE = 64  # LNX:include/linux/mm_types.h MAX_STRUCT_PAGE_SIZE
MEMREMAP_COMPAT_ALIGN = 2 * MiB  # x86 memremap_compat_align(): SUBSECTION_SIZE
# LNX:drivers/nvdimm/region_devs.c default_align(): a region of at least 16 MiB gets
# MEMREMAP_COMPAT_ALIGN_MAX (16 MiB) as its align, and ndctl refuses to reconfigure a namespace
# whose size is not a multiple of it. Measured in the lab: a 258M window was refused with
# "align setting is 0x1000000 size 0x10200000 is misaligned"; 272M at 0x12f000000 worked.
# So a window's base and size are both multiples of 16 MiB.
REGION_ALIGN = 16 * MiB


@dataclass(frozen=True, slots=True)
class Devdax:
    """The arithmetic of one window's trip back to System RAM (all addresses physical, ends exclusive)."""

    base: int
    size: int
    map: DevdaxMap
    align: int
    block_size: int
    npfns: int
    dataoff: int
    end_trunc: int
    dax_start: int
    dax_end: int
    kmem_start: int
    kmem_end: int

    @property
    def blocks_returned(self) -> int:
        return max(0, (self.kmem_end - self.kmem_start) // self.block_size)

    @property
    def wasted(self) -> int:
        """Window bytes that do not come back as RAM."""
        return self.size - self.blocks_returned * self.block_size


def devdax(base: int, size: int, dmap: DevdaxMap, align: int, block_size: int) -> Devdax:
    """nd_pfn_init() then dax_kmem_range() for a window [base, base+size)."""
    npfns = (size - INFO_BLOCK) // PAGE_SIZE
    align = max(align, MEMREMAP_COMPAT_ALIGN)
    end_trunc = base + size - align_down(base + size, align)
    if dmap is DevdaxMap.DEV:
        # --map=dev: the struct pages (64 B per 4 KiB) live in the window itself.
        dataoff = align_up(base + INFO_BLOCK + MAX_STRUCT_PAGE_SIZE * npfns, align) - base
    else:
        # --map=mem: the struct pages come from System RAM.
        dataoff = align_up(base + INFO_BLOCK, align) - base
    dax_start, dax_end = base + dataoff, base + size - end_trunc
    kmem_start, kmem_end = align_up(dax_start, block_size), align_down(dax_end, block_size)
    if kmem_end < kmem_start:
        kmem_end = kmem_start
    return Devdax(
        base,
        size,
        dmap,
        align,
        block_size,
        npfns,
        dataoff,
        end_trunc,
        dax_start,
        dax_end,
        kmem_start,
        kmem_end,
    )


def dataoff_for(size: int, dmap: DevdaxMap, align: int) -> int:
    """The data offset of a window of ``size`` at an aligned base (what precedes the first returned block)."""
    return devdax(0, size, dmap, align, align).dataoff


def window_for_blocks(blocks: int, block_size: int, dmap: DevdaxMap, align: int) -> tuple[int, int]:
    """(size, lead) of a window that returns exactly ``blocks`` whole blocks.

    docs/reference/kernel-rules.md §3.5: base = k*BS - lead and size = blocks*BS + lead, where the lead is the devdax
    data offset rounded up to the region alignment (16 MiB, see REGION_ALIGN). With --map=dev the
    offset grows with the size, so iterate to the fixed point (it converges in a few steps).
    """
    lead = align_up(dataoff_for(blocks * block_size + REGION_ALIGN, dmap, align), REGION_ALIGN)
    for _ in range(16):
        size = blocks * block_size + lead
        nxt = align_up(dataoff_for(size, dmap, align), REGION_ALIGN)
        if nxt <= lead:
            return size, lead
        lead = nxt
    return blocks * block_size + lead, lead
