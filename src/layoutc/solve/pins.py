"""Checks of a placed window and a chosen or pinned ZONE_MOVABLE against the safety rules.

For pins (pins.window_base, pins.movablecore) each rule a pin breaks is an error, or an ``Unsafe``
record when the pin says ``unsafe: true``; for the solver's own choices it is always an error
(docs/reference/kernel-rules.md §7.10-7.21, §7.27).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from layoutc.kernel import memblock, zones
from layoutc.kernel.pmem import REGION_ALIGN
from layoutc.model.layout import DumpWindow, Guard, MovableZone, Unsafe
from layoutc.model.profile import Pin, Profile
from layoutc.model.units import MiB, Percent, format_addr, format_size
from layoutc.solve.crash_steps import CrashPlacement, violate
from layoutc.solve.graph import Infeasible


@dataclass(frozen=True, slots=True)
class ZoneChoice:
    movablecore: int | Percent | None
    spans: tuple[MovableZone, ...]


def spell(value: int | Percent) -> str:
    """A movablecore value as the cmdline spells it (256M, 25%)."""
    return str(value) if isinstance(value, Percent) else format_size(value)


def check_pinned_base(
    profile: Profile,
    v: Mapping[str, Any],
    base: int,
    size: int,
    free: dict[int, tuple[tuple[int, int], ...]],
    allowed: bool,
    unsafe: list[Unsafe],
) -> int:
    value = format_addr(base)
    if base % REGION_ALIGN:
        violate(
            allowed,
            unsafe,
            "pins.window_base",
            value,
            10,
            Infeasible(
                "LC307",
                f"window base {value} is {format_size(base % REGION_ALIGN)} past a 16M boundary",
                paths=("pins.window_base",),
                hint="use a multiple of 16M (the pmem region alignment; ndctl refuses others)",
                value=value,
            ),
        )
    pres: tuple[memblock.Present, ...] = v["present"]
    node = next((p.node for p in pres if p.start <= base < p.end), None)
    check_pinned_overlaps(profile, v, base, size, allowed, unsafe)
    inside = any(s <= base and base + size <= e for ranges in free.values() for s, e in ranges)
    if not inside:
        guards: tuple[Guard, ...] = v["guards"]
        text = ", ".join(
            f"node {n}: " + ", ".join(f"[{format_addr(s)}, {format_addr(e)})" for s, e in r)
            for n, r in sorted(free.items())
        )
        violate(
            allowed,
            unsafe,
            "pins.window_base",
            value,
            16,
            Infeasible(
                "LC308",
                f"window [{value}, {format_addr(base + size)}) is not inside movable RAM clear of the guard "
                f"and the crash areas ({text or 'none'}; guards at "
                + ", ".join(format_addr(g.start) for g in guards)
                + ")",
                paths=("pins.window_base", "window.size"),
                hint="move the base or drop the pin",
                value=value,
            ),
        )
    return 0 if node is None else node


def pinned_size(profile: Profile, base: int, size: int) -> int:
    """With a pinned base and window.size: auto, grow the window to end on a block boundary (§7.12)."""
    assert profile.window is not None
    if profile.window.size is not None:
        return size
    bs = profile.memory.block_size
    return -(-(base + size) // bs) * bs - base


def check_pinned_overlaps(
    profile: Profile, v: Mapping[str, Any], base: int, size: int, allowed: bool, unsafe: list[Unsafe]
) -> None:
    """A pinned window over non-RAM (§7.15), the crash areas (§7.17), the low 1M or the image (§7.18)."""
    window = (base, base + size)
    value = format_addr(base)
    text = f"window [{value}, {format_addr(base + size)})"
    if not any(r.start <= base and base + size <= r.end for r in profile.memory.ram):
        exc = Infeasible(
            "LC309",
            f"{text} is not inside one RAM range; memmap=! would turn what it covers into pmem",
            paths=("pins.window_base", "memory.map"),
            hint="keep the window in RAM",
            value=value,
        )
        violate(allowed, unsafe, "pins.window_base", value, 15, exc)
    crash: CrashPlacement | None = v.get("crash")
    areas = [crash.crash, *([crash.low] if crash.low else []), *crash.cma] if crash else []
    for area in areas:
        if area[0] < window[1] and window[0] < area[1]:
            exc = Infeasible(
                "LC304",
                f"{text} overlaps the crash area [{format_addr(area[0])}, {format_addr(area[1])})",
                paths=("pins.window_base", "crash.reserve"),
                hint="move the window off the crash kernel's memory",
                value=value,
            )
            violate(allowed, unsafe, "pins.window_base", value, 17, exc)
    image = v.get("kernel_image")
    for area in [(0, 1 * MiB), *([image] if image else [])]:
        if area[0] < window[1] and window[0] < area[1]:
            exc = Infeasible(
                "LC309",
                f"{text} overlaps [{format_addr(area[0])}, {format_addr(area[1])}) (low 1M or kernel image)",
                paths=("pins.window_base",),
                hint="move the window",
                value=value,
            )
            violate(allowed, unsafe, "pins.window_base", value, 18, exc)
    if (base + size) % profile.memory.block_size:
        exc = Infeasible(
            "LC303",
            f"{text} does not end on a block boundary; the last partial block never comes back",
            paths=("pins.window_base", "window.size"),
            hint="size the window so base + size is a multiple of the block size",
            value=value,
        )
        violate(allowed, unsafe, "pins.window_base", value, 12, exc)


def check_zone_conflicts(crash: CrashPlacement, choice: ZoneChoice, pin: Pin | None, unsafe: list[Unsafe]) -> None:
    """§7.21: every CMA area in one zone; §7.20: no crash reservation inside ZONE_MOVABLE."""
    allowed = pin is not None and pin.unsafe
    spans = choice.spans
    mc = spell(choice.movablecore) if choice.movablecore is not None else ""
    for start, end in crash.cma:
        split = [s for s in spans if start < s.start < end]
        if split:
            # LNX:mm/cma.c cma_activate_area: "CMA area ... could not be activated" across zones.
            exc = Infeasible(
                "LC306",
                f"crash CMA [{format_addr(start)}, {format_addr(end)}) straddles node {split[0].node}'s "
                f"Normal/Movable boundary at {format_addr(split[0].start)} (movablecore={mc})",
                paths=("pins.movablecore" if pin else "crash.cma_size", "crash.cma_size", "window.size", "memory.map"),
                hint="shrink crash.cma_size, or pin movablecore so every node's boundary clears the CMA area",
                value=format_size(end - start),
            )
            violate(allowed, unsafe, "pins.movablecore", mc, 21, exc)
    for area in [crash.crash, *([crash.low] if crash.low else [])]:
        inside = [s for s in spans if area[0] < s.end and s.start < area[1]]
        if inside:
            # docs/reference/kernel-rules.md §7.20: memblock-reserved crash pages inside ZONE_MOVABLE are unmovable
            # there.
            exc = Infeasible(
                "LC304",
                f"crashkernel [{format_addr(area[0])}, {format_addr(area[1])}) lands inside ZONE_MOVABLE "
                f"[{format_addr(inside[0].start)}, {format_addr(inside[0].end)}) that the window needs",
                paths=("pins.movablecore" if pin else "crash.reserve", "crash.reserve", "window.size", "memory.map"),
                hint=f"pin crashkernel_offset below {format_addr(inside[0].start)} (16M-aligned), "
                "or use a smaller window",
                value=crash.args,
            )
            violate(allowed, unsafe, "pins.movablecore", mc, 20, exc)


def check_pinned_zone(
    profile: Profile,
    pres: tuple[memblock.Present, ...],
    window: DumpWindow,
    value: int | Percent,
    allowed: bool,
    unsafe: list[Unsafe],
) -> ZoneChoice:
    ram = memblock.total_pages(pres) * memblock.PAGE_SIZE
    if zones.core_pages(value, ram // memblock.PAGE_SIZE) * memblock.PAGE_SIZE >= ram:
        exc = Infeasible(
            "LC312",
            f"movablecore={spell(value)} is not below System RAM ({format_size(ram)})",
            paths=("pins.movablecore", "memory.map"),
            hint="pin less",
            value=spell(value),
        )
        violate(allowed, unsafe, "pins.movablecore", spell(value), 27, exc)
    spans = zones.movable_spans(pres, movablecore=value)
    mine = next((s for s in spans if s.node == window.node), None)
    if mine is None or not mine.start <= window.start < window.end <= mine.end:
        where = f"starts at {format_addr(mine.start)}" if mine else "does not exist"
        violate(
            allowed,
            unsafe,
            "pins.movablecore",
            spell(value),
            16,
            Infeasible(
                "LC308",
                f"movablecore={spell(value)}: node {window.node}'s ZONE_MOVABLE {where}, so the window "
                f"[{format_addr(window.start)}, {format_addr(window.end)}) is not inside it",
                paths=("pins.movablecore", "window.size"),
                hint="raise movablecore or drop the pin",
                value=spell(value),
            ),
        )
    return ZoneChoice(value, tuple(MovableZone(s.node, s.start, s.end) for s in spans))
