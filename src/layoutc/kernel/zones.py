"""ZONE_MOVABLE placement from ``movablecore=`` / ``kernelcore=`` (docs/reference/kernel-rules.md §2).

A re-derivation (not a copy) of LNX:mm/mm_init.c find_zone_movable_pfns_for_nodes() for the
size and percent forms. ``kernelcore=mirror`` and ``movable_node`` are not emitted by layoutc
and are not modelled (they ignore movablecore; docs/reference/kernel-rules.md §2.2 items 1-2).

Verified against the captures (tests/solver/test_captures.py): movablecore=512M on the 4 GiB
pc guest -> Node 0: 0x120000000; on the 8 GiB two-node guest -> 0x130400000 and 0x230000000;
movablecore=25% on 4 GiB -> 0x100000000 (all of high RAM, no Normal zone).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from layoutc.kernel.memblock import PAGE_SIZE, Present, node_end, nodes_of, total_pages
from layoutc.model.units import GiB, MiB, Percent, align_up

# LNX:arch/x86/include/asm/dma.h MAX_DMA_PFN (16 MiB) and MAX_DMA32_PFN (4 GiB): zone limits.
ZONE_DMA_END = 16 * MiB
ZONE_DMA32_END = 4 * GiB
# LNX:include/linux/mmzone.h MAX_ORDER_NR_PAGES = 1 << MAX_PAGE_ORDER (10): 4 MiB with 4 KiB pages.
MAX_ORDER_BYTES = 4 * MiB
MAX_ORDER_PAGES = MAX_ORDER_BYTES // PAGE_SIZE


class Zone(enum.StrEnum):
    DMA = "DMA"
    DMA32 = "DMA32"
    NORMAL = "Normal"
    MOVABLE = "Movable"


@dataclass(frozen=True, slots=True, order=True)
class ZoneSpan:
    """ZONE_MOVABLE of one node: [start, end) where end is the node's end of RAM."""

    node: int
    start: int
    end: int


def movable_zone(present: tuple[Present, ...]) -> Zone:
    """The zone ZONE_MOVABLE takes its pages from: the highest populated one.

    LNX:mm/mm_init.c find_usable_zone_for_movable(): ZONE_NORMAL when RAM exists above 4 GiB,
    else ZONE_DMA32 (a 2 GiB pc guest gets its Movable zone out of DMA32).
    """
    top = max(p.end for p in present)
    if top > ZONE_DMA32_END:
        return Zone.NORMAL
    if top > ZONE_DMA_END:
        return Zone.DMA32
    return Zone.DMA


def zone_lowest_address(zone: Zone) -> int:
    """LNX:mm/mm_init.c arch_zone_lowest_possible_pfn[]: where each zone may start."""
    return {Zone.DMA: 0, Zone.DMA32: ZONE_DMA_END, Zone.NORMAL: ZONE_DMA32_END}.get(zone, 0)


def zone_of(address: int, movable: tuple[ZoneSpan, ...], node: int) -> Zone:
    """The zone a present byte lands in, given the predicted ZONE_MOVABLE spans."""
    for span in movable:
        if span.node == node and span.start <= address < span.end:
            return Zone.MOVABLE
    if address < ZONE_DMA_END:
        return Zone.DMA
    if address < ZONE_DMA32_END:
        return Zone.DMA32
    return Zone.NORMAL


def zone_present_pages(present: tuple[Present, ...], movable: tuple[ZoneSpan, ...]) -> dict[tuple[int, Zone], int]:
    """Present pages per (node, zone), as /proc/zoneinfo prints them ("present").

    LNX:mm/mm_init.c zone_absent_pages_in_node / adjust_zone_range_for_zone_movable: ZONE_MOVABLE
    is [zone_movable_pfn, node end) of each node; the zone it takes pages from ends there; the
    other zones are cut at MAX_DMA_PFN (16 MiB) and MAX_DMA32_PFN (4 GiB).
    """
    out: dict[tuple[int, Zone], int] = {}
    starts = {s.node: s.start for s in movable}
    for p in present:
        cuts = sorted(
            {
                p.start,
                p.end,
                *(c for c in (ZONE_DMA_END, ZONE_DMA32_END, starts.get(p.node, p.end)) if p.start < c < p.end),
            }
        )
        for lo, hi in zip(cuts, cuts[1:], strict=False):
            zone = zone_of(lo, movable, p.node)
            out[(p.node, zone)] = out.get((p.node, zone), 0) + (hi - lo) // PAGE_SIZE
    return out


