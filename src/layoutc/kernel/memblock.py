"""memblock.memory as the first kernel builds it, and its early top-down allocations.

Two facts drive the dump-window guard:

* memblock.memory is e820 RAM minus what the kernel trims at boot (page 0 and the legacy
  BIOS area on x86) and minus ``memmap=nn!ss`` ranges (E820_TYPE_PRAM outranks RAM), with
  every range shrunk to whole pages.
* memblock allocates top-down, so the early allocations (struct pages of every present
  section, NODE_DATA, percpu, large system hashes, page tables) sit at the **top of every
  node**; the pages are PageReserved and the top block of every node cannot be offlined
  (captures: offline-test.json, EBUSY on the top block of each node).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from layoutc.model.intervals import subtract
from layoutc.model.profile import Arch, MemoryMap
from layoutc.model.units import MiB, align_down, align_up

PAGE_SIZE = 4096
# LNX:arch/x86/include/asm/sparsemem.h SECTION_SIZE_BITS 27 (x86_64); arm64 4K pages: 27 too.
SECTION_SIZE = 128 * MiB
# LNX:include/linux/mm_types.h: struct page is 64 bytes on x86_64 production configs.
STRUCT_PAGE_SIZE = 64
# LNX:arch/x86/kernel/setup.c trim_bios_range(): page 0 becomes reserved; [0xa0000, 0x100000)
# (BIOS_BEGIN..BIOS_END) is removed from RAM. Seen in the captures' dmesg ("e820: update
# [mem 0x00000000-0x00000fff] System RAM ==> device reserved", "e820: remove [mem 0x000a0000-0x000fffff]").
X86_TRIMMED = ((0, PAGE_SIZE), (0xA0000, 0x100000))
# Per-node early allocations besides the memmap: NODE_DATA (~172 KiB, dmesg "NODE_DATA(0)
# allocated"), mem_section roots, pageblock bitmaps, direct-map page tables. Calibrated so the
# model is an upper bound of every capture (tests/solver/test_captures.py).
NODE_MISC = 4 * MiB
# LNX:mm/percpu.c pcpu_embed_first_chunk: the first chunk is one PMD-sized atom (u2097152 in
# the captures' "percpu: Embedded 63 pages/cpu ... u2097152").
PERCPU_FIRST_CHUNK = 2 * MiB
DENTRY_HASH_SCALE = 13  # LNX:fs/dcache.c dcache_init_early: alloc_large_system_hash(..., 13, HASH_EARLY ...)
INODE_HASH_SCALE = 14  # LNX:fs/inode.c inode_init_early: alloc_large_system_hash(..., 14, HASH_EARLY ...)
HASH_ENTRY_SIZE = 8  # struct hlist_bl_head / hlist_head: one pointer
PTE_SIZE = 8  # one page-table entry


def linear_map_tables(pages: int) -> int:
    """arm64: the linear map's last-level page tables, one 8-byte entry per 4 KiB page.

    LNX:arch/arm64/mm/mmu.c map_mem (v6.1, v7.2): with rodata=full (Debian's default) the linear map
    is built without block mappings (can_set_direct_map), from memblock (early_pgtable_alloc) before
    NUMA is known, so at the top of the highest memory. Measured: node 1 of an 8 GiB two-node virt
    board holds 84 MiB of early allocations = 64 MiB struct pages + 16 MiB tables + 4 MiB misc.
    """
    return pages * PTE_SIZE


@dataclass(frozen=True, slots=True, order=True)
class Present:
    """One memblock.memory range (page-aligned, end exclusive) and its node."""

    start: int
    end: int
    node: int

    @property
    def size(self) -> int:
        return self.end - self.start


def present_ranges(
    memory: MemoryMap, arch: Arch, removed: Iterable[tuple[int, int]] = ()
) -> tuple[Present, ...]:
    """memblock.memory of a boot whose cmdline turns ``removed`` ranges into PRAM (memmap=!).

    LNX:arch/x86/kernel/e820.c e820__memblock_setup(): only E820_TYPE_RAM (and RESERVED_KERN)
    entries are added to memblock.memory; __e820__update_table(): the larger type wins an overlap,
    so a memmap=! (type 12) range stops being RAM. LNX:mm/memblock.c memblock_add_range() works
    in bytes; free_area_init() sees whole pages only (PFN_UP(start)..PFN_DOWN(end)).
    """
    cuts = list(removed)
    if arch is Arch.X86_64:
        cuts.extend(X86_TRIMMED)
    out: list[Present] = []
    for r in memory.ram:
        for s, e in subtract([(r.start, r.end)], cuts):
            s, e = align_up(s, PAGE_SIZE), align_down(e, PAGE_SIZE)
            if e > s:
                out.append(Present(s, e, r.node or 0))
    return tuple(sorted(out))


def total_pages(present: Iterable[Present]) -> int:
    """LNX:mm/mm_init.c find_zone_movable_pfns_for_nodes: totalpages = Σ memblock.memory pages."""
    return sum(p.size // PAGE_SIZE for p in present)


def nodes_of(present: Iterable[Present]) -> tuple[int, ...]:
    return tuple(sorted({p.node for p in present}))


def node_end(present: Iterable[Present], node: int) -> int:
    return max(p.end for p in present if p.node == node)


def memmap_bytes(present: Iterable[Present], node: int) -> int:
    """Struct pages of every present section of ``node`` (SPARSEMEM_VMEMMAP).

    LNX:mm/sparse.c sparse_init_nid(): one memmap per present section, allocated with
    memblock on the node (__populate_section_memmap); 128 MiB / 4 KiB x 64 B = 2 MiB a section.
    """
    return present_sections(present, node) * (SECTION_SIZE // PAGE_SIZE) * STRUCT_PAGE_SIZE


def present_sections(present: Iterable[Present], node: int) -> int:
    """How many sections of ``node`` hold any present memory (LNX:mm/sparse.c memory_present).

    Counted from the ranges' section-aligned hulls, merged: the work is proportional to the
    number of ranges, never to the address span (a 2 TiB node is 16384 sections, one range).
    """
    count, covered = 0, 0
    for p in sorted(p for p in present if p.node == node):
        first, last = align_down(p.start, SECTION_SIZE), align_up(p.end, SECTION_SIZE)
        first = max(first, covered)
        if last > first:
            count += (last - first) // SECTION_SIZE
            covered = last
    return count


def memmap_saved(start: int, end: int) -> int:
    """Boot-time struct pages a memmap=! range saves: one section's memmap per section it empties.

    sparse_init() (above) allocates with memblock, so outside MemTotal, the memmap of every section
    with any present memory. Sections the range empties get none; memory hot-added later by kmem
    takes its memmap from ordinary pages, which MemTotal still counts. Measured in the lab: a 258M
    hotplug window on q35 gave 4 MiB more MemTotal.
    """
    first, last = align_up(start, SECTION_SIZE), align_down(end, SECTION_SIZE)
    return max(0, (last - first) // SECTION_SIZE) * (SECTION_SIZE // PAGE_SIZE) * STRUCT_PAGE_SIZE


def _pow2_at_least(value: int) -> int:
    return 1 << max(0, (value - 1).bit_length())


def early_hash_bytes(pages: int) -> int:
    """Dentry and inode hashes allocated from memblock at boot (one node only).

    LNX:mm/mm_init.c alloc_large_system_hash(): entries = roundup_pow_of_two(nr_kernel_pages >>
    (scale - PAGE_SHIFT)). With more than one node, hashdist moves them to vmalloc
    (LNX:mm/mm_init.c fixup_hashdist; LNX:fs/dcache.c dcache_init_early returns when hashdist).
    Captures: 4 GiB -> "Dentry cache hash table entries: 524288 (... 4194304 bytes)".
    """
    dentry = _pow2_at_least(pages >> (DENTRY_HASH_SCALE - 12)) * HASH_ENTRY_SIZE
    inode = _pow2_at_least(pages >> (INODE_HASH_SCALE - 12)) * HASH_ENTRY_SIZE
    return dentry + inode


@dataclass(frozen=True, slots=True)
class EarlyTop:
    """The modelled early allocations at the top of one node, by part (bytes)."""

    node: int
    memmap: int
    hashes: int
    percpu: int
    misc: int
    measured: int | None = None

    @property
    def total(self) -> int:
        if self.measured is not None:
            return self.measured
        return self.memmap + self.hashes + self.percpu + self.misc


def early_top(
    present: tuple[Present, ...], measured: Mapping[int, int], arch: Arch = Arch.X86_64
) -> tuple[EarlyTop, ...]:
    """Per node: what memblock puts at the top of the node before userspace runs.

    A measured value (profile ``memory.early_reserved``) replaces the model for its node.
    The percpu first chunk lands on the boot CPU's node (node 0); the hashes only exist with
    one node. Calibration: 4 GiB one-node pc guest, 73.2 MiB measured reserved in the top
    512 MiB (zoneinfo present - managed), model 76 MiB. arm64 adds the linear map's page tables
    to the highest node's misc part (``linear_map_tables``); measured on virt (tests/solver/test_arm64.py):
    4 GiB one node 82 MiB (7.2) and 80 MiB (6.1), model 84; 8 GiB two nodes 66 and 84 MiB, model 70 and 84.
    """
    nodes = nodes_of(present)
    single = len(nodes) == 1
    pages = total_pages(present)
    highest = max(nodes, key=lambda n: node_end(present, n))
    out = []
    for node in nodes:
        tables = linear_map_tables(pages) if arch is Arch.ARM64 and node == highest else 0
        out.append(
            EarlyTop(
                node=node,
                memmap=memmap_bytes(present, node),
                hashes=early_hash_bytes(pages) if single else 0,
                percpu=PERCPU_FIRST_CHUNK if node == nodes[0] else 0,
                misc=NODE_MISC + tables,
                measured=measured.get(node),
            )
        )
    return tuple(out)


def top_down_start(present: tuple[Present, ...], node: int, size: int) -> int:
    """Lowest address of the top ``size`` present bytes of ``node`` (holes skipped)."""
    remaining = size
    for p in sorted((p for p in present if p.node == node), reverse=True):
        if p.size >= remaining:
            return p.end - remaining
        remaining -= p.size
    return min(p.start for p in present if p.node == node)
