"""Steps that place the dump window and choose movablecore= (docs/reference/kernel-rules.md §2.2,
§3.4-3.5, §7.10-7.16)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from layoutc.kernel import memblock, zones
from layoutc.kernel.pmem import REGION_ALIGN, devdax
from layoutc.model import intervals
from layoutc.model.layout import DumpWindow, MovableZone, Unsafe
from layoutc.model.profile import Arch, Profile, WindowMode
from layoutc.model.units import MiB, align_down, align_up, format_addr, format_size
from layoutc.solve import pins
from layoutc.solve.crash_steps import CrashPlacement, violate
from layoutc.solve.graph import Infeasible
from layoutc.solve.pins import ZoneChoice, spell


def _obstacles(v: Mapping[str, Any]) -> list[tuple[int, int]]:
    out = [(0, 1 * MiB)]
    if v.get("kernel_image"):
        out.append(v["kernel_image"])
    crash: CrashPlacement | None = v.get("crash")
    if crash is not None:
        out.append(crash.crash)
        out.extend([crash.low] if crash.low else [])
        out.extend(crash.cma)
        # arm64: the kernel's default CMA areas, swiotlb and QEMU's initrd (docs/reference/kernel-rules.md §8.5)
        out.extend((s, e) for s, e, _ in crash.default_cma)
        out.extend([crash.swiotlb] if crash.swiotlb else [])
        if crash.default_cma and crash.initrd is not None and crash.initrd.exact:
            out.append(crash.initrd.span)
    return out


def _fit(free: Sequence[tuple[int, int]], size: int, bs: int) -> int | None:
    """Highest base in ``free`` with the window's end on a block boundary and the base 16 MiB-aligned."""
    for start, end in sorted(free, reverse=True):
        top = align_down(end, bs)
        while top - size >= start:
            base = align_down(top - size, REGION_ALIGN)
            if base >= start:
                return base
            top -= bs
    return None


def _window(profile: Profile, base: int, size: int, node: int) -> DumpWindow:
    spec = profile.window
    assert spec is not None
    dax = devdax(base, size, spec.devdax_map, spec.devdax_align, profile.memory.block_size)
    return DumpWindow(base, size, node, spec.mode, spec.release, dax)


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
        out[guard.node] = intervals.subtract([r for r in ranges if r[1] > r[0]], _obstacles(v))
    return out


def place_movable(profile: Profile, v: Mapping[str, Any], unsafe: list[Unsafe]) -> DumpWindow:
    """The highest node's top free movable RAM below the guard, ending on a block boundary."""
    size: int = v["window_size"]
    bs = profile.memory.block_size
    free = movable_free(profile, v)
    pin = profile.pins.window_base
    if pin is not None:
        assert isinstance(pin.value, int)
        size = pins.pinned_size(profile, pin.value, size)
        node = pins.check_pinned_base(profile, v, pin.value, size, free, pin.unsafe, unsafe)
        placed = _window(profile, pin.value, size, node)
        check_arm64_node(profile, placed)
        return placed
    if profile.arch is Arch.ARM64:
        # the recovery boot's mem= ends memblock at the window: only the highest node may hold it (§8.6)
        free = {n: r for n, r in free.items() if n == highest_node(profile)}
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


def highest_node(profile: Profile) -> int:
    """The node that holds the highest RAM address."""
    top = max(profile.memory.ram, key=lambda r: r.end)
    return top.node or 0


def check_arm64_node(profile: Profile, window: DumpWindow) -> None:
    """arm64: the recovery boot keeps the window out of memblock with mem=, which cuts everything above
    the window's start, so the window must lie in the highest-addressed node (LC330)."""
    if profile.arch is not Arch.ARM64 or window.node == highest_node(profile):
        return
    raise Infeasible(
        "LC330",
        f"window at {format_addr(window.start)} is on node {window.node}, not on node {highest_node(profile)} "
        "that holds the highest RAM: the recovery boot's mem= would cut off all memory above it",
        paths=("pins.window_base",),
        hint=f"pin the window inside node {highest_node(profile)}, or drop the pin",
        value=format_addr(window.start),
    )


def choose_zone(profile: Profile, v: Mapping[str, Any], unsafe: list[Unsafe]) -> ZoneChoice:
    """movablecore= so ZONE_MOVABLE of the window's node starts at the block below the window (§7.13)."""
    pres: tuple[memblock.Present, ...] = v["present"]
    window: DumpWindow = v["window"]
    pin = profile.pins.movablecore
    if pin is not None:
        pinned = pins.check_pinned_zone(profile, pres, window, pin.value, pin.unsafe, unsafe)
        pins.check_zone_conflicts(v["crash"], pinned, pin, unsafe)
        return pinned
    target = align_down(window.start, profile.memory.block_size)
    # The zone cannot start below the node's first movable-eligible page (rounded to MAX_ORDER).
    lowest = zones.zone_lowest_address(zones.movable_zone(pres))
    eligible = min(max(p.start, lowest) for p in pres if p.node == window.node and p.end > lowest)
    target = max(target, align_up(eligible, zones.MAX_ORDER_BYTES))
    crash: CrashPlacement = v["crash"]
    for start, end in (*crash.cma, *((s, e) for s, e, _ in crash.default_cma)):
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
    pins.check_zone_conflicts(crash, choice, None, unsafe)
    return choice


def place_hotplug(profile: Profile, v: Mapping[str, Any], unsafe: list[Unsafe]) -> DumpWindow:
    """hotplug: memmap=! on every boot; the top of the highest RAM range, ending on a block boundary."""
    assert profile.window is not None and profile.window.mode is WindowMode.HOTPLUG
    size: int = v["window_size"]
    pres: tuple[memblock.Present, ...] = v["present"]
    free = intervals.subtract(((p.start, p.end) for p in pres), _obstacles(v))
    pin = profile.pins.window_base
    if pin is not None:
        assert isinstance(pin.value, int)
        base = pin.value
        if base % REGION_ALIGN:
            violate(
                pin.unsafe,
                unsafe,
                "pins.window_base",
                format_addr(base),
                10,
                Infeasible(
                    "LC307",
                    f"window base {format_addr(base)} is {format_size(base % REGION_ALIGN)} past a "
                    "16M boundary",
                    paths=("pins.window_base",),
                    hint="use a multiple of 16M (the pmem region alignment)",
                    value=format_addr(base),
                ),
            )
        size = pins.pinned_size(profile, base, size)
        pins.check_pinned_overlaps(profile, v, base, size, pin.unsafe, unsafe)
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