def core_pages(value: int | Percent | None, totalpages: int) -> int:
    """Pages asked for by ``kernelcore=``/``movablecore=``.

    LNX:mm/mm_init.c cmdline_parse_core(): a size is memparse()d and shifted by PAGE_SHIFT
    (sub-page amounts truncate); a percent is kept and, in find_zone_movable_pfns_for_nodes(),
    becomes (totalpages * 100 * percent) / 10000.
    """
    if value is None:
        return 0
    if isinstance(value, Percent):
        return totalpages * 100 * value.value // 10000
    return value // PAGE_SIZE


def movable_spans(
    present: tuple[Present, ...],
    *,
    movablecore: int | Percent | None = None,
    kernelcore: int | Percent | None = None,
) -> tuple[ZoneSpan, ...]:
    """Where ZONE_MOVABLE starts on every node (empty when there is none)."""
    starts = _movable_pfns(present, movablecore, kernelcore)
    return tuple(ZoneSpan(node, pfn * PAGE_SIZE, node_end(present, node)) for node, pfn in sorted(starts.items()))


def _movable_pfns(
    present: tuple[Present, ...], movablecore: int | Percent | None, kernelcore: int | Percent | None
) -> dict[int, int]:
    totalpages = total_pages(present)
    required_kernel = core_pages(kernelcore, totalpages)
    required_movable = core_pages(movablecore, totalpages)
    if required_movable:
        # "Round-up so that ZONE_MOVABLE is at least as large as what was requested by the user"
        required_movable = min(totalpages, align_up(required_movable, MAX_ORDER_PAGES))
        required_kernel = max(required_kernel, totalpages - required_movable)
    # "If kernelcore was not specified or kernelcore size is larger than totalpages,
    # there is no ZONE_MOVABLE."
    if not required_kernel or required_kernel >= totalpages:
        return {}
    usable_start = zone_lowest_address(movable_zone(present)) // PAGE_SIZE
    nodes = nodes_of(present)
    pfn = {node: 0 for node in nodes}
    usable_nodes = len(nodes)
    while True:
        # "Spread kernelcore memory as evenly as possible throughout nodes"
        per_node = required_kernel // usable_nodes
        for node in nodes:
            if required_kernel < per_node:
                per_node = required_kernel // usable_nodes
            required_kernel, pfn[node] = _walk_node(present, node, pfn[node], per_node, required_kernel, usable_start)
        # "If there is still required_kernelcore, we do another pass with one less node in the count"
        usable_nodes -= 1
        if not (usable_nodes and required_kernel > usable_nodes):
            break
    out: dict[int, int] = {}
    for node in nodes:
        # "Align start of ZONE_MOVABLE on all nids to MAX_ORDER_NR_PAGES"; at or past the node's
        # end there is no Movable zone on that node.
        start = align_up(pfn[node], MAX_ORDER_PAGES)
        if start < node_end(present, node) // PAGE_SIZE:
            out[node] = start
    return out


def _walk_node(
    present: tuple[Present, ...], node: int, movable_pfn: int, per_node: int, required: int, usable_start: int
) -> tuple[int, int]:
    """One node's low-to-high walk consuming its kernelcore share; returns (required, movable pfn)."""
    remaining = per_node
    for p in sorted(q for q in present if q.node == node):
        start, end = max(p.start // PAGE_SIZE, movable_pfn), p.end // PAGE_SIZE
        if start >= end:
            continue
        if start < usable_start:
            # Pages below the movable zone's lowest pfn can only be kernelcore.
            kernel_pages = min(end, usable_start) - start
            remaining -= min(kernel_pages, remaining)
            required -= min(kernel_pages, required)
            if end <= usable_start:
                movable_pfn = end
                continue
            start = usable_start
        size = min(end - start, remaining)
        movable_pfn = start + size
        required -= min(required, size)
        remaining -= size
        if not remaining:
            break
    return required, movable_pfn


def movablecore_for(present: tuple[Present, ...], node: int, target: int) -> int | None:
    """The smallest movablecore (bytes, 4 MiB steps) whose ZONE_MOVABLE on ``node`` starts <= ``target``.

    The start on a node only moves down as movablecore grows, so a bisection over 4 MiB steps
    finds it; the caller checks whether the start is exactly ``target``.
    """
    totalpages = total_pages(present)
    low, high = 1, totalpages // MAX_ORDER_PAGES
    best: int | None = None
    while low <= high:
        mid = (low + high) // 2
        spans = movable_spans(present, movablecore=mid * MAX_ORDER_BYTES)
        start = next((s.start for s in spans if s.node == node), None)
        if start is not None and start <= target:
            best, high = mid, mid - 1
        else:
            low = mid + 1
    return None if best is None else best * MAX_ORDER_BYTES
