"""What the dump window takes from the crashed kernel: a census of the pages the capture overwrites.

The filter spec excludes the dump window (reason ``dump_window``): the capture writes the dump there, so
whatever the crashed kernel had in it is gone before it could be read.  A sound layout puts nothing there the
dump level keeps, but the window is ordinary ZONE_MOVABLE RAM while the production kernel runs, so some pages
in it may survive the page-class filter.  For each of those the crashed kernel's struct page says what it was:

* **free**: ``_refcount`` 0 and no ``mapping`` — a page on the allocator's free lists.  Buddy pages are
  excluded by dump level 16 already (``PageBuddy``, head page only); what is left are free pages on the
  per-CPU lists (``zone->per_cpu_pageset``, mm/page_alloc.c ``free_unref_page_commit``: they keep no page
  type, so makedumpfile's and our level 16 keep them) and the tails of free blocks.  They hold no live data.
  Measured in the lab on Debian 7.2: a hotplug window (all of ZONE_MOVABLE) held 124–1661 such pages, each
  with refcount 0, NULL mapping, ``_mapcount`` -1 and ``lru`` linked to its neighbours.
* **in use**: anything else (a reference held, a mapping, a page type): crashed-kernel data the dump lacks.
  The negative control (a window over the early top-of-node allocations) loses 19 456 of these.

The census never changes the dump; it makes the loss visible where nobody has a reference to compare with.
"""

from __future__ import annotations

import struct

from layoutc.dump import extents
from layoutc.dump.classify.pageclass import MemMap
from layoutc.dump.extents import Extent
from layoutc.dump.read.pagetable import PageTable
from layoutc.dump.read.vmcoreinfo import VmcoreInfo
from layoutc.dump.record import Frozen, init

TYPE_CHECKING = False
if TYPE_CHECKING:
    from layoutc.dump.read.pagetable import ReadPhys

WINDOW_REASON = "dump_window"
S32 = struct.Struct("<i")
U64 = struct.Struct("<Q")


class WindowLoss(Frozen):
    """Pages in the dump window that the dump level would have kept, by what they were."""

    __slots__ = ("pages", "free", "in_use", "unknown")
    pages: int
    free: int
    in_use: int
    unknown: int  # struct page unreadable, or VMCOREINFO lacks a field

    def __init__(self, pages: int, free: int, in_use: int, unknown: int) -> None:
        init(self, pages=pages, free=free, in_use=in_use, unknown=unknown)

    def note(self) -> str:
        if not self.pages:
            return "dump window: held no page the dump level keeps (nothing of the crashed kernel lost)"
        parts = [
            f"{self.free} free (reference count 0, no mapping: per-CPU free lists; no data)",
            f"{self.in_use} in use (lost)",
        ]
        if self.unknown:
            parts.append(f"{self.unknown} unknown (struct page unreadable or not described by VMCOREINFO)")
        return f"dump window: {self.pages} pages the dump level keeps were overwritten by the dump: " + ", ".join(parts)


def lost_pages(present: list[Extent], classes: dict[str, list[Extent]], window: list[Extent]) -> list[Extent]:
    """Present pfns inside ``window`` that no page class excludes."""
    kept = present
    for pages in classes.values():
        kept = extents.subtract(kept, extents.normalize(pages))
    return extents.intersect(kept, extents.normalize(window))


def census(raw_info: dict[str, str], read_phys: ReadPhys, lost: list[Extent], page_size: int) -> WindowLoss:
    """Read the struct page of every pfn in ``lost`` and count free / in-use / unknown."""
    total = extents.count(lost)
    if not total:
        return WindowLoss(0, 0, 0, 0)
    info = VmcoreInfo(raw_info)
    size = info.size("page")
    offs = [info.offset(f"page.{f}") for f in ("_refcount", "mapping")]
    table = PageTable.from_vmcoreinfo(info, read_phys) if raw_info else None
    if table is None or size is None or offs[0] is None or offs[1] is None:
        return WindowLoss(total, 0, 0, total)
    ref_off, map_off = offs[0], offs[1]
    free = in_use = unknown = 0
    for _pfn, n, raw in MemMap(info, table, page_size, size).batches(lost):
        if raw is None:
            unknown += n
            continue
        for i in range(n):
            off = i * size
            if S32.unpack_from(raw, off + ref_off)[0] == 0 and U64.unpack_from(raw, off + map_off)[0] == 0:
                free += 1
            else:
                in_use += 1
    return WindowLoss(total, free, in_use, unknown)
