"""arm64 boot facts: what differs from x86 in predicted versus observed.

* **Window blocks cannot be offlined.** arm64 vetoes offlining any boot memory with a memory notifier
  (LNX:arch/arm64/mm/mmu.c prevent_bootmem_remove_notifier, v6.1/v7.2): ``echo offline`` fails with EPERM on
  every boot block, Normal or Movable, and the top block of a node fails earlier with EBUSY (its unmovable
  early allocations fail isolation, LNX:mm/memory_hotplug.c offline_pages). So the x86 offline test is no
  movability proof here: the lab still runs it and records the result as a fact that expects EPERM or EBUSY;
  an ``ok`` means the kernel behaves unlike the one the lab knows.
* **The kernel's own early reservations** the layout predicts as regions ``swiotlb`` and ``cma``: dmesg
  ``software IO TLB: mapped [mem A-B]`` (LNX:kernel/dma/swiotlb.c swiotlb_print_info) and ``cma: Reserved N MiB
  at A`` (LNX:mm/cma.c cma_declare_contiguous_nid).
* **Placement by QEMU's loader**: the kernel image (``Kernel code`` … ``Kernel bss`` in /proc/iomem) and the
  initrd (the DT ``/chosen/linux,initrd-start``/``-end`` QEMU writes), compared with the layout's
  ``kernel_image`` and ``initrd`` regions when it has them, else reported.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from layoutc.lab.boot.serial import GuestOutput
from layoutc.lab.facts import boot_facts as compare
from layoutc.lab.facts.boot_facts import Fact, hexr
from layoutc.lab.facts.procfs import movable_starts, parse_iomem, parse_zoneinfo, resources_named
from layoutc.lab.guest.stages import blocks_in
from layoutc.model.intervals import merge
from layoutc.model.layout import Layout, RegionKind

REFUSED = ("EPERM", "EBUSY")  # what arm64 answers to offlining a boot block
SWIOTLB = re.compile(r"software IO TLB: mapped \[mem (0x[0-9a-f]+)-(0x[0-9a-f]+)\]")
CMA = re.compile(r"cma: Reserved (\d+) MiB at (0x[0-9a-f]+)")
IMAGE = ("Kernel code", "Kernel data", "Kernel bss")


def _spans(spans: Sequence[tuple[int, int]]) -> str:
    return ", ".join(hexr(s, e) for s, e in spans) or "none"


def offline_facts(layout: Layout, out: GuestOutput) -> list[Fact]:
    """The window inside ZONE_MOVABLE, and each window block's offline attempt refused."""
    w = layout.dump_window
    if w is None:
        return []
    seen = movable_starts(parse_zoneinfo(out.text("zoneinfo") or ""))
    inside = [n for n, (s, e) in seen.items() if s <= w.start and w.end <= e]
    zones = ", ".join(f"node {n}: {hexr(*span)}" for n, span in sorted(seen.items())) or "no ZONE_MOVABLE"
    facts = [Fact("window inside ZONE_MOVABLE", "pass" if inside else "fail", hexr(w.start, w.end), zones)]
    results = {int(o["block"]): o for o in out.of_kind("offline") if isinstance(o.get("block"), int)}
    for block in blocks_in(w.start, w.end, layout.memory.block_size):
        o = results.get(block)
        observed = "not tested" if o is None else f"offline {o.get('offline')}"
        ok = o is not None and o.get("offline") in REFUSED
        detail = "arm64 boot memory is never offlined (EPERM; EBUSY when isolation fails first)"
        detail += "" if o is None else f"; valid_zones {o.get('valid_zones')}"
        facts.append(Fact(f"window block {block} offline refused", "pass" if ok else "fail", "EPERM or EBUSY",
                          observed, detail))  # fmt: skip
    return facts


def reservation_facts(layout: Layout, out: GuestOutput) -> list[Fact]:
    """The kernel's default swiotlb and CMA areas where the layout says (dmesg)."""
    dmesg = out.text("dmesg") or ""
    seen_tlb = [(int(a, 16), int(b, 16)) for a, b in SWIOTLB.findall(dmesg)]  # mem->end: start + bytes
    seen_cma = [(int(a, 16), int(a, 16) + (int(mb) << 20)) for mb, a in CMA.findall(dmesg)]
    facts = []
    for kind, seen, source in ((RegionKind.SWIOTLB, seen_tlb, "dmesg 'software IO TLB: mapped'"),
                               (RegionKind.CMA, seen_cma, "dmesg 'cma: Reserved'")):  # fmt: skip
        predicted = sorted((r.start, r.end) for r in layout.regions_of(kind))
        if not predicted:
            facts.append(Fact(f"default {kind.value}", "skip", "not in layout.json", _spans(sorted(seen)), source))
            continue
        facts.append(compare._check(f"default {kind.value}", _spans(predicted), _spans(sorted(seen)), source))
    return facts


