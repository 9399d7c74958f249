"""The independent checker's arm64 rules (docs/reference/kernel-rules.md §8), re-derived from a ``Layout``.

arm64 has no memmap=: the window is the device-tree pmem-region node (``Layout.dump_window``), the
crash command line carries ``cma=0`` and the recovery boot ``mem=``. The default CMA areas, the crash
reservation and swiotlb are re-placed by ``layoutc.kernel.arm64`` from the emitted crashkernel=.
"""

from __future__ import annotations

from layoutc.kernel import arm64, crashkernel, memblock
from layoutc.kernel import cmdline as kcmd
from layoutc.model.layout import Layout, RegionKind
from layoutc.model.profile import KernelVersion

CRASH_CMA_WORD = "cma=0"


def _version(layout: Layout) -> KernelVersion:
    return KernelVersion.parse(layout.kernel_version)


def windows(layout: Layout) -> list[tuple[int, int]]:
    """The window the device-tree edit declares (none for a disk target)."""
    window = layout.dump_window
    return [] if window is None else [(window.start, window.end)]


def image(layout: Layout, present: tuple[memblock.Present, ...]) -> tuple[int, int] | None:
    """The image where QEMU's direct boot puts it (re-derived), or None when the EFI stub chooses."""
    regions = layout.regions_of(RegionKind.KERNEL_IMAGE)
    if not regions:
        return None
    return arm64.direct_image(present, regions[0].size, _version(layout))


def placement(layout: Layout, present: tuple[memblock.Present, ...],
              args: crashkernel.CrashkernelArgs) -> tuple[arm64.Arm64Boot, list[tuple[int, int, int]]]:
    """The kernel's default CMA, crash reservation and swiotlb, and the rule violations of the layout's."""
    out: list[tuple[int, int, int]] = []
    taken = [r for r in (image(layout, present),) if r is not None]
    taken += [(r.start, r.end) for r in layout.regions_of(RegionKind.INITRD)]
    boot = arm64.boot_reservations(present, taken, args, _version(layout))
    given = layout.regions_of(RegionKind.KERNEL_IMAGE)
    if given and (given[0].start, given[0].end) != taken[0]:
        out.append((18, given[0].start, taken[0][0]))
    cma = sorted((r.start, r.end) for r in layout.regions_of(RegionKind.CMA))
    if cma != sorted(boot.cma):
        out.append((14, len(cma), len(boot.cma)))
    swiotlb = [(r.start, r.end) for r in layout.regions_of(RegionKind.SWIOTLB)]
    if swiotlb != ([boot.swiotlb] if boot.swiotlb else []):
        out.append((17, len(swiotlb), 1 if boot.swiotlb else 0))
    return boot, out


def stage_messages(layout: Layout, present: tuple[memblock.Present, ...]) -> list[tuple[int, str]]:
    """§8.6: cma=0 in the crash cmdline, no memmap= anywhere, the recovery boot's mem= at the window."""
    out: list[tuple[int, str]] = []
    prod, crash_line, recovery = layout.cmdline.production, layout.cmdline.crash, layout.cmdline.recovery
    if CRASH_CMA_WORD not in crash_line.split():
        out.append((23, "arm64 crash cmdline lacks cma=0 (the crash kernel would take 64 MiB CMA of its reservation)"))
    for stage, line in (("production", prod), ("crash", crash_line), ("recovery", recovery)):
        if "memmap" in kcmd.param_names(line):
            out.append((22, f"memmap= in the arm64 {stage} cmdline (arm64 has no memmap=)"))
    window = layout.dump_window
    if window is None or layout.strategy.window_mode != "movable":
        return out
    want = arm64.mem_param(arm64.recovery_mem(present, window.start))
    if want not in recovery.split():
        out.append((24, f"arm64 recovery cmdline lacks {want} (the window must not be memblock memory there)"))
    if layout.recovery_mem_limit != window.start:
        out.append((24, "recovery_mem_limit is not the window's start"))
    top = max(present, key=lambda p: p.end).node
    if window.node != top:
        out.append((24, f"window on node {window.node}, but mem= cuts everything above it (highest node {top})"))
    return out


def obstacles(layout: Layout) -> list[tuple[int, int]]:
    """What an arm64 window must stay clear of besides the crash areas: CMA, swiotlb, the initrd."""
    kinds = (RegionKind.CMA, RegionKind.SWIOTLB, RegionKind.INITRD)
    return [(r.start, r.end) for r in layout.regions_of(*kinds)]
