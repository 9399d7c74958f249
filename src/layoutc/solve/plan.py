"""The constraint graph of one profile: which steps exist and what each one needs.

Its shape depends on the strategy. For a movable window the window is placed after the crash
areas (the production memblock does not see the window); for a hotplug window the crash areas
come after the window (memmap=! removes it from every boot's memblock); a disk target has no
window at all.
"""

from __future__ import annotations

from layoutc.model.layout import Unsafe
from layoutc.model.profile import Arch, Profile, WindowMode
from layoutc.solve import crash_steps, memory_steps, stage_steps, window_steps
from layoutc.solve.graph import Step

WINDOW_INPUTS = ("window.size", "window.devdax_map", "pins.window_base", "memory.block_size", "memory.map")


def steps(profile: Profile, unsafe: list[Unsafe]) -> tuple[Step, ...]:
    """Every step of the profile's graph (order does not matter: ``graph.evaluate`` sorts them)."""
    mode = profile.window.mode if profile.window else None
    window = _movable(profile, unsafe) if mode is WindowMode.MOVABLE else (
        _hotplug(profile, unsafe) if mode is WindowMode.HOTPLUG else _disk())
    needs = ("crash", "kaslr", *(s.name for s in window if s.name in ("window", "blocks", "zone")))
    stages = Step("cmdlines", needs, lambda v: stage_steps.cmdlines(profile, v),
                  ("kernel.cmdline", "crash.cmdline", "crash.cpus", "kaslr", "window.release"),
                  *_rule(profile, "cmdlines"))
    return (*_common(profile, unsafe), *window, stages)


# step -> (rule, source) per architecture; arm64's are docs/reference/kernel-rules.md §8.
RULES: dict[str, dict[Arch, tuple[str, str]]] = {
    "cmdlines": {
        Arch.X86_64: ("per boot stage: production, crash (kexec -p append), recovery",
                      "docs/reference/kernel-rules.md §7.22-24"),
        Arch.ARM64: ("per boot stage: production, crash (kexec -p append; cma=0, no memmap=: the window is a "
                     "device-tree node), recovery (mem= ends its memory at the window's start)",
                     "docs/reference/kernel-rules.md §8.6, §7.22-24"),
    },
    "kaslr": {
        Arch.X86_64: ("physical KASLR ignores movablecore=; nokaslr for movable windows unless the profile opts out",
                      "LNX:arch/x86/boot/compressed/kaslr.c choose_random_location; "
                      "docs/reference/kernel-rules.md §3.6, §7.19"),
        Arch.ARM64: ("KASLR as the profile says (on by default): virtual only under direct boot; the EFI stub's "
                     "physical KASLR may put the image anywhere in RAM (kernel_image_bound), so a movable window "
                     "gets the arm script's check",
                     "LNX:drivers/firmware/efi/libstub/arm64-stub.c handle_kernel_image; "
                     "docs/reference/kernel-rules.md §8.3"),
    },
    "kernel_image": {
        Arch.X86_64: ("with nokaslr the image runs at LOAD_PHYSICAL_ADDR (16 MiB)",
                      "LNX:arch/x86/Kconfig PHYSICAL_START"),
        Arch.ARM64: ("direct boot: the Image runs 2 MiB above the start of RAM (6.1: _stext 64 KiB higher)",
                     "docs/reference/kernel-rules.md §8.3"),
    },
    "crash": {
        Arch.X86_64: ("crashkernel=X: highest free 16M-aligned slot below 4G, else [4G, 64T); ,cma: bottom-up from 4G",
                      "LNX:kernel/crash_reserve.c reserve_crashkernel_generic, reserve_crashkernel_cma; "
                      "mm/cma.c cma_declare_contiguous_nid"),
        Arch.ARM64: ("bootmem_init's order: the default 64 MiB CMA top-down below the DMA limit (7.x, several nodes: "
                     "64 MiB per node), crashkernel=X 2M-aligned below it (,high: the top of RAM and a 128 MiB low "
                     "part), then swiotlb 64 MiB top-down below the DMA limit",
                     "LNX:arch/arm64/mm/init.c bootmem_init; kernel/crash_reserve.c reserve_crashkernel_generic; "
                     "kernel/dma/contiguous.c dma_contiguous_reserve; kernel/dma/swiotlb.c swiotlb_init; "
                     "docs/reference/kernel-rules.md §8.4"),
    },
    "window": {
        Arch.X86_64: ("the highest node's top movable RAM below the guard, base = k*BS - dataoff, off the crash areas",
                      "docs/reference/kernel-rules.md §3.5, §7.11, §7.16; LNX:drivers/dax/kmem.c dax_kmem_range"),
        Arch.ARM64: ("the highest-addressed node's top movable RAM below the guard, base = k*BS - dataoff, off the "
                     "crash areas, swiotlb, CMA, image and initrd; a device-tree pmem-region node",
                     "docs/reference/kernel-rules.md §8.5, §7.11, §7.16; LNX:drivers/nvdimm/of_pmem.c "
                     "of_pmem_region_probe; drivers/dax/kmem.c dax_kmem_range"),
    },
}


