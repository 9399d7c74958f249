"""Independent checker: every applicable rule of docs/reference/kernel-rules.md §7, re-derived from a
``Layout``'s command lines.

It does not trust the solver's choices: it parses the emitted production/crash/recovery
parameters, re-runs the kernel models (memblock, zones, crashkernel placement, devdax/kmem) on
the profile's memory map and checks the resulting physical layout. Tests run it on every layout
the solver emits (hypothesis over random maps), and ``solve`` runs it before returning.

Rules checked (docs/reference/kernel-rules.md §7): 1, 2, 3, 4, 7, 8, 9, 10, 11, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22,
23, 24, 27. Not applicable to emitted layouts: 5, 6 (layoutc never emits kernelcore=, mirror or
movable_node); 13 is a warning (LC314); 25, 26, 30-33 are runtime checks of the arm script and
recovery units; 28 is 11 with kmem; 29 is enforced while solving (LC310).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from layoutc.kernel import cmdline as kcmd
from layoutc.kernel import crashkernel, memblock, zones
from layoutc.kernel.kaslr import MAX_MEMMAP_REGIONS, fixed_image
from layoutc.kernel.pmem import REGION_ALIGN, devdax
from layoutc.model import intervals
from layoutc.model.layout import Layout, RegionKind
from layoutc.model.profile import Arch, DevdaxMap, MemRange
from layoutc.model.units import MiB, Percent, format_addr, parse_size, parse_size_or_percent
from layoutc.solve import check_arm64


@dataclass(frozen=True, slots=True)
class Violation:
    rule: int  # docs/reference/kernel-rules.md §7 item
    message: str


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _memmaps(cmdline: str) -> list[tuple[int, int]]:
    out = []
    for word in cmdline.split():
        if word.startswith("memmap=") and "!" in word:
            size, base = word[len("memmap=") :].split("!", 1)
            out.append((parse_size(base), parse_size(base) + parse_size(size)))
    return out


def _rng(r: tuple[int, int]) -> str:
    return f"[{format_addr(r[0])}, {format_addr(r[1])})"


def check(layout: Layout) -> list[Violation]:
    """All violations of the §7 rules that apply to this layout (empty when it is sound)."""
    out: list[Violation] = []
    arch = Arch(layout.arch)
    prod, crash_line, recovery = layout.cmdline.production, layout.cmdline.crash, layout.cmdline.recovery
    out.extend(_syntax(" ".join((prod, crash_line, recovery))))
    if out:
        return out
    if arch is Arch.ARM64:
        return out + _check_arm64(layout)
    windows = _memmaps(prod) if layout.strategy.window_mode == "hotplug" else _memmaps(crash_line)
    present = memblock.present_ranges(layout.memory, arch, _memmaps(prod))
    ram = memblock.total_pages(present) * memblock.PAGE_SIZE
    out.extend(_crashkernel_class_rules(prod))
    args = crashkernel.parse(prod, ram)
    if args.error:
        out.append(Violation(4, f"crashkernel= reserves nothing: {args.error}"))
        return out
    if args.offset is not None and args.offset % crashkernel.CRASH_ALIGN:
        out.append(Violation(9, f"crashkernel offset {format_addr(args.offset)} not 16M-aligned"))
    image = None if layout.kaslr else fixed_image(_image_size(layout))
    initrd = [(r.start, r.end) for r in layout.regions if r.kind == "initrd"]
    free = intervals.subtract(_free_for_crash(present, image), initrd)
    align = crashkernel.CRASH_ALIGN if arch is Arch.X86_64 else crashkernel.CRASH_ALIGN_GENERIC
    placed = crashkernel.place(args, free, align)
    if placed.crash is None:
        out.append(Violation(20, f"crashkernel= cannot be placed: {placed.message}"))
        return out
    crash_areas = [placed.crash] + ([placed.low] if placed.low else [])
    cma = (
        crashkernel.place_cma(args.cma_size, intervals.subtract(free, crash_areas), max(p.end for p in present))
        if args.cma_size
        else ()
    )
    out.extend(_placement_rules(layout, crash_areas, cma))
    spans, zone_violations = _zone_rules(layout, present, ram, crash_areas, cma)
    out.extend(zone_violations)
    out.extend(_stage_rules(layout, windows))
    for window in windows:
        out.extend(_window_rules(layout, window, spans, crash_areas, list(cma), image))
    out.extend(_cmdline_length_rules(layout))
    return out


def _check_arm64(layout: Layout) -> list[Violation]:
    """arm64: the default reservations and crash memory re-placed, the window from the device-tree edit."""
    out: list[Violation] = []
    present = memblock.present_ranges(layout.memory, Arch.ARM64)
    ram = memblock.total_pages(present) * memblock.PAGE_SIZE
    out.extend(_crashkernel_class_rules(layout.cmdline.production))
    args = crashkernel.parse(layout.cmdline.production, ram)
    if args.error:
        return [*out, Violation(4, f"crashkernel= reserves nothing: {args.error}")]
    boot, wrong = check_arm64.placement(layout, present, args)
    out.extend(Violation(rule, f"arm64 region differs from the kernel's ({have} vs {want})")
               for rule, have, want in wrong)
    if boot.crash.crash is None:
        return [*out, Violation(20, f"crashkernel= cannot be placed: {boot.crash.message}")]
    crash_areas = [boot.crash.crash] + ([boot.crash.low] if boot.crash.low else [])
    out.extend(_placement_rules(layout, crash_areas, ()))
    spans, zone_violations = _zone_rules(layout, present, ram, crash_areas, boot.cma)
    out.extend(zone_violations)
    out.extend(Violation(rule, message) for rule, message in check_arm64.stage_messages(layout, present))
    for name in ("crashkernel", "movablecore", "kernelcore"):
        if name in kcmd.param_names(layout.cmdline.crash):
            out.append(Violation(23, f"{name}= in the crash cmdline"))
    image = check_arm64.image(layout, present)
    for window in check_arm64.windows(layout):
        out.extend(_window_rules(layout, window, spans, crash_areas, check_arm64.obstacles(layout), image))
    out.extend(_cmdline_length_rules(layout))
    return out


def _crashkernel_class_rules(prod: str) -> list[Violation]:
    """§7.2/§7.3: one crashkernel= per class, no unsuffixed + ,high/,low mix; ,cma needs X or X,high."""
    out = []
    classes = [
        w.split("=", 1)[1].rsplit(",", 1)[-1] if "," in w else "" for w in prod.split() if w.startswith("crashkernel=")
    ]
    if len(classes) != len(set(classes)) or ("" in classes and ({"high", "low"} & set(classes))):
        out.append(Violation(2, f"crashkernel= classes repeat or mix: {classes}"))
    if "cma" in classes and not ({"", "high"} & set(classes)):
        out.append(Violation(3, ",cma without crashkernel=X"))
    return out


def _free_for_crash(
    present: tuple[memblock.Present, ...], image: tuple[int, int] | None
) -> tuple[tuple[int, int], ...]:
    """RAM the crash reservation may take: not the first MiB, each node's top allocations or the fixed image."""
    taken = [
        (0, 1 * MiB),
        *[(memblock.node_end(present, n) - 0x2C000, memblock.node_end(present, n)) for n in memblock.nodes_of(present)],
    ]
    return intervals.subtract(((p.start, p.end) for p in present), taken + ([image] if image else []))


