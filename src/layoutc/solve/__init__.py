"""The solver: a profile becomes a ``Layout`` through a constraint graph (see ``graph``).

``solve`` is pure: it reads the frozen ``Profile`` and appends LC3xx diagnostics; it returns
None when a constraint cannot hold. The result is re-checked rule by rule by ``check`` (an
independent re-derivation from the emitted command lines), so a solver bug is an LC315 error,
never a silently wrong layout.
"""

from __future__ import annotations

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.model.layout import Layout, RegionKind, Unsafe
from layoutc.model.profile import Profile
from layoutc.model.units import format_addr, format_size
from layoutc.solve import assemble, check
from layoutc.solve.graph import evaluate
from layoutc.solve.plan import steps
from layoutc.solve.solver_codes import CODE2RULE

__all__ = ["solve"]

MOVABLE_RATIO_MAX = 3  # docs/reference/kernel-rules.md §7.27 (memory-hotplug.rst: MOVABLE:KERNEL up to about 3:1)


def solve(profile: Profile, diags: Diagnostics) -> Layout | None:
    """Solve one concrete profile into a Layout, or None with LC3xx diagnostics."""
    unsafe: list[Unsafe] = []
    graph_steps = steps(profile, unsafe)
    result = evaluate(graph_steps, profile, diags, {})
    if result.failed:
        return None
    by_name = {s.name: s for s in graph_steps}
    layout = assemble.layout(profile, result.values, by_name, unsafe)
    _warnings(profile, layout, diags)
    accepted = {u.rule for u in layout.unsafe}
    for violation in check.check(layout):
        if violation.rule in accepted:
            continue
        diags.error(
            "LC315",
            f"rule {violation.rule}: {violation.message}",
            span=profile.span(""),
            rule=CODE2RULE["LC315"],
            hint="report this profile: the solver produced it",
        )
    return None if any(d.code == "LC315" for d in diags.items) else layout


def _warnings(profile: Profile, layout: Layout, diags: Diagnostics) -> None:
    window = layout.dump_window
    bs = profile.memory.block_size
    for zone in layout.movable_zone:
        if window is not None and zone.node == window.node and zone.start % bs:
            diags.warning(
                "LC314",
                f"ZONE_MOVABLE of node {zone.node} starts at {format_addr(zone.start)}, "
                f"{format_size(zone.start % bs)} into a block",
                span=profile.span("pins.movablecore"),
                rule=CODE2RULE["LC314"],
                hint="that block cannot be offlined; the window is unaffected",
            )
    movable = sum(z.end - z.start for z in layout.movable_zone)
    ram = layout.memory.total_ram
    if movable and movable * (MOVABLE_RATIO_MAX + 1) > ram * MOVABLE_RATIO_MAX:
        diags.warning(
            "LC313",
            f"ZONE_MOVABLE is {format_size(movable)} of {format_size(ram)} RAM",
            span=profile.span("window.size"),
            rule=CODE2RULE["LC313"],
            hint="use a smaller window",
        )
    _initrd_bound_warning(profile, layout, diags)
    if layout.kaslr_guard == "runtime-check":
        diags.warning(
            "LC316",
            "KASLR stays on with a movable window: the kernel image may land in it",
            span=profile.span("kaslr"),
            path="kaslr",
            value="on",
            rule=CODE2RULE["LC316"],
            hint="the arm script refuses to arm when /proc/iomem shows Kernel code inside the window",
        )


def _initrd_bound_warning(profile: Profile, layout: Layout, diags: Diagnostics) -> None:
    """Where the firmware chooses the initrd's pages (EFI stub), a crash area it could overlap may move.

    memblock's searches are first-fit (top-down; CMA bottom-up from 4G): an initrd that misses every
    crash area leaves each placement unchanged, one that overlaps moves it. A warning, not an error:
    the firmware's choice cannot be known here, and arm.sh checks the reservation's size and warns when
    the kernel placed crash CMA elsewhere (layoutc.kernel.bootloader)."""
    bounds = layout.regions_of(RegionKind.INITRD_BOUND)
    crash = layout.regions_of(RegionKind.CRASHKERNEL, RegionKind.CRASHKERNEL_LOW, RegionKind.CRASH_CMA)
    hit = [c for c in crash for b in bounds if c.start < b.end and b.start < c.end]
    if not hit or profile.boot is None:
        return
    diags.warning(
        "LC321",
        f"{profile.boot.loader} lets the firmware put the initrd anywhere in [{format_addr(bounds[0].start)}, "
        f"{format_addr(bounds[0].end)}), over the crash area [{format_addr(hit[0].start)}, "
        f"{format_addr(hit[0].end)}): where it lands there, the kernel places the crash area elsewhere",
        span=profile.span("boot.loader"),
        path="boot.loader",
        value=str(profile.boot.loader),
        rule=CODE2RULE["LC321"],
        hint="measure the firmware's placement on the board (dmesg RAMDISK:) and, where it is fixed, describe "
        "it with a loader whose placement is known (direct, grub-bios); arm.sh checks the real reservation",
    )
