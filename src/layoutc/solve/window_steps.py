"""Steps that place the dump window and choose movablecore= (kernel.md §2.2, §3.4-3.5, §7.10-7.16)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..kernel import crashkernel, memblock, zones
from ..kernel.pmem import MEMREMAP_COMPAT_ALIGN, devdax
from ..layout import DumpWindow, Guard, MovableZone, Unsafe
from ..model import Pin, Profile, WindowMode
from ..units import MiB, Percent, align_down, align_up, format_addr, format_size
from .crash_steps import CrashPlacement, violate
from .graph import Infeasible


@dataclass(frozen=True, slots=True)
class ZoneChoice:
    movablecore: int | Percent | None
    spans: tuple[MovableZone, ...]


def spell(value: int | Percent) -> str:
    """A movablecore value as the cmdline spells it (256M, 25%)."""
    return str(value) if isinstance(value, Percent) else format_size(value)


def _obstacles(v: Mapping[str, Any]) -> list[tuple[int, int]]:
    out = [(0, 1 * MiB)]
    if v.get("kernel_image"):
        out.append(v["kernel_image"])
    crash: CrashPlacement | None = v.get("crash")
    if crash is not None:
        out.append(crash.crash)
        out.extend([crash.low] if crash.low else [])
        out.extend(crash.cma)
    return out


def _fit(free: Sequence[tuple[int, int]], size: int, bs: int) -> int | None:
    """Highest base in ``free`` with the window's end on a block boundary and the base 2 MiB-aligned."""
    for start, end in sorted(free, reverse=True):
        top = align_down(end, bs)
        while top - size >= start:
            base = align_down(top - size, MEMREMAP_COMPAT_ALIGN)
            if base >= start:
                return base
            top -= bs
    return None


def _window(profile: Profile, base: int, size: int, node: int) -> DumpWindow:
    spec = profile.window
    assert spec is not None
    dax = devdax(base, size, spec.devdax_map, spec.devdax_align, profile.memory.block_size)
    return DumpWindow(base, size, node, str(spec.mode), str(spec.release), dax)


def movable_free(profile: Profile, v: Mapping[str, Any]) -> dict[int, tuple[tuple[int, int], ...]]:
    """Per node: present RAM that can be ZONE_MOVABLE, below the guard, off the crash areas."""
    pres: tuple[memblock.Present, ...] = v["present"]
    lowest = zones.zone_lowest_address(zones.movable_zone(pres))
    pin = profile.pins.movablecore
    # A safe movablecore pin bounds the window from below; an unsafe one is checked afterwards.
    bounded = pin is not None and not pin.unsafe
    pinned = {s.node: s.start for s in zones.movable_spans(pres, movablecore=pin.value)} if pin else {}
    out: dict[int, tuple[tuple[int, int], ...]] = {}
    for guard in v["guards"]:
        floor = pinned.get(guard.node, guard.end) if bounded else lowest
        ranges = [(max(p.start, floor), min(p.end, guard.start)) for p in pres if p.node == guard.node]
        out[guard.node] = crashkernel.subtract([r for r in ranges if r[1] > r[0]], _obstacles(v))
    return out


def place_movable(profile: Profile, v: Mapping[str, Any], unsafe: list[Unsafe]) -> DumpWindow:
    """The highest node's top free movable RAM below the guard, ending on a block boundary."""
    size: int = v["window_size"]
    bs = profile.memory.block_size
    free = movable_free(profile, v)
    pin = profile.pins.window_base
    if pin is not None:
        assert isinstance(pin.value, int)
        size = _pinned_size(profile, pin.value, size)
        return _check_pinned_base(profile, v, pin.value, size, free, pin.unsafe, unsafe)
    for node in sorted(free, reverse=True):
        base = _fit(free[node], size, bs)
        if base is not None:
            return _window(profile, base, size, node)
    best = max((e - s for ranges in free.values() for s, e in ranges), default=0)
    mc = profile.pins.movablecore
    if mc is not None and not mc.unsafe:
        raise Infeasible(
            "LC308",
            f"window {format_size(size)} does not fit: ZONE_MOVABLE from movablecore={spell(mc.value)} holds "
            f"{format_size(best)} below the guard",
            paths=("pins.movablecore", "window.size"),
            hint="raise the pinned movablecore, or drop the pin and let the solver choose",
            value=spell(mc.value),
        )
    guard_text = ", ".join(f"node {g.node} guard {format_addr(g.start)}-{format_addr(g.end)}" for g in v["guards"])
    raise Infeasible(
        "LC302",
        f"window {format_size(size)} does not fit: movable memory below the guard is "
        f"{format_size(best)} at most ({guard_text})",
        paths=("window.size", "memory.map", "crash.reserve"),
        hint="make the window smaller, or give the board more memory above 4 GiB",
        value=format_size(size),
    )


def _check_pinned_base(
    profile: Profile,
    v: Mapping[str, Any],
    base: int,
    size: int,
    free: dict[int, tuple[tuple[int, int], ...]],
    allowed: bool,
    unsafe: list[Unsafe],
) -> DumpWindow:
    value = format_addr(base)
    if base % MEMREMAP_COMPAT_ALIGN:
        violate(
            allowed,
            unsafe,
            "pins.window_base",
            value,
            10,
            Infeasible(
                "LC307",
                f"window base {value} is {format_size(base % MEMREMAP_COMPAT_ALIGN)} past a 2M boundary",
                paths=("pins.window_base",),
                hint="use a multiple of 2M (memremap_compat_align)",
                value=value,
            ),
        )
    pres: tuple[memblock.Present, ...] = v["present"]
    node = next((p.node for p in pres if p.start <= base < p.end), None)
    _check_pinned_overlaps(profile, v, base, size, allowed, unsafe)
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
    return _window(profile, base, size, 0 if node is None else node)


