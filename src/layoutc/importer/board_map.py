"""From what a device showed to what its board is: the map before any layout parameter.

Which map (first available wins):

1. dmesg ``BIOS-e820`` lines - the firmware's table as the kernel received it, printed
   *before* ``memmap=`` edits (e820.c ``e820__memory_setup``) and before the kernel's own
   trims (setup.c ``trim_bios_range``: page 0 reserved, RAM in 0xa0000-0xfffff removed).
   Nothing there needs undoing; it is the map the bundled profiles use.
2. ``/proc/iomem`` top-level resources (System RAM, Reserved, ACPI Tables, ACPI Non-volatile
   Storage, Persistent Memory, ...). They show the kernel's trims and the layout's edits: a
   ``memmap=SIZE!BASE`` range is "Persistent Memory (legacy)", ``$`` is Reserved, ``#`` is ACPI
   Tables; those parts become RAM again. ``memmap=exactmap``, ``SIZE@BASE``, ``SIZE`` (a limit)
   and ``%`` edits cannot be undone from iomem (LC414).
3. lsmem rows alone (the origin thread's paste): block-granular, every listed block is RAM.

Layout parameters that do not change the map are only taken off the cmdline: ``movablecore=``
and ``kernelcore=`` split zones, and ``crashkernel=`` reserves inside System RAM (iomem shows
"Crash kernel" *under* System RAM, and only top-level entries are read), so it stays RAM.
"""

from __future__ import annotations

from dataclasses import dataclass

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.importer import board_dt
from layoutc.importer import parse_report as report
from layoutc.importer.board_types import BoardRange
from layoutc.importer.captured_cmdline import Cmdline, MemmapEdit, kernel_version, parse_cmdline
from layoutc.importer.iomem import KMEM, NAME2KIND, top_level
from layoutc.importer.sysinfo_types import SysInfo
from layoutc.importer.zoneinfo import node_spans
from layoutc.model import intervals

MEMMAP_OP2KIND = {"!": "pmem", "$": "reserved", "#": "acpi"}
MAX_MAP_ENTRIES = 256  # profile schema: memory.map maxItems
TRIMS = ((0x0, 0x1000), (0xA0000, 0x100000))  # setup.c trim_bios_range (x86)
# arm64: the recovery boot's mem= and the crash kernel's cma=0 are layoutc's (docs/reference/kernel-rules.md §8.6)
ARM64_LAYOUT_PARAMS = ("mem", "cma")


@dataclass(frozen=True, slots=True)
class Board:
    """The board as imported, with a note on where each value came from."""

    ranges: tuple[BoardRange, ...]
    map_source: str
    node_source: str
    srat: bool
    srat_source: str
    block_size: int | None
    block_source: str
    version: str
    version_source: str
    arch: str
    arch_source: str
    cmdline: Cmdline
    undone: tuple[str, ...]


def derive_board(info: SysInfo, diags: Diagnostics) -> Board | None:
    """Undo the captured layout and describe the board. None (with diagnostics) when impossible."""
    arch, arch_source = _arch(info)
    cmd_text = info.cmdline if info.cmdline is not None else (info.dmesg.command_line if info.dmesg else None)
    extra = ARM64_LAYOUT_PARAMS if arch == "arm64" else ()
    cmdline = parse_cmdline(cmd_text or "", f"{info.source}/cmdline", diags, extra=extra)
    version = _version(info, diags)
    if cmdline is None or version is None:
        return None
    if info.devicetree is not None and board_dt.crash_kernel_marks(info, info.devicetree, diags):
        return None
    undone: list[str] = []
    mapped = _mapped(info, arch, cmdline, undone, diags)
    if mapped is None:
        return None
    ranges, map_source, node_source, srat, srat_source = mapped
    if len(ranges) > MAX_MAP_ENTRIES:
        report.error(
            diags,
            "LC422",
            f"the map has {len(ranges)} entries; a profile holds at most {MAX_MAP_ENTRIES}",
            file=info.source,
            value=str(len(ranges)),
            hint="write the profile by hand from the capture, merging the reserved entries",
        )
        return None
    block_size, block_source = _block_size(info)
    undone.extend(_param_notes(cmdline))
    if info.iomem is not None and map_source.startswith("dmesg"):
        _cross_check(info, ranges, cmdline, diags)
    return Board(
        tuple(ranges),
        map_source,
        node_source,
        srat,
        srat_source,
        block_size,
        block_source,
        version[0],
        version[1],
        arch,
        arch_source,
        cmdline,
        tuple(undone),
    )


Mapped = tuple[list[BoardRange], str, str, bool, str]  # ranges, map source, node source, srat, srat source