def _dt_u64(data: bytes | None) -> int | None:
    return int.from_bytes(data, "big") if data and len(data) in (4, 8) else None


def placement_facts(layout: Layout, out: GuestOutput, initrd_size: int) -> list[Fact]:
    """Kernel image and initrd where QEMU's loader put them, against layout.json's regions."""
    iomem = parse_iomem(out.text("iomem") or "")
    image = merge([(r.start, r.end) for r in resources_named(iomem, *IMAGE)])
    start, end = _dt_u64(out.files.get("dt-initrd-start")), _dt_u64(out.files.get("dt-initrd-end"))
    initrd = [(start, end)] if start is not None and end is not None else []
    facts = []
    for name, kind, seen, source in (
        ("kernel image placement", RegionKind.KERNEL_IMAGE, image, "/proc/iomem Kernel code…bss"),
        ("initrd placement (direct)", RegionKind.INITRD, initrd, f"DT /chosen linux,initrd-*; {initrd_size} bytes"),
    ):
        predicted = sorted((r.start, r.end) for r in layout.regions_of(kind))
        if not predicted:
            facts.append(Fact(name, "skip", "not in layout.json", _spans(seen), source))
        elif kind is RegionKind.KERNEL_IMAGE:  # the region bounds the image: iomem's parts must lie inside
            inside = bool(seen) and all(any(p[0] <= s and e <= p[1] for p in predicted) for s, e in seen)
            facts.append(Fact(name, "pass" if inside else "fail", _spans(predicted), _spans(seen), source))
        else:
            facts.append(_initrd_fact(name, predicted[0], seen, initrd_size, source))
    return facts


def _initrd_fact(name: str, region: tuple[int, int], seen: Sequence[tuple[int, int]], size: int, source: str) -> Fact:
    """QEMU's loader puts the initrd at a fixed address; when the lab's initramfs is larger than the layout's
    initrd region (boot.initrd_size: the lab's arm64 userland with its interpreter is ~10-12 MB) only the start
    can be compared, and the detail says so."""
    if not seen:
        return Fact(name, "fail", hexr(*region), "none", source)
    (start, end), room = seen[0], region[1] - region[0]
    if size > room:
        detail = f"{source}; the lab's initramfs exceeds the layout's initrd region ({room} bytes): start compared"
        return Fact(
            name, "pass" if start == region[0] else "fail", f"starts at {region[0]:#x}", hexr(start, end), detail
        )
    inside = region[0] == start and end <= region[1]
    return Fact(name, "pass" if inside else "fail", hexr(*region), hexr(start, end), source)


def production_facts(
    layout: Layout, production: GuestOutput, baseline: GuestOutput | None, passed_cmdline: str, initrd_size: int
) -> list[Fact]:
    """All facts of an arm64 ``--stage boot``: the x86 ones that hold as they are, and the arm64 ones."""
    if not production.done:
        return [Fact("guest finished", "fail", "LAYOUTC-DONE", "guest stopped early", "see the serial log")]
    facts = compare.board_facts(layout, production, passed_cmdline)
    facts += compare.movable_facts(layout, production)
    facts += compare.crash_facts(layout, production)
    w = layout.dump_window
    if w is not None:
        iomem = parse_iomem(production.text("iomem") or "")
        image = merge([(r.start, r.end) for r in resources_named(iomem, *IMAGE)])
        crash = [(r.start, r.end) for r in resources_named(iomem, "Crash kernel")]
        facts.append(compare._disjoint("kernel image outside window", (w.start, w.end), image, "/proc/iomem"))
        facts.append(compare._disjoint("crash memory outside window", (w.start, w.end), crash, "Crash kernel"))
    facts += offline_facts(layout, production)
    facts += reservation_facts(layout, production)
    facts += placement_facts(layout, production, initrd_size)
    facts.append(compare.overhead_fact(layout, production, baseline))
    facts += [Fact("serial protocol", "fail", "clean", p) for p in production.problems]
    return facts
