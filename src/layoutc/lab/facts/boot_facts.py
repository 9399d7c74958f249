"""Predicted (layout.json) versus observed (the guest) for the production boot, one ``Fact`` per check.

Every fact carries both values as text so a failure names them. ``status`` is ``pass``, ``fail``, ``info``
(shown, never fails) or ``skip`` (not applicable to this layout or kernel, with the reason).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from layoutc.importer.captured_cmdline import parse_memmap
from layoutc.importer.sysinfo_types import ZoneStats
from layoutc.kernel import bootloader
from layoutc.kernel.params import parse_args
from layoutc.lab.boot.serial import GuestOutput
from layoutc.lab.facts.procfs import (
    movable_starts,
    parse_blocks,
    parse_cma_ranges,
    parse_dmesg,
    parse_iomem,
    parse_meminfo,
    parse_zoneinfo,
    resources_named,
)
from layoutc.lab.guest.stages import blocks_in
from layoutc.model.intervals import merge, subtract
from layoutc.model.layout import Layout, RegionKind

MiB = 1 << 20
KERNEL_IMAGE = ("Kernel code", "Kernel rodata", "Kernel data", "Kernel bss")
# MemTotal with and without layoutc's parameters, measured on 6.1 and 7.2 (docs/lab.md): classic crashkernel
# exact to the byte, crashkernel=,cma within 8 KiB, a memmap=! window within 256 KiB once its struct pages
# (64 B per 4 KiB) are counted. A prediction within this tolerance passes.
OVERHEAD_TOLERANCE = 1 * MiB


@dataclass(frozen=True, slots=True)
class Fact:
    name: str
    status: str  # pass | fail | info | skip
    predicted: str
    observed: str
    detail: str = ""


def hexr(start: int, end: int) -> str:
    return f"[{start:#x}, {end:#x})"


def _ranges(spans: Sequence[tuple[int, int]]) -> str:
    return ", ".join(hexr(s, e) for s, e in spans) or "none"


def _check(name: str, predicted: str, observed: str, detail: str = "") -> Fact:
    return Fact(name, "pass" if predicted == observed else "fail", predicted, observed, detail)


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def pmem_words(cmdline: str) -> list[tuple[int, int]]:
    """``memmap=SIZE!START`` ranges of a command line, read the kernel's way.

    Words split as LNX:kernel/params.c parse_args does (``kernel.params``), each ``memmap=`` value split
    at commas and read by LNX:arch/x86/kernel/e820.c parse_memmap_one (``importer.captured_cmdline``),
    every number by LNX:lib/cmdline.c memparse; a malformed entry is skipped (parse_memmap_opt ignores
    what parse_memmap_one returns).
    """
    values = [p.value for p in parse_args(cmdline).params if p.key == "memmap" and p.value]
    edits = [e for value in values for entry in value.split(",") for e in parse_memmap(entry) or ()]
    return [(e.start, e.start + e.size) for e in edits if e.op == "!" and e.start is not None and e.size is not None]


def board_facts(layout: Layout, out: GuestOutput, passed_cmdline: str) -> list[Fact]:
    facts: list[Fact] = []
    seen = (out.text("cmdline") or "").strip()
    facts.append(_check("kernel command line", passed_cmdline.strip(), seen, "what /proc/cmdline shows"))
    iomem = parse_iomem(out.text("iomem") or "")
    ram_seen = [(max(r.start, MiB), r.end) for r in iomem if r.depth == 0 and r.name == "System RAM" and r.end > MiB]
    ram = [(max(e.start, MiB), e.end) for e in layout.memory.ram if e.end > MiB]
    expected = subtract(ram, pmem_words(passed_cmdline))
    facts.append(_check("System RAM above 1 MiB", _ranges(merge(expected)), _ranges(merge(ram_seen)),
                        "profile map (minus memmap=! windows) vs /proc/iomem"))  # fmt: skip
    bsb = (out.text("block_size_bytes") or "").strip()
    facts.append(
        _check("memory block size", f"{layout.memory.block_size:#x}", f"{int(bsb, 16):#x}" if bsb else "missing")
    )
    blocks = parse_blocks(out.text("blocks-boot") or "")
    nodes_seen = sorted({b.node for b in blocks if b.node >= 0})
    if layout.memory.srat:
        facts.append(_check("NUMA nodes", str(sorted(set(layout.memory.nodes))), str(nodes_seen)))
    return facts


def movable_facts(layout: Layout, out: GuestOutput) -> list[Fact]:
    seen = movable_starts(parse_zoneinfo(out.text("zoneinfo") or ""))
    dmesg = parse_dmesg(out.text("dmesg") or "")
    predicted = {m.node: (m.start, m.end) for m in layout.movable_zone}
    facts = []
    for node in sorted(set(predicted) | set(seen)):
        p = hexr(*predicted[node]) if node in predicted else "no ZONE_MOVABLE"
        o = hexr(*seen[node]) if node in seen else "no ZONE_MOVABLE"
        d = dmesg.movable_starts.get(node)
        detail = "/proc/zoneinfo start_pfn+spanned" + (f"; dmesg 'Movable zone start' {d:#x}" if d is not None else "")
        fact = _check(f"ZONE_MOVABLE node {node}", p, o, detail)
        if fact.status == "pass" and d is not None and node in seen and d != seen[node][0]:
            fact = Fact(fact.name, "fail", p, o, f"dmesg says {d:#x} but zoneinfo says {seen[node][0]:#x}")
        facts.append(fact)
    return facts


def crash_facts(layout: Layout, out: GuestOutput) -> list[Fact]:
    iomem = parse_iomem(out.text("iomem") or "")
    dmesg = parse_dmesg(out.text("dmesg") or "")
    seen = sorted((r.start, r.end) for r in resources_named(iomem, "Crash kernel"))
    predicted = sorted((r.start, r.end) for r in layout.regions if r.kind in ("crashkernel", "crashkernel_low"))
    image = [(r.start, r.end) for r in resources_named(iomem, *KERNEL_IMAGE)]
    why = "/proc/iomem 'Crash kernel'"
    moved_by_kaslr = layout.kaslr and any(_overlaps(i, p) for i in image for p in predicted)
    if moved_by_kaslr:
        # KASLR put the image where the top-down search would have reserved, so memblock took the next free
        # 16M-aligned slot below it (docs/reference/kernel-rules.md §1.3): the address is not predictable, its kind is.
        facts = [_kaslr_moved_crash(predicted, seen, image)]
    else:
        facts = [_check("crash kernel reservation", _ranges(predicted), _ranges(seen), why)]
    main = [(r.start, r.end) for r in layout.regions_of(RegionKind.CRASHKERNEL)]
    size_text = (out.text("kexec_crash_size") or "").strip()
    if main and size_text:
        facts.append(
            _check("kexec_crash_size", str(main[0][1] - main[0][0]), size_text, "/sys/kernel/kexec_crash_size")
        )
    logged = sorted(dmesg.crash_reserved + dmesg.crash_low_reserved)
    if (predicted or logged) and moved_by_kaslr:
        facts.append(_check("crashkernel dmesg", _ranges(seen), _ranges(logged), "'crashkernel reserved:' lines "
                            "agree with /proc/iomem (kaslr moved the reservation)"))  # fmt: skip
    elif predicted or logged:
        facts.append(_check("crashkernel dmesg", _ranges(predicted), _ranges(logged), "'crashkernel reserved:' lines"))
    if dmesg.crash_failures:
        facts.append(Fact("crashkernel failures", "fail", "none", "; ".join(dmesg.crash_failures)))
    facts += _cma_facts(layout, out)
    return facts


def _kaslr_moved_crash(
    predicted: Sequence[tuple[int, int]], seen: Sequence[tuple[int, int]], image: Sequence[tuple[int, int]]
) -> Fact:
    sizes_match = sorted(e - s for s, e in predicted) == sorted(e - s for s, e in seen)
    aligned_low = all(s % CRASH_ALIGN == 0 and e <= FOUR_GIB for s, e in seen)
    clear = not any(_overlaps(i, r) for i in image for r in seen)
    ok = bool(seen) and sizes_match and aligned_low and clear
    detail = (
        f"kaslr on and the kernel image {_ranges(merge(image))} sits in the predicted range: checked the "
        "size, 16M alignment below 4 GiB and no overlap with the image instead of the address"
    )
    return Fact("crash kernel reservation", "pass" if ok else "fail", _ranges(predicted), _ranges(seen), detail)


CRASH_ALIGN = 16 << 20  # x86 CRASH_ALIGN (docs/reference/kernel-rules.md §1.2)
FOUR_GIB = 4 << 30


def _cma_facts(layout: Layout, out: GuestOutput) -> list[Fact]:
    dmesg = parse_dmesg(out.text("dmesg") or "")
    predicted = sorted((r.start, r.end) for r in layout.regions_of(RegionKind.CRASH_CMA))
    wants_cma = layout.strategy.crash_memory == "cma" or bool(predicted)
    bad = [m for m in dmesg.cma_messages if "could not be activated" in m or "failed" in m]
    facts: list[Fact] = []
    if not wants_cma:
        if dmesg.cma_reserved is not None:
            facts.append(Fact("crash CMA", "fail", "none", f"{dmesg.cma_reserved[0]} MB reserved"))
        return facts
    total = sum(e - s for s, e in predicted)
    seen_mb = f"{dmesg.cma_reserved[0]} MB in {dmesg.cma_reserved[1]} ranges" if dmesg.cma_reserved else "none"
    facts.append(_check("crash CMA size", f"{total >> 20} MB in {len(predicted)} ranges", seen_mb,
                        "dmesg 'crashkernel CMA reserved'"))  # fmt: skip
    ranges_text = out.text("kexec_crash_cma_ranges")
    if ranges_text is None:
        facts.append(Fact("crash CMA ranges", "skip", _ranges(predicted), "n/a",
                          "this kernel has no /sys/kernel/kexec_crash_cma_ranges"))  # fmt: skip
    elif layout.kaslr:
        # KASLR may put the kernel image above 4 GiB, and CMA is allocated bottom-up from 4 GiB around it, so
        # the addresses are not predictable: require each range inside one zone instead
        # (docs/reference/kernel-rules.md §1.5).
        seen = parse_cma_ranges(ranges_text)
        zones = parse_zoneinfo(out.text("zoneinfo") or "")
        split = [r for r in seen if not _in_one_zone(r, zones)]
        facts.append(Fact("crash CMA ranges", "fail" if split else "pass", "each range inside one zone",
                          _ranges(seen), "straddling: " + _ranges(split) if split else
                          f"kaslr on: predicted {_ranges(predicted)} not comparable"))  # fmt: skip
    else:
        facts.append(_check("crash CMA ranges", _ranges(predicted), _ranges(parse_cma_ranges(ranges_text)),
                            "/sys/kernel/kexec_crash_cma_ranges"))  # fmt: skip
    facts.append(_check("crash CMA activation", "activated", "; ".join(bad) if bad else "activated"))
    return facts


def _in_one_zone(span: tuple[int, int], zones: Sequence[ZoneStats]) -> bool:
    return any(
        z.start is not None and z.end is not None and z.spanned and z.start <= span[0] and span[1] <= z.end
        for z in zones
    )


def window_facts(layout: Layout, out: GuestOutput) -> list[Fact]:
    w = layout.dump_window
    if w is None:
        return [Fact("dump window", "skip", "none", "n/a", f"target {layout.strategy.target}: no pmem window")]
    win = (w.start, w.end)
    iomem = parse_iomem(out.text("iomem") or "")
    image = merge([(r.start, r.end) for r in resources_named(iomem, *KERNEL_IMAGE)])
    crash = [(r.start, r.end) for r in resources_named(iomem, "Crash kernel")]
    crash += list(parse_cma_ranges(out.text("kexec_crash_cma_ranges") or ""))
    facts = [
        _disjoint("kernel image outside window", win, image, "/proc/iomem Kernel code…bss"),
        _disjoint("crash memory outside window", win, crash, "Crash kernel and crash CMA ranges"),
    ]
    if layout.strategy.window_mode == "hotplug":
        facts += _hotplug_facts(layout, out)
    else:
        facts += _offline_facts(layout, out)
    return facts


def _disjoint(name: str, win: tuple[int, int], spans: Sequence[tuple[int, int]], source: str) -> Fact:
    hit = [s for s in spans if _overlaps(s, win)]
    detail = f"overlap: {_ranges(hit)}" if hit else source
    return Fact(name, "fail" if hit else "pass", f"outside {hexr(*win)}", _ranges(spans), detail)


def _offline_facts(layout: Layout, out: GuestOutput) -> list[Fact]:
    w = layout.dump_window
    assert w is not None
    seen = movable_starts(parse_zoneinfo(out.text("zoneinfo") or ""))
    inside = [n for n, (s, e) in seen.items() if s <= w.start and w.end <= e]
    zones = ", ".join(f"node {n}: {hexr(*span)}" for n, span in sorted(seen.items())) or "no ZONE_MOVABLE"
    facts = [Fact("window inside ZONE_MOVABLE", "pass" if inside else "fail", hexr(w.start, w.end), zones)]
    results = {int(o["block"]): o for o in out.of_kind("offline") if isinstance(o.get("block"), int)}
    for block in blocks_in(w.start, w.end, layout.memory.block_size):
        o = results.get(block)
        observed = (
            "not tested" if o is None else f"offline {o.get('offline')}, online_movable {o.get('online_movable')}"
        )
        zones = "" if o is None else f"valid_zones {o.get('valid_zones')}"
        facts.append(_check(f"window block {block} offlinable", "offline ok, online_movable ok", observed, zones))
    return facts


def _hotplug_facts(layout: Layout, out: GuestOutput) -> list[Fact]:
    w = layout.dump_window
    assert w is not None
    iomem = parse_iomem(out.text("iomem") or "")
    pmem = sorted((r.start, r.end) for r in resources_named(iomem, "Persistent Memory (legacy)"))
    facts = [_check("window is legacy pmem", hexr(w.start, w.end), _ranges(pmem), "/proc/iomem at boot")]
    steps = {str(o.get("step")): o for o in out.of_kind("hotplug")}
    for step in ("ndctl", "daxctl"):
        rc = steps.get(step, {}).get("rc")
        said = (out.text(f"{step}-output") or "").strip().splitlines()
        detail = said[0].strip() if rc not in (0, None) and said else ""
        facts.append(_check(f"hotplug {step}", "rc 0", f"rc {rc}" if rc is not None else "not run", detail))
    before = {b.index for b in parse_blocks(out.text("blocks-boot") or "") if b.state == "online"}
    after = parse_blocks(out.text("blocks-hotplug") or "")
    new = [b for b in after if b.index not in before and b.state == "online"]
    expected = w.devdax.blocks_returned
    facts.append(_check("blocks returned as RAM", str(expected), str(len(new)),
                        "blocks " + ",".join(str(b.index) for b in new)))  # fmt: skip
    not_movable = [b.index for b in new if b.zones != "Movable"]
    facts.append(_check("returned blocks are Movable", "all Movable",
                        "all Movable" if not not_movable else f"not Movable: {not_movable}"))  # fmt: skip
    return facts


def overhead_fact(layout: Layout, production: GuestOutput, baseline: GuestOutput | None) -> Fact:
    if baseline is None:
        return Fact("armed overhead", "skip", str(layout.armed_overhead), "n/a", "no baseline boot")
    base = parse_meminfo(baseline.text("meminfo") or "").get("MemTotal")
    # armed = steady state: for a hotplug window, after the window went back to RAM through kmem
    after = "meminfo-hotplug" if layout.strategy.window_mode == "hotplug" else "meminfo"
    prod = parse_meminfo(production.text(after) or "").get("MemTotal")
    if base is None or prod is None:
        return Fact("armed overhead", "fail", str(layout.armed_overhead), "MemTotal missing")
    diff = base - prod
    ok = abs(diff - layout.armed_overhead) <= OVERHEAD_TOLERANCE
    predicted = f"{layout.armed_overhead} ({layout.armed_overhead / MiB:.1f} MiB)"
    tol = OVERHEAD_TOLERANCE // MiB
    detail = f"MemTotal {base} without layoutc's parameters, {prod} with; tolerance {tol} MiB"
    return Fact("armed overhead", "pass" if ok else "fail", predicted, f"{diff} ({diff / MiB:.1f} MiB)", detail)


RAMDISK = re.compile(r"RAMDISK: \[mem (0x[0-9a-f]+)-(0x[0-9a-f]+)\]")


def initrd_fact(layout: Layout, out: GuestOutput, loader: str, size: int) -> Fact:
    """Where the loader put the initrd the lab passed (``size`` bytes): dmesg ``RAMDISK: [mem A-B]``
    (LNX:arch/x86/kernel/setup.c reserve_initrd; B = PAGE_ALIGN(end) - 1) against layoutc.kernel.bootloader.

    Without a ``dmesg`` file (a crash cycle's production boot panics before the guest sends it) the first
    ``RAMDISK:`` line of the serial console is the production kernel's (the crash kernel's comes after it).
    The layout's own ``initrd``/``initrd_bound`` region must be the model's span for this loader and size:
    a layout compiled for another ``boot.loader`` (or initrd size) fails, naming both."""
    name = f"initrd placement ({loader})"
    match = RAMDISK.search(out.text("dmesg") or out.console)
    seen = (int(match.group(1), 16), int(match.group(2), 16) + 1) if match else None
    ram = [(r.start, r.end) for r in layout.memory.ram]
    try:
        model = bootloader.place_initrd(loader, ram, size)
    except bootloader.InitrdError as exc:
        return Fact(name, "fail", str(exc), hexr(*seen) if seen else "none")
    lo, hi = model.span
    assumed = [(r.start, r.end) for r in layout.regions if r.kind in ("initrd", "initrd_bound")]
    detail = f"{size} bytes passed; layout.json assumes {_ranges(assumed)}"
    predicted = hexr(lo, hi) if model.exact else f"inside {hexr(lo, hi)}"
    if assumed and assumed != [(lo, hi)]:
        why = f"; the {loader} model says {hexr(lo, hi)}: compile the profile with boot.loader {loader}"
        return Fact(name, "fail", predicted, hexr(*seen) if seen else "none", detail + why)
    if seen is None:
        return Fact(name, "fail", predicted, "no RAMDISK line in dmesg", detail)
    if model.exact:
        return _check(name, predicted, hexr(*seen), detail)
    inside = lo <= seen[0] and seen[1] <= hi
    return Fact(name, "pass" if inside else "fail", predicted, hexr(*seen), detail + f"; landed at {seen[0]:#x}")


def production_facts(
    layout: Layout, production: GuestOutput, baseline: GuestOutput | None, passed_cmdline: str
) -> list[Fact]:
    """All facts for ``--stage boot``."""
    if not production.done:
        return [Fact("guest finished", "fail", "LAYOUTC-DONE", "guest stopped early", "see the serial log")]
    facts = board_facts(layout, production, passed_cmdline)
    facts += movable_facts(layout, production)
    facts += crash_facts(layout, production)
    facts += window_facts(layout, production)
    facts.append(overhead_fact(layout, production, baseline))
    facts += [Fact("serial protocol", "fail", "clean", p) for p in production.problems]
    return facts