def _mapped(info: SysInfo, arch: str, cmdline: Cmdline, undone: list[str], diags: Diagnostics) -> Mapped | None:
    """The board's ranges with their nodes: from the device tree when it has memory nodes, else e820/iomem/lsmem."""
    dt = info.devicetree
    if dt is not None and dt.memory:
        ranges = board_dt.dt_map(dt, undone)
        if not _disjoint(info, ranges, board_dt.SOURCE, diags):
            return None
        board_dt.cross_check(info, dt, cmdline, diags)
        node_source, srat, srat_source = board_dt.dt_nodes(dt)
        return ranges, board_dt.SOURCE, node_source, srat, srat_source
    built = _map(info, cmdline, undone, diags)
    if built is None:
        return None
    ranges, map_source = built
    if not any(r.kind == "ram" for r in ranges):
        report.error(
            diags,
            "LC411",
            "the capture shows no System RAM",
            file=info.source,
            hint="capture /proc/iomem as root on the device",
        )
        return None
    ranges = sorted(ranges, key=lambda r: (r.start, r.end))
    if not _disjoint(info, ranges, map_source, diags):
        return None
    ranges, node_source = _assign_nodes(info, ranges, map_source, diags)
    if arch == "arm64":
        board_dt.without_tree(info, cmdline, map_source, node_source, diags)
    srat, srat_source = _srat(info, len({r.node for r in ranges if r.kind == "ram"}))
    return ranges, map_source, node_source, srat, srat_source


def _disjoint(info: SysInfo, ranges: list[BoardRange], map_source: str, diags: Diagnostics) -> bool:
    """Sorted ``ranges`` must not overlap (LC421): the kernel's maps are sanitized."""
    for a, b in zip(ranges, ranges[1:], strict=False):
        if b.start < a.end:
            report.error(
                diags,
                "LC421",
                f"{map_source}: [0x{b.start:x}, 0x{b.end:x}) {b.kind} overlaps "
                f"[0x{a.start:x}, 0x{a.end:x}) {a.kind}",
                file=info.source,
                value=f"0x{b.start:x}",
                hint="the kernel sanitizes its map; was the capture edited by hand?",
            )
            return False
    return True


def _version(info: SysInfo, diags: Diagnostics) -> tuple[str, str] | None:
    for release, source in (
        (info.kernel_release, "uname-r"),
        (info.dmesg.linux_version if info.dmesg else None, "dmesg 'Linux version'"),
    ):
        if release:
            version = kernel_version(release)
            if version is not None:
                return version, f"{source}: {release}"
            report.error(
                diags,
                "LC408",
                f"release '{release}' does not start with MAJOR.MINOR",
                file=f"{info.source}/uname-r",
                value=release,
                hint="capture the output of 'uname -r'",
            )
            return None
    report.error(
        diags,
        "LC410",
        "the capture has no kernel version (no uname-r, no 'Linux version' in dmesg)",
        file=None,
        value=info.source,
        hint="add the output of 'uname -r' as uname-r",
    )
    return None


def _map(
    info: SysInfo, cmdline: Cmdline, undone: list[str], diags: Diagnostics
) -> tuple[list[BoardRange], str] | None:
    edits = [e for e in cmdline.memmap if e.op in MEMMAP_OP2KIND]
    if info.dmesg is not None and info.dmesg.e820:
        if cmdline.memmap:
            undone.append(
                "memmap= edits (" + ", ".join(e.text for e in cmdline.memmap) + ") come after the "
                "BIOS-e820 table; the firmware's entries are used as they are"
            )
        return [
            BoardRange(e.start, e.end, e.kind) for e in info.dmesg.e820
        ], "dmesg BIOS-e820 (the firmware's map)"
    for edit in cmdline.memmap:
        if edit.op not in MEMMAP_OP2KIND:
            report.warning(
                diags,
                "LC414",
                f"memmap={edit.text} cannot be undone without the firmware's e820 "
                "table; the map below is the kernel's edited one",
                file=f"{info.source}/cmdline",
                value=edit.text,
                hint="capture dmesg (its BIOS-e820 lines) as well",
            )
    if info.iomem is not None:
        ranges = [
            BoardRange(e.start, e.end, NAME2KIND[e.name]) for e in top_level(info.iomem) if e.name in NAME2KIND
        ]
        if any(e.name == KMEM for e in top_level(info.iomem)):
            undone.append("'System RAM (kmem)' is hot-added RAM (dax/kmem), not boot RAM: left out")
        return _undo_edits(ranges, edits, undone), "/proc/iomem top-level resources"
    assert info.lsmem is not None
    ranges = [BoardRange(r.start, r.end, "ram") for r in info.lsmem.rows]
    ranges = _undo_edits(ranges, edits, undone, fill=True)
    return (
        ranges,
        f"{info.lsmem.source} (block-granular: whole memory blocks, holes inside blocks count as RAM)",
    )