def _rule(profile: Profile, step: str) -> tuple[str, str]:
    """The rule text and source of ``step`` for the profile's architecture."""
    return RULES[step][profile.arch]


def _common(p: Profile, unsafe: list[Unsafe]) -> tuple[Step, ...]:
    return (
        Step("present", (), lambda v: memory_steps.present(p), ("memory.map",),
             "memblock.memory is e820 RAM in whole pages, minus page 0 and the legacy BIOS area",
             "LNX:arch/x86/kernel/e820.c e820__memblock_setup; arch/x86/kernel/setup.c trim_bios_range"),
        Step("guards", ("present",), lambda v: memory_steps.guards(p, v),
             ("memory.map", "memory.early_reserved", "memory.block_size"),
             "early memblock allocations (struct pages, NODE_DATA, percpu, hashes) fill the top of every "
             "node top-down; the guard is their span rounded out to whole blocks",
             "LNX:mm/sparse.c sparse_init_nid; mm/memblock.c memblock_alloc_range_nid; "
             "docs/reference/kernel-rules.md §2.3"),
        Step("kaslr", (), lambda v: crash_steps.kaslr(p), ("kaslr", "window.mode"), *_rule(p, "kaslr")),
        Step("kernel_image", ("kaslr",), lambda v: crash_steps.kernel_image(p, v), ("kaslr", "kernel.image_size"),
             *_rule(p, "kernel_image")),
        Step("crash_size", ("present",), lambda v: memory_steps.crash_size(p, v, unsafe),
             ("crash.reserve", "crash.cma_size", "crash.kernel_size", "crash.initrd_size", "crash.cpus",
              "crash.memory", "crash.unsafe"),
             "the reservation holds the crash kernel, its initrd and (classic) the dumper's runtime",
             "docs/reference/kernel-rules.md §7.9, §7.29"),
        Step("crash", ("production_present", "crash_size", "kernel_image"),
             lambda v: crash_steps.place_crash(p, v, unsafe),
             ("crash.reserve", "crash.cma_size", "pins.crashkernel_offset", "memory.map"), *_rule(p, "crash")),
    )


def _window_common(p: Profile, unsafe: list[Unsafe]) -> tuple[Step, ...]:
    return (
        Step("window_size", ("present",), lambda v: memory_steps.window_size(p, v),
             ("window.size", "dump.level", "dump.compression", "memory.block_size"),
             "auto: enough whole blocks for the expected dump (at least 2) plus the devdax data offset",
             "LNX:drivers/nvdimm/pfn_devs.c nd_pfn_init; drivers/dax/kmem.c dax_kmem_range"),
        Step("blocks", ("window",), lambda v: window_steps.check_blocks(p, v, unsafe),
             ("window.size", "window.devdax_map", "window.devdax_align"),
             "dax/kmem hot-adds whole blocks only", "LNX:drivers/dax/kmem.c dax_kmem_range"),
    )


def _movable(p: Profile, unsafe: list[Unsafe]) -> tuple[Step, ...]:
    return (
        *_window_common(p, unsafe),
        Step("production_present", ("present",), lambda v: v["present"], ("memory.map",)),
        Step("window", ("window_size", "guards", "crash", "kernel_image", "present"),
             lambda v: window_steps.place_movable(p, v, unsafe), WINDOW_INPUTS, *_rule(p, "window")),
        Step("zone", ("window", "crash", "present"), lambda v: window_steps.choose_zone(p, v, unsafe),
             ("pins.movablecore", "window.size", "memory.map"),
             "movablecore= so the window's node's ZONE_MOVABLE starts on the block below the window",
             "LNX:mm/mm_init.c find_zone_movable_pfns_for_nodes; docs/reference/kernel-rules.md §2.2, §7.13"),
    )


def _hotplug(p: Profile, unsafe: list[Unsafe]) -> tuple[Step, ...]:
    return (
        *_window_common(p, unsafe),
        Step("window", ("window_size", "present", "kernel_image"), lambda v: window_steps.place_hotplug(p, v, unsafe),
             WINDOW_INPUTS, "memmap=! on every boot: the top of the highest RAM range, ending on a block boundary",
             "LNX:arch/x86/kernel/e820.c parse_memmap_one; docs/reference/kernel-rules.md §3.3-3.5"),
        Step("production_present", ("window",), lambda v: crash_steps.production_present(p, v), ("memory.map",),
             "the window is memmap=! on every boot, so not memblock memory", "LNX:arch/x86/kernel/e820.c"),
    )


def _disk() -> tuple[Step, ...]:
    return (Step("production_present", ("present",), lambda v: v["present"], ("memory.map",)),)
