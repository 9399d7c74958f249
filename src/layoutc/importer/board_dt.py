"""An arm64 board's map from the device tree it booted with (``fdt.dtb``), before any layout.

The device tree is what the firmware (or the boot loader) told the kernel: its memory nodes are the
board's RAM, with their ``numa-node-id``; ``/reserved-memory`` children with ``no-map`` are cut out of
System RAM by the kernel, so they are ``reserved`` in the map; reservations without ``no-map`` (and the
/memreserve/ block) stay RAM. A volatile ``pmem-region`` is a window of an earlier layout (a recovery
boot's tree, docs/reference/kernel-rules.md §8.5): its range is RAM again, whether the tree left it in a
memory node, cut it out with a ``no-map`` reservation, or left it out of the memory nodes. A persistent
``pmem-region`` outside RAM is ``pmem``.

/proc/iomem's top-level System RAM is what the kernel kept of that (LNX:arch/arm64/kernel/setup.c
request_standard_resources): ``mem=`` and firmware reservations make them differ, which the import
reports (LC432). A tree from inside a crash kernel carries kexec's /chosen marks and is refused (LC431).
"""

from __future__ import annotations

from collections.abc import Iterable

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.importer import parse_report as report
from layoutc.importer.board_types import BoardRange, merge_ranges
from layoutc.importer.captured_cmdline import Cmdline
from layoutc.importer.iomem import top_level
from layoutc.importer.sysinfo_types import DtMemory, DtRange, SysInfo
from layoutc.model import intervals
from layoutc.model.units import format_human

SOURCE = "fdt.dtb memory nodes (the device tree the kernel booted with)"


def crash_kernel_marks(info: SysInfo, dt: DtMemory, diags: Diagnostics) -> bool:
    """LC431 when the tree is a crash kernel's (kexec's /chosen properties); True when it is."""
    mark = dt.elfcorehdr or (dt.usable[0] if dt.usable else None)
    if mark is None:
        return False
    what = "linux,elfcorehdr" if dt.elfcorehdr is not None else "linux,usable-memory-range"
    report.error(
        diags,
        "LC431",
        f"the capture was taken inside a crash kernel: /chosen has {what} [0x{mark.start:x}, 0x{mark.end:x}), "
        "so its memory is the crash reservation's, not the board's",
        file=f"{info.source}/fdt.dtb",
        value=what,
        hint="probe the device in its normal boot (after the dump is saved, or before arming)",
    )
    return True


def dt_map(dt: DtMemory, undone: list[str]) -> list[BoardRange]:
    """The board's map from the tree: RAM per node, no-map reservations, windows of earlier layouts undone."""
    ram = [(r.start, r.end, r.node) for r in dt.memory]
    windows = [p for p in dt.pmem if p.volatile]
    for window in windows:
        inside = _covered(window, ram)
        undone.append(
            f"pmem-region {window.path} [0x{window.start:x}, 0x{window.end:x}) is a window of an earlier layout "
            + ("(inside a memory node)" if inside else "(outside the memory nodes)")
            + ": it is RAM again"
        )
        if not inside:
            ram.append((window.start, window.end, window.node if window.node is not None else _near(window, ram)))
    carved: list[BoardRange] = []
    for res in dt.reserved:
        if not res.no_map:
            continue
        if any(w.start <= res.start and res.end <= w.end for w in windows):
            undone.append(f"no-map {res.path} [0x{res.start:x}, 0x{res.end:x}) holds a window: it is RAM again")
            continue
        carved.append(BoardRange(res.start, res.end, "reserved"))
    cuts = [(c.start, c.end) for c in carved]
    out = [
        BoardRange(a, b, "ram", 0 if node is None else node)
        for start, end, node in sorted(ram, key=lambda t: (t[0], t[1]))
        for a, b in intervals.subtract([(start, end)], cuts)
    ]
    spans = intervals.merge([(a, b) for a, b, _ in ram])
    kept = [(max(a, c), min(b, d)) for c, d in cuts for a, b in spans if max(a, c) < min(b, d)]
    out += [BoardRange(a, b, "reserved") for a, b in intervals.merge(kept)]
    ram_set = intervals.merge([(r.start, r.end) for r in out])
    for p in dt.pmem:
        if not p.volatile:
            out.extend(BoardRange(a, b, "pmem") for a, b in intervals.subtract([(p.start, p.end)], ram_set))
    return merge_ranges(out)