def _undo_edits(
    ranges: list[BoardRange], edits: list[MemmapEdit], undone: list[str], fill: bool = False
) -> list[BoardRange]:
    """Turn the parts of ``ranges`` that memmap=!/$/# typed back into RAM (``fill``: add missing parts)."""
    out = list(ranges)
    for edit in edits:
        assert edit.start is not None and edit.size is not None
        lo, hi, kind = edit.start, edit.start + edit.size, MEMMAP_OP2KIND[edit.op]
        pieces: list[BoardRange] = []
        for r in out:
            if r.end <= lo or r.start >= hi or r.kind != kind:
                pieces.append(r)
                continue
            pieces.extend(
                p
                for p in (
                    BoardRange(r.start, lo, r.kind),
                    BoardRange(max(r.start, lo), min(r.end, hi), "ram"),
                    BoardRange(hi, r.end, r.kind),
                )
                if p.end > p.start
            )
        if fill:
            pieces.extend(_gaps(pieces, lo, hi))
        out = sorted(pieces, key=lambda r: r.start)
        undone.append(
            f"memmap={edit.text}: [0x{lo:x}, 0x{hi:x}) was {kind} only because of this parameter; "
            "it is RAM again"
        )
    return _merge(out)


def _gaps(ranges: list[BoardRange], lo: int, hi: int) -> list[BoardRange]:
    """The parts of ``[lo, hi)`` no range covers, as RAM."""
    return [BoardRange(s, e, "ram") for s, e in intervals.subtract([(lo, hi)], [(r.start, r.end) for r in ranges])]


def _merge(ranges: list[BoardRange]) -> list[BoardRange]:
    out: list[BoardRange] = []
    for r in sorted(ranges, key=lambda r: r.start):
        if out and out[-1].end == r.start and out[-1].kind == r.kind and out[-1].node == r.node:
            out[-1] = BoardRange(out[-1].start, r.end, r.kind, r.node)
        else:
            out.append(r)
    return out


def _node_ranges(info: SysInfo) -> tuple[list[tuple[int, int, int]], str]:
    """(start, end, node) triples from the best NUMA source, and its name."""
    if info.dmesg is not None and info.dmesg.srat and not info.dmesg.numa_off:
        return [(s.start, s.end, s.node) for s in info.dmesg.srat], "dmesg SRAT memory affinity"
    if info.zones is not None:
        spans = node_spans(info.zones)
        return [(a, b, n) for n, pairs in spans.items() for a, b in pairs], "/proc/zoneinfo node spans"
    if info.lsmem is not None and any(r.node is not None for r in info.lsmem.rows):
        return [(r.start, r.end, r.node or 0) for r in info.lsmem.rows], f"{info.lsmem.source} NODE column"
    return [], "none (one node assumed)"


def _assign_nodes(
    info: SysInfo, ranges: list[BoardRange], map_source: str, diags: Diagnostics
) -> tuple[list[BoardRange], str]:
    triples, source = _node_ranges(info)
    triples.sort()
    out: list[BoardRange] = []
    for r in ranges:
        if r.kind != "ram":
            out.append(r)
            continue
        at = r.start
        for lo, hi, node in triples:
            if hi <= at or lo >= r.end:
                continue
            if lo > at:
                out.append(BoardRange(at, lo, "ram", None))
            out.append(BoardRange(max(at, lo), min(hi, r.end), "ram", node))
            at = min(hi, r.end)
        if at < r.end:
            out.append(BoardRange(at, r.end, "ram", None))
    strict = source.startswith("dmesg")
    for i, r in enumerate(out):
        if r.kind == "ram" and r.node is None:
            near = _nearest_node(out, i)
            if strict and r.end - r.start > 1 << 20:
                report.warning(
                    diags,
                    "LC416",
                    f"RAM [0x{r.start:x}, 0x{r.end:x}) is in no SRAT node range; put on node {near}",
                    file=f"{info.source}/dmesg",
                    hint="check the firmware's SRAT; the kernel may turn NUMA off",
                )
            out[i] = BoardRange(r.start, r.end, "ram", near)
    return _merge(out), source


