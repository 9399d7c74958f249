"""The solver: a profile becomes a ``Layout`` through a constraint graph (see ``graph``).

``solve`` is pure: it reads the frozen ``Profile`` and appends LC3xx diagnostics; it returns
None when a constraint cannot hold. The result is re-checked rule by rule by ``check`` (an
independent re-derivation from the emitted command lines), so a solver bug is an LC315 error,
never a silently wrong layout.
"""

from __future__ import annotations

from ..diagnostics import Diagnostics
from ..layout import Layout, Unsafe
from ..model import Profile, WindowMode
from ..units import format_addr, format_size
from . import assemble, check, crash_steps, memory_steps, stage_steps, window_steps
from .codes import CODE2RULE
from .graph import Step, evaluate

__all__ = ["solve"]

MOVABLE_RATIO_MAX = 3  # kernel.md §7.27 (memory-hotplug.rst: MOVABLE:KERNEL up to about 3:1)


def steps(profile: Profile, unsafe: list[Unsafe]) -> tuple[Step, ...]:
    """The constraint graph of one profile; its shape depends on the strategy."""
    p = profile
    mode = p.window.mode if p.window else None
    out = [
        Step(
            "present",
            (),
            lambda v: memory_steps.present(p),
            ("memory.map",),
            "memblock.memory is e820 RAM in whole pages, minus page 0 and the legacy BIOS area",
            "LNX:arch/x86/kernel/e820.c e820__memblock_setup; arch/x86/kernel/setup.c trim_bios_range",
        ),
        Step(
            "guards",
            ("present",),
            lambda v: memory_steps.guards(p, v),
            ("memory.map", "memory.early_reserved", "memory.block_size"),
            "early memblock allocations (struct pages, NODE_DATA, percpu, hashes) fill the top of every node "
            "top-down; the guard is their span rounded out to whole blocks",
            "LNX:mm/sparse.c sparse_init_nid; mm/memblock.c memblock_alloc_range_nid; kernel.md §2.3",
        ),
        Step(
            "kaslr",
            (),
            lambda v: crash_steps.kaslr(p),
            ("kaslr", "window.mode"),
            "physical KASLR ignores movablecore=; nokaslr for movable windows unless the profile opts out",
            "LNX:arch/x86/boot/compressed/kaslr.c choose_random_location; kernel.md §3.6, §7.19",
        ),
        Step(
            "kernel_image",
            ("kaslr",),
            lambda v: crash_steps.kernel_image(p, v),
            ("kaslr", "kernel.image_size"),
            "with nokaslr the image runs at LOAD_PHYSICAL_ADDR (16 MiB)",
            "LNX:arch/x86/Kconfig PHYSICAL_START",
        ),
        Step(
            "crash_size",
            ("present",),
            lambda v: memory_steps.crash_size(p, v),
            ("crash.reserve", "crash.kernel_size", "crash.initrd_size", "crash.cpus", "crash.memory"),
            "the reservation holds the crash kernel, its initrd and (classic) the dumper's runtime",
            "kernel.md §7.9, §7.29",
        ),
        Step(
            "crash",
            ("production_present", "crash_size", "kernel_image"),
            lambda v: crash_steps.place_crash(p, v, unsafe),
            ("crash.reserve", "crash.cma_size", "pins.crashkernel_offset", "memory.map"),
            "crashkernel=X: highest free 16M-aligned slot below 4G, else [4G, 64T); ,cma: bottom-up from 4G",
            "LNX:kernel/crash_reserve.c reserve_crashkernel_generic, reserve_crashkernel_cma; mm/cma.c "
            "cma_declare_contiguous_nid",
        ),
    ]
    stage_needs: tuple[str, ...] = ("crash", "kaslr")
    if mode is None:
        out.append(Step("production_present", ("present",), lambda v: v["present"], ("memory.map",)))
    else:
        out.append(
            Step(
                "window_size",
                ("present",),
                lambda v: memory_steps.window_size(p, v),
                ("window.size", "dump.level", "dump.compression", "memory.block_size"),
                "auto: enough whole blocks for the expected dump (at least 2) plus the devdax data offset",
                "LNX:drivers/nvdimm/pfn_devs.c nd_pfn_init; drivers/dax/kmem.c dax_kmem_range",
            )
        )
        out.append(
            Step(
                "blocks",
                ("window",),
                lambda v: window_steps.check_blocks(p, v, unsafe),
                ("window.size", "window.devdax_map", "window.devdax_align"),
            )
        )
        stage_needs += ("window", "blocks")
    if mode is WindowMode.MOVABLE:
        out.append(Step("production_present", ("present",), lambda v: v["present"], ("memory.map",)))
        out.append(
            Step(
                "window",
                ("window_size", "guards", "crash", "kernel_image", "present"),
                lambda v: window_steps.place_movable(p, v, unsafe),
                ("window.size", "window.devdax_map", "pins.window_base", "memory.block_size", "memory.map"),
                "the highest node's top movable RAM below the guard, base = k*BS - dataoff, off the crash areas",
                "kernel.md §3.5, §7.11, §7.16; LNX:drivers/dax/kmem.c dax_kmem_range",
            )
        )
        out.append(
            Step(
                "zone",
                ("window", "crash", "present"),
                lambda v: window_steps.choose_zone(p, v, unsafe),
                ("pins.movablecore", "window.size", "memory.map"),
                "movablecore= so the window's node's ZONE_MOVABLE starts on the block below the window",
                "LNX:mm/mm_init.c find_zone_movable_pfns_for_nodes; kernel.md §2.2, §7.13",
            )
        )
        stage_needs += ("zone",)
    elif mode is WindowMode.HOTPLUG:
        out.append(
            Step(
                "window",
                ("window_size", "present", "kernel_image"),
                lambda v: window_steps.place_hotplug(p, v, unsafe),
                ("window.size", "window.devdax_map", "pins.window_base", "memory.block_size", "memory.map"),
                "memmap=! on every boot: the top of the highest RAM range, ending on a block boundary",
                "LNX:arch/x86/kernel/e820.c parse_memmap_one; kernel.md §3.3-3.5",
            )
        )
        out.append(
            Step(
                "production_present",
                ("window",),
                lambda v: crash_steps.production_present(p, v),
                ("memory.map",),
            )
        )
    out.append(
        Step(
            "cmdlines",
            stage_needs,
            lambda v: stage_steps.cmdlines(p, v),
            ("kernel.cmdline", "crash.cmdline", "crash.cpus", "kaslr", "window.release"),
            "per boot stage: production, crash (kexec -p append), recovery",
            "kernel.md §7.22-24",
        )
    )
    return tuple(out)


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
