"""arm64 boot-time memory: the DMA zone, the default reservations and where each lands
(docs/reference/kernel-rules.md §8).

Read at v6.1 and v7.2 and checked against Debian arm64 6.1.0-57 and 7.2.13 under QEMU ``-machine
virt`` (direct ``-kernel`` boot with a device tree, RAM at 0x40000000; tests/solver/test_arm64.py):

* Zones: LNX:arch/arm64/mm/init.c zone_sizes_init / max_zone_phys: ZONE_DMA ends at
  ``arm64_dma_phys_limit`` = min(4 GiB, end of DRAM) (all of DRAM when it starts above 4 GiB);
  ZONE_DMA32 ends there too (empty); Normal above. Measured: DMA 0x40000000-0xffffffff.
* Boot order: LNX:arch/arm64/mm/init.c bootmem_init: NUMA (NODE_DATA), sparse_init (struct pages,
  top-down on each node), dma_contiguous_reserve(arm64_dma_phys_limit) (LNX:kernel/dma/contiguous.c:
  the default CMA, and on 7.x dma_numa_cma_reserve), then the crash reservation (6.1
  reserve_crashkernel in the same file; 7.2 arch_reserve_crashkernel ->
  LNX:kernel/crash_reserve.c reserve_crashkernel_generic); later mem_init -> swiotlb_init
  (LNX:kernel/dma/swiotlb.c swiotlb_memblock_alloc: memblock_alloc_low, top-down below the DMA limit).
* arm64 never offlines boot memory (an arch memory notifier vetoes MEM_GOING_OFFLINE for early
  sections; measured EPERM on 6.1 and 7.2), so no rule here relies on offlining a boot block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from layoutc.kernel import crashkernel
from layoutc.kernel.memblock import Present, linear_map_tables, node_end, nodes_of
from layoutc.model.intervals import subtract
from layoutc.model.profile import KernelVersion
from layoutc.model.units import GiB, KiB, MiB, align_down, align_up

DMA_ZONE_LIMIT = 4 * GiB  # max_zone_phys(32): zone_dma_bits is at most 32
DEFAULT_CMA = 64 * MiB  # CONFIG_CMA_SIZE_MBYTES=64 in Debian's arm64 6.1 and 7.2 (dma_contiguous_reserve)
NUMA_CMA = 64 * MiB  # 7.x DMA_NUMA_CMA: one area per node when there is more than one (measured, 7.2.13)
CMA_ALIGN = 4 * MiB  # CMA_MIN_ALIGNMENT_BYTES with 4K pages (one MAX_ORDER block)
SWIOTLB = 64 * MiB  # LNX:kernel/dma/swiotlb.c IO_TLB_DEFAULT_SIZE
CRASH_LOW_DEFAULT = 128 * MiB  # LNX:arch/arm64/include/asm/crash_reserve.h DEFAULT_CRASH_KERNEL_LOW_SIZE
# Reserved at the top of the highest node when crashkernel= is placed: the linear map's page tables
# (LNX:arch/arm64/mm/mmu.c map_mem, early_pgtable_alloc) plus 2 MiB; measured crashkernel=256M,high
# on 8G two nodes (7.2): 0x22ee00000-0x23edfffff, 18 MiB under the top.
CRASH_TIME_SLACK = 2 * MiB
# QEMU hw/arm/boot.c load_aarch64_image: an Image whose text_offset is below the boot stub's size is
# loaded 2 MiB above the start of RAM; the initrd goes MIN(ram_size / 2, 128 MiB) above it.
QEMU_IMAGE_OFFSET = 2 * MiB
QEMU_INITRD_OFFSET = 128 * MiB
# 6.1 reports "Kernel code" from _stext, 64 KiB above the load address (measured 0x40210000).
STEXT_OFFSET_61 = 64 * KiB


def dma_limit(present: Sequence[Present]) -> int:
    """arm64_dma_phys_limit: min(4 GiB, end of DRAM), or the end of DRAM when DRAM starts above 4 GiB.

    LNX:arch/arm64/mm/init.c max_zone_phys (v6.1, v7.2)."""
    start, end = min(p.start for p in present), max(p.end for p in present)
    if start >= DMA_ZONE_LIMIT:
        return end
    return min(DMA_ZONE_LIMIT, end)


def zone_of(address: int, present: Sequence[Present], movable: Sequence[tuple[int, int]]) -> str:
    """The zone a present byte lands in on arm64: Movable, else DMA below the DMA limit, else Normal."""
    if any(s <= address < e for s, e in movable):
        return "Movable"
    return "DMA" if address < dma_limit(present) else "Normal"


def direct_image(present: Sequence[Present], image_size: int, version: KernelVersion) -> tuple[int, int]:
    """The kernel image under QEMU's direct boot: RAM start + 2 MiB (physical KASLR is the EFI stub's only).

    The range starts where the kernel reports "Kernel code": 0x40200000 on 7.2, 0x40210000 on 6.1."""
    start = min(p.start for p in present) + QEMU_IMAGE_OFFSET
    if not version.at_least(7, 0):
        start += STEXT_OFFSET_61
    return start, start + align_up(image_size, 2 * MiB)


def direct_initrd_start(present: Sequence[Present]) -> int:
    """QEMU's initrd address: loader start + MIN(ram_size / 2, 128 MiB) (measured 0x48000000)."""
    ram = sum(p.size for p in present)
    return min(p.start for p in present) + min(ram // 2, QEMU_INITRD_OFFSET)


def crash_time_tops(present: Sequence[Present]) -> tuple[tuple[int, int], ...]:
    """What the node tops hold when crashkernel= is placed: the linear map's tables on the highest node."""
    top_node = max(nodes_of(present), key=lambda n: node_end(present, n))
    pages = sum(p.size for p in present) // 4096
    end = node_end(present, top_node)
    size = align_up(linear_map_tables(pages), 2 * MiB) + CRASH_TIME_SLACK
    return ((end - size, end),)


@dataclass(frozen=True, slots=True)
class Arm64Boot:
    """Where the arm64 kernel puts its default reservations and the crash memory ([start, end))."""

    cma: tuple[tuple[int, int], ...]  # the default area first, then the per-node areas (7.x NUMA)
    cma_nodes: tuple[int | None, ...]
    crash: crashkernel.Reservation
    swiotlb: tuple[int, int] | None


def _top_down(free: Sequence[tuple[int, int]], size: int, align: int, low: int, high: int) -> int | None:
    return crashkernel.find_top_down(free, size, align, low, high)


def numa_cma(present: Sequence[Present], free: Sequence[tuple[int, int]],
             version: KernelVersion) -> tuple[tuple[tuple[int, int], int], ...]:
    """7.x dma_numa_cma_reserve (LNX:kernel/dma/contiguous.c): with more than one node, 64 MiB per node.

    cma_declare_contiguous_nid (LNX:mm/cma.c) tries bottom-up from 4 GiB on the node first; measured
    0x100000000 on node 0 and 0x140000000 (the bottom of node 1) on 8G two nodes; 6.1 has none."""
    nodes = nodes_of(present)
    if not version.at_least(7, 0) or len(nodes) < 2:
        return ()
    out = []
    current = list(free)
    for node in nodes:
        spans = [(max(s, p.start), min(e, p.end)) for p in present if p.node == node for s, e in current]
        spans = [r for r in spans if r[1] > r[0]]
        base = crashkernel.find_bottom_up(spans, NUMA_CMA, CMA_ALIGN, DMA_ZONE_LIMIT, node_end(present, node))
        if base is None:
            base = _top_down(spans, NUMA_CMA, CMA_ALIGN, 0, node_end(present, node))
        if base is not None:
            out.append(((base, base + NUMA_CMA), node))
            current = list(subtract(current, [(base, base + NUMA_CMA)]))
    return tuple(out)


def swiotlb_size(present: Sequence[Present], version: KernelVersion) -> int:
    """LNX:arch/arm64/mm/init.c mem_init: the default 64 MiB when DRAM reaches past the DMA limit; else
    none on 6.1, and on 7.x a kmalloc bounce buffer of 1 MiB per GiB (DMA_BOUNCE_UNALIGNED_KMALLOC)."""
    if max(p.end for p in present) > dma_limit(present):
        return SWIOTLB
    if not version.at_least(7, 0):
        return 0
    return align_up(-(-sum(p.size for p in present) // 1024), 4096)


def boot_reservations(present: Sequence[Present], taken: Sequence[tuple[int, int]], args: crashkernel.CrashkernelArgs,
                      version: KernelVersion) -> Arm64Boot:
    """The default CMA, the 7.x per-node CMA, the crash reservation and swiotlb, in the kernel's order.

    ``taken``: what is reserved before (kernel image, initrd, the early node tops); ``args``: the parsed
    crashkernel= of the production command line."""
    limit = dma_limit(present)
    free = list(subtract(((p.start, p.end) for p in present), [*taken, *crash_time_tops(present)]))
    areas: list[tuple[int, int]] = []
    nodes: list[int | None] = []
    for area, node in numa_cma(present, free, version):
        areas.append(area)
        nodes.append(node)
    free = list(subtract(free, areas))
    base = _top_down(free, DEFAULT_CMA, CMA_ALIGN, 0, limit)
    if base is not None:
        areas.insert(0, (base, base + DEFAULT_CMA))
        nodes.insert(0, next((p.node for p in present if p.start <= base < p.end), None))
        free = list(subtract(free, [(base, base + DEFAULT_CMA)]))
    crash = crashkernel.place(args, free, crashkernel.CRASH_ALIGN_GENERIC, low_max=limit,
                              default_low=CRASH_LOW_DEFAULT)
    placed = [r for r in (crash.crash, crash.low) if r is not None]
    free = list(subtract(free, placed))
    size = swiotlb_size(present, version)
    at = _top_down(free, size, 4096, 0, limit) if size else None
    return Arm64Boot(tuple(areas), tuple(nodes), crash, None if at is None else (at, at + size))


def recovery_mem(present: Sequence[Present], limit: int) -> int:
    """The mem= that ends memblock at ``limit``: the bytes of memory below it.

    LNX:arch/arm64/mm/init.c early_mem sets memory_limit; arm64_memblock_init calls
    memblock_mem_limit_remove_map(memory_limit) (LNX:mm/memblock.c __find_max_addr): the limit is an
    amount of memory counted from the lowest address, not an address (measured: mem=3584M on 4 GiB at
    0x40000000 ends memblock at 0x120000000)."""
    return sum(max(0, min(p.end, limit) - p.start) for p in present if p.start < limit)


def mem_param(amount: int) -> str:
    """mem= as memparse reads it: whole MiB when it is one, else bytes (page-aligned by the kernel)."""
    if amount % MiB == 0:
        return f"mem={amount // MiB}M"
    return f"mem={align_down(amount, 4096)}"