def _nearest_node(ranges: list[BoardRange], index: int) -> int:
    for step in range(1, len(ranges)):
        for j in (index - step, index + step):
            if 0 <= j < len(ranges) and ranges[j].kind == "ram" and ranges[j].node is not None:
                return ranges[j].node or 0
    return 0


def _srat(info: SysInfo, nodes: int) -> tuple[bool, str]:
    boot_log = info.dmesg is not None and (info.dmesg.linux_version is not None or bool(info.dmesg.e820))
    if info.dmesg is not None and boot_log:
        if info.dmesg.numa_off:
            return False, "dmesg: no usable NUMA configuration"
        if info.dmesg.srat_table:
            return True, "dmesg: the firmware has an ACPI SRAT"
        if nodes > 1:
            return True, f"{nodes} NUMA nodes"
        return False, "dmesg shows no ACPI SRAT"
    missing = (
        "without dmesg" if info.dmesg is None else "without dmesg's boot messages (ring buffer wrapped?)"
    )
    if nodes > 1:
        return True, f"{nodes} NUMA nodes (the SRAT itself is not visible {missing})"
    return False, f"unknown {missing}; set true if the firmware has an ACPI SRAT"


def _block_size(info: SysInfo) -> tuple[int | None, str]:
    if info.block_size is not None:
        return info.block_size, f"block_size_bytes: {info.block_size:x}"
    if info.lsmem is not None and info.lsmem.block_size is not None:
        return info.lsmem.block_size, "lsmem summary 'Memory block size'"
    return None, "not captured: the kernel's default applies"


def _arch(info: SysInfo) -> tuple[str, str]:
    release = info.kernel_release or ""
    if "arm64" in release or "aarch64" in release:
        return "arm64", f"uname-r: {release}"
    if info.dmesg is not None and info.dmesg.e820:
        return "x86_64", "dmesg BIOS-e820 (x86 firmware)"
    if info.devicetree is not None:
        return "arm64", "fdt.dtb: the kernel booted with a device tree"
    return "x86_64", "default (nothing in the capture says otherwise)"


def _param_notes(cmdline: Cmdline) -> list[str]:
    notes = []
    for token in cmdline.layout:
        name = token.partition("=")[0]
        if name in ("movablecore", "kernelcore"):
            notes.append(f"{token}: only splits zones (ZONE_MOVABLE); the map is unchanged")
        elif name == "crashkernel":
            notes.append(f"{token}: the reservation lies inside System RAM; it is RAM in the map")
        elif name == "mem":
            notes.append(f"{token}: the recovery boot's limit (layoutc sets it); RAM above it is the board's")
        elif name == "cma":
            notes.append(f"{token}: sizes the default CMA area inside System RAM; it is RAM in the map")
        elif name != "memmap":
            notes.append(f"{token}: a layout parameter; taken off the board's cmdline")
    if cmdline.mem_limit is not None:
        notes.append(
            f"mem={cmdline.mem_limit} stays on the board's cmdline; it limits the RAM the kernel uses"
        )
    return notes


def _cross_check(info: SysInfo, ranges: list[BoardRange], cmdline: Cmdline, diags: Diagnostics) -> None:
    """e820 RAM with the kernel's trims must be iomem's System RAM once memmap= edits are undone."""
    assert info.iomem is not None
    edits = [e for e in cmdline.memmap if e.op in MEMMAP_OP2KIND]
    if any(e.op not in MEMMAP_OP2KIND for e in cmdline.memmap) or cmdline.mem_limit is not None:
        return
    seen = [BoardRange(e.start, e.end, NAME2KIND[e.name]) for e in top_level(info.iomem) if e.name in NAME2KIND]
    iomem_ram = _ram_set(_undo_edits(seen, edits, []))
    e820_ram = _ram_set(ranges)
    for lo, hi in TRIMS:
        e820_ram = list(intervals.subtract(e820_ram, [(lo, hi)]))
    for extra, where, missing in (
        (intervals.merge(intervals.subtract(e820_ram, iomem_ram)), "BIOS-e820", "/proc/iomem"),
        (intervals.merge(intervals.subtract(iomem_ram, e820_ram)), "/proc/iomem", "BIOS-e820"),
    ):
        if extra:
            lo, hi = extra[0]
            report.warning(
                diags,
                "LC415",
                f"[0x{lo:x}, 0x{hi:x}) is RAM in {where} but not in {missing}; the map follows BIOS-e820",
                file=f"{info.source}/iomem",
                value=f"0x{lo:x}",
                hint="were the two captured on the same boot?",
            )
            return


def _ram_set(ranges: list[BoardRange]) -> list[tuple[int, int]]:
    return [(r.start, r.end) for r in ranges if r.kind == "ram"]