def _placement_rules(
    layout: Layout, crash_areas: list[tuple[int, int]], cma: Sequence[tuple[int, int]]
) -> list[Violation]:
    """The layout's crash regions are where the kernel places them."""
    out = []
    expect = sorted((r.start, r.end) for r in layout.regions if r.kind in ("crashkernel", "crashkernel_low"))
    if expect != sorted(crash_areas):
        out.append(Violation(20, f"layout says crash areas {expect}, the kernel places {sorted(crash_areas)}"))
    if sorted((r.start, r.end) for r in layout.regions if r.kind == "crash_cma") != sorted(cma):
        out.append(Violation(14, f"layout CMA areas differ from the kernel's {list(map(_rng, cma))}"))
    return out


def _zone_rules(
    layout: Layout,
    present: tuple[memblock.Present, ...],
    ram: int,
    crash_areas: list[tuple[int, int]],
    cma: Sequence[tuple[int, int]],
) -> tuple[tuple[zones.ZoneSpan, ...], list[Violation]]:
    """ZONE_MOVABLE as the kernel makes it from movablecore=, and the crash memory against it."""
    out = []
    mc = kcmd.value_of(layout.cmdline.production, "movablecore")
    movable_value: int | Percent | None = parse_size_or_percent(mc) if mc else None
    spans = zones.movable_spans(present, movablecore=movable_value)
    got = sorted((z.node, z.start, z.end) for z in layout.movable_zone)
    if got != sorted((s.node, s.start, s.end) for s in spans):
        out.append(Violation(16, f"layout movable_zone {got} differs from the kernel's prediction"))
    if movable_value is not None and zones.core_pages(movable_value, ram // 4096) * 4096 >= ram:
        out.append(Violation(27, "movablecore not below RAM"))
    for area in crash_areas:
        if any(_overlap(area, (s.start, s.end)) for s in spans):
            out.append(Violation(20, f"crash reservation {_rng(area)} inside ZONE_MOVABLE"))
    for area in cma:
        zone_set = {zones.zone_of(a, spans, _node_at(present, a)) for a in (area[0], area[1] - 1)}
        if len(zone_set) > 1 or any(s.start > area[0] and s.start < area[1] for s in spans):
            out.append(Violation(21, f"CMA area {_rng(area)} straddles zones {sorted(zone_set)}"))
        if area[0] % crashkernel.CMA_ALIGN or area[1] % crashkernel.CMA_ALIGN:
            out.append(Violation(14, f"CMA area {_rng(area)} not 2M-aligned"))
    if len(cma) > crashkernel.CMA_RANGES_MAX:
        out.append(Violation(14, "more than 4 CMA areas"))
    return spans, out


def _cmdline_length_rules(layout: Layout) -> list[Violation]:
    """§7.7: each stage's full command line fits the kernel's (the crash one leaves kexec's prefix room)."""
    out = []
    prod, crash_line, recovery = layout.cmdline.production, layout.cmdline.crash, layout.cmdline.recovery
    if len(kcmd.join([layout.board_cmdline, prod])) >= kcmd.COMMAND_LINE_SIZE:
        out.append(Violation(7, "production cmdline too long"))
    if len(kcmd.join([layout.crash_board_cmdline, crash_line])) >= kcmd.COMMAND_LINE_SIZE - kcmd.KEXEC_PREFIX_RESERVE:
        out.append(Violation(7, "crash cmdline too long"))
    if len(kcmd.join([layout.board_cmdline, recovery])) >= kcmd.COMMAND_LINE_SIZE:
        out.append(Violation(7, "recovery cmdline too long"))
    return out


SIZE_RE = re.compile(r"^(0x[0-9a-f]+|0|[1-9][0-9]*)[KMGTPE]?$")


def _syntax(cmdline: str) -> list[Violation]:
    """§7.1: every size and address memparse-compatible, addresses in lower-case 0x hex."""
    out = []
    for word in cmdline.split():
        name, _, value = word.partition("=")
        if name == "crashkernel":
            parts = re.split(r"[@]", value.split(",")[0])
        elif name == "movablecore":
            parts = [value[:-1] if value.endswith("%") else value]
        elif name == "memmap":
            size, _, base = value.partition("!")
            parts = [size, base]
            if not base.startswith("0x"):
                out.append(Violation(1, f"memmap= base {base!r} is not canonical 0x hex"))
        else:
            continue
        out.extend(Violation(1, f"{word}: {p!r} is not memparse-compatible") for p in parts if not SIZE_RE.match(p))
    return out


def _image_size(layout: Layout) -> int:
    images = layout.regions_of(RegionKind.KERNEL_IMAGE)
    return images[0].end - images[0].start if images else 0


def _node_at(present: tuple[memblock.Present, ...], address: int) -> int:
    return next((p.node for p in present if p.start <= address < p.end), 0)


def _stage_rules(layout: Layout, windows: list[tuple[int, int]]) -> list[Violation]:
    out = []
    prod, crash_line, recovery = layout.cmdline.production, layout.cmdline.crash, layout.cmdline.recovery
    mode = layout.strategy.window_mode
    if mode == "movable" and _memmaps(prod):
        out.append(Violation(22, "memmap=! in the production cmdline of a movable window"))
    if mode == "movable" and layout.kaslr and layout.kaslr_guard != "runtime-check":
        out.append(Violation(19, "KASLR on with a movable window and no runtime check"))
    for name in ("crashkernel", "movablecore", "kernelcore", "cma", "hugetlb_cma", "hugepages"):
        if name in kcmd.param_names(crash_line):
            out.append(Violation(23, f"{name}= in the crash cmdline"))
    if "memmap=exactmap" in crash_line.split():
        out.append(Violation(23, "memmap=exactmap in the crash cmdline"))
    for word in ("irqpoll", "reset_devices"):
        if word not in crash_line.split():
            out.append(Violation(23, f"crash cmdline lacks {word}"))
    if mode is not None and sorted(_memmaps(crash_line)) != sorted(windows):
        out.append(Violation(23, "crash memmap=! differs from the window"))
    if mode == "movable":
        if sorted(_memmaps(recovery)) != sorted(windows):
            out.append(Violation(24, "recovery memmap=! differs from the window"))
        if "movablecore" in kcmd.param_names(recovery):
            out.append(Violation(24, "movablecore= kept in the recovery cmdline"))
    if mode is None and (_memmaps(prod) or _memmaps(crash_line)):
        out.append(Violation(23, "memmap=! without a window"))
    if len(windows) > MAX_MEMMAP_REGIONS:
        out.append(Violation(8, "more than 4 memmap= ranges"))
    return out


def _window_rules(
    layout: Layout,
    window: tuple[int, int],
    spans: tuple[zones.ZoneSpan, ...],
    crash_areas: list[tuple[int, int]],
    cma: list[tuple[int, int]],
    image: tuple[int, int] | None,
) -> list[Violation]:
    out = []
    bs = layout.memory.block_size
    start, end = window
    if start % REGION_ALIGN or (end - start) % REGION_ALIGN:
        out.append(Violation(10, f"window {_rng(window)} base or size not a multiple of 16M (pmem region align)"))
    if not any(r.start <= start and end <= r.end for r in layout.memory.ram):
        out.append(Violation(15, f"window {_rng(window)} not inside one RAM range"))
    if any(_overlap(window, (r.start, r.end)) for r in layout.memory.ranges if not _is_ram(r)):
        out.append(Violation(15, f"window {_rng(window)} overlaps non-RAM"))
    if layout.strategy.window_mode == "movable":
        if not any(s.start <= start and end <= s.end for s in spans):
            out.append(Violation(16, f"window {_rng(window)} not inside ZONE_MOVABLE"))
        present = memblock.present_ranges(layout.memory, Arch(layout.arch))
        for early in memblock.early_top(present, layout.memory.early_reserved, Arch(layout.arch)):
            top = (
                memblock.top_down_start(present, early.node, early.total),
                memblock.node_end(present, early.node),
            )
            if _overlap(window, top):
                out.append(
                    Violation(16, f"window {_rng(window)} over node {early.node}'s early allocations {_rng(top)}")
                )
    for area in crash_areas:
        if _overlap(window, area):
            out.append(Violation(17, f"window {_rng(window)} overlaps crash reservation {_rng(area)}"))
    for area in cma:
        if _overlap(window, area):
            out.append(Violation(17, f"window {_rng(window)} overlaps crash CMA {_rng(area)}"))
    if _overlap(window, (0, 1 * MiB)) or (image is not None and _overlap(window, image)):
        out.append(Violation(18, f"window {_rng(window)} overlaps the low 1M or the kernel image"))
    spec = layout.dump_window
    if spec is not None and spec.release == "kmem":
        dax = devdax(start, end - start, DevdaxMap(spec.devdax.map), spec.devdax.align, bs)
        if dax.blocks_returned < 1:
            out.append(Violation(11, f"window {_rng(window)} returns no whole block"))
        if dax.blocks_returned != spec.devdax.blocks_returned:
            out.append(Violation(11, "layout's blocks_returned differs from dax_kmem_range"))
        if end % bs and dax.end_trunc == 0 and dax.dax_end % bs:
            out.append(Violation(12, f"window end {format_addr(end)} not block-aligned"))
    return out


def _is_ram(r: MemRange) -> bool:
    return r.type.value == "ram"