def _pinned_size(profile: Profile, base: int, size: int) -> int:
    """With a pinned base and window.size: auto, grow the window to end on a block boundary (§7.12)."""
    assert profile.window is not None
    if profile.window.size is not None:
        return size
    bs = profile.memory.block_size
    return -(-(base + size) // bs) * bs - base


def _check_pinned_overlaps(
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


def choose_zone(profile: Profile, v: Mapping[str, Any], unsafe: list[Unsafe]) -> ZoneChoice:
    """movablecore= so ZONE_MOVABLE of the window's node starts at the block below the window (§7.13)."""
    pres: tuple[memblock.Present, ...] = v["present"]
    window: DumpWindow = v["window"]
    pin = profile.pins.movablecore
    if pin is not None:
        pinned = _check_pinned_zone(profile, pres, window, pin.value, pin.unsafe, unsafe)
        _check_zone_conflicts(v["crash"], pinned, pin, unsafe)
        return pinned
    target = align_down(window.start, profile.memory.block_size)
    crash: CrashPlacement = v["crash"]
    for start, end in crash.cma:
        if start < target < end:
            # A CMA area must lie in one zone (LNX:mm/cma.c cma_activate_area): keep it all Normal.
            target = align_up(end, zones.MAX_ORDER_BYTES)
            if target > window.start:
                raise Infeasible(
                    "LC306",
                    f"crash CMA [{format_addr(start)}, {format_addr(end)}) would straddle "
                    f"the Normal/Movable boundary; moving the boundary above it misses the window "
                    f"base {format_addr(window.start)} by {format_size(target - window.start)}",
                    paths=("crash.cma_size", "window.size"),
                    hint="shrink crash.cma_size or the window",
                    value=format_size(end - start),
                )
    movablecore = zones.movablecore_for(pres, window.node, target)
    if movablecore is None:
        raise Infeasible(
            "LC302",
            f"no movablecore= puts {format_addr(target)} in ZONE_MOVABLE",
            paths=("window.size", "memory.map"),
            hint="move the window higher",
        )
    spans = zones.movable_spans(pres, movablecore=movablecore)
    choice = ZoneChoice(movablecore, tuple(MovableZone(s.node, s.start, s.end) for s in spans))
    _check_zone_conflicts(crash, choice, None, unsafe)
    return choice


def _check_zone_conflicts(crash: CrashPlacement, choice: ZoneChoice, pin: Pin | None, unsafe: list[Unsafe]) -> None:
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
            # kernel.md §7.20: memblock-reserved crash pages inside ZONE_MOVABLE are unmovable there.
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


def _check_pinned_zone(
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


def place_hotplug(profile: Profile, v: Mapping[str, Any], unsafe: list[Unsafe]) -> DumpWindow:
    """hotplug: memmap=! on every boot; the top of the highest RAM range, ending on a block boundary."""
    assert profile.window is not None and profile.window.mode is WindowMode.HOTPLUG
    size: int = v["window_size"]
    pres: tuple[memblock.Present, ...] = v["present"]
    free = crashkernel.subtract(((p.start, p.end) for p in pres), _obstacles(v))
    pin = profile.pins.window_base
    if pin is not None:
        assert isinstance(pin.value, int)
        base = pin.value
        if base % MEMREMAP_COMPAT_ALIGN:
            violate(
                pin.unsafe,
                unsafe,
                "pins.window_base",
                format_addr(base),
                10,
                Infeasible(
                    "LC307",
                    f"window base {format_addr(base)} is {format_size(base % MEMREMAP_COMPAT_ALIGN)} past a "
                    "2M boundary",
                    paths=("pins.window_base",),
                    hint="use a multiple of 2M",
                    value=format_addr(base),
                ),
            )
        size = _pinned_size(profile, base, size)
        _check_pinned_overlaps(profile, v, base, size, pin.unsafe, unsafe)
    else:
        found = _fit(free, size, profile.memory.block_size)
        if found is None:
            best = max((e - s for s, e in free), default=0)
            raise Infeasible(
                "LC302",
                f"window {format_size(size)} does not fit: the largest RAM range is {format_size(best)}",
                paths=("window.size", "memory.map"),
                hint="make the window smaller",
                value=format_size(size),
            )
        base = found
    node = next((p.node for p in pres if p.start <= base < p.end), 0)
    return _window(profile, base, size, node)


def check_blocks(profile: Profile, v: Mapping[str, Any], unsafe: list[Unsafe]) -> None:
    """§7.11/§7.28: the window must give back at least one whole block through dax/kmem."""
    window: DumpWindow = v["window"]
    dax = window.devdax
    if dax.blocks_returned >= 1 or window.release == "reboot":
        return
    pin = profile.pins.window_base
    exc = Infeasible(
        "LC303",
        f"window {format_size(window.size)} at {format_addr(window.start)} returns no whole "
        f"block: data starts at {format_addr(dax.dax_start)}, blocks of "
        f"{format_size(profile.memory.block_size)} fit from {format_addr(dax.kmem_start)} to "
        f"{format_addr(dax.dax_end)}",
        paths=("window.size", "pins.window_base", "memory.block_size"),
        hint="use base = k*block - dataoff and size = n*block + dataoff (window.size: auto does)",
        value=format_size(window.size),
    )
    violate(pin is not None and pin.unsafe, unsafe, "pins.window_base", format_addr(window.start), 11, exc)