def dt_nodes(dt: DtMemory) -> tuple[str, bool, str]:
    """(node source, srat, its source): arm64 describes nodes with numa-node-id; a window's pmem-region can
    always carry one (node 0 without NUMA), which the kmem hand-back needs (docs/reference/kernel-rules.md §8.5)."""
    ids = sorted({r.node for r in dt.memory if r.node is not None})
    if ids:
        return (
            "fdt.dtb numa-node-id of each memory node",
            True,
            f"fdt.dtb: numa-node-id {', '.join(map(str, ids))} on the memory nodes (of_numa)",
        )
    return (
        "fdt.dtb has no numa-node-id: one node, 0",
        True,
        "fdt.dtb: one node; the window's pmem-region carries numa-node-id 0",
    )


def cross_check(info: SysInfo, dt: DtMemory, cmdline: Cmdline, diags: Diagnostics) -> None:
    """LC432 when the tree's RAM (minus no-map) is not /proc/iomem's top-level System RAM: both values named."""
    if info.iomem is None:
        return
    firmware = intervals.subtract(
        intervals.merge([(r.start, r.end) for r in dt.memory]), [(r.start, r.end) for r in dt.reserved if r.no_map]
    )
    kernel = intervals.merge([(e.start, e.end) for e in top_level(info.iomem) if e.name == "System RAM"])
    for extra, where, missing in (
        (intervals.subtract(firmware, kernel), "RAM in fdt.dtb", "not System RAM in /proc/iomem"),
        (intervals.subtract(kernel, firmware), "System RAM in /proc/iomem", "in no memory node of fdt.dtb"),
    ):
        if not extra:
            continue
        lo, hi = extra[0]
        limit = next((t for t in cmdline.layout if t.startswith("mem=")), None)
        report.warning(
            diags,
            "LC432",
            f"fdt.dtb gives {format_human(_total(firmware))} of RAM, /proc/iomem {format_human(_total(kernel))} of "
            f"System RAM: [0x{lo:x}, 0x{hi:x}) is {where} but {missing}; the map follows fdt.dtb",
            file=f"{info.source}/iomem",
            value=f"0x{lo:x}",
            hint=f"{limit} on the captured cmdline ends the kernel's memory early"
            if limit is not None
            else "a firmware reservation, or not the same boot? capture fdt.dtb and iomem together (layoutc probe)",
        )
        return


def without_tree(info: SysInfo, cmdline: Cmdline, map_source: str, node_source: str, diags: Diagnostics) -> None:
    """LC433 for an arm64 capture whose map could not come from a device tree; LC414 for a mem= it cannot undo."""
    why = (
        "fdt.dtb has no memory nodes (a UEFI boot: the EFI stub passes memory in the UEFI memory map)"
        if info.devicetree is not None
        else "the capture has no fdt.dtb (an ACPI server, or /sys/firmware/fdt was unreadable)"
    )
    report.warning(
        diags,
        "LC433",
        f"arm64: {why}; the map comes from {map_source}, the NUMA nodes from {node_source}",
        file=None,
        value=info.source,
        hint="on a device-tree board, run 'layoutc probe --raw DIR' as root: it copies /sys/firmware/fdt",
    )
    for token in cmdline.layout:
        if token.startswith("mem="):
            report.warning(
                diags,
                "LC414",
                f"{token} cannot be undone without the device tree: RAM above its limit is missing from the map",
                file=f"{info.source}/cmdline",
                value=token,
                hint="capture the device booted without mem=, or with its fdt.dtb",
            )


def _covered(window: DtRange, ram: list[tuple[int, int, int | None]]) -> bool:
    return not intervals.subtract([(window.start, window.end)], [(a, b) for a, b, _ in ram])


def _near(window: DtRange, ram: list[tuple[int, int, int | None]]) -> int:
    """The node of the memory node nearest below the window (else the lowest), 0 without any."""
    below = [t for t in ram if t[1] <= window.start]
    pick = max(below, key=lambda t: t[1]) if below else (min(ram) if ram else None)
    return pick[2] or 0 if pick is not None else 0


def _total(pairs: Iterable[tuple[int, int]]) -> int:
    return sum(b - a for a, b in pairs)
