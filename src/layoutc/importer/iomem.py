"""/proc/iomem: the kernel's resource tree, one resource per line.

Format (kernel/resource.c ``r_show``): ``%*s%0*llx-%0*llx : %s`` - two spaces of indent per
nesting level, hex start and *inclusive* end, then the resource name. Readers without
CAP_SYS_ADMIN see every address as zero.
"""

from __future__ import annotations

import re

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.importer import parse_report as report
from layoutc.importer.sysinfo_types import IomemEntry

_LINE_RE = re.compile(r"^( *)([0-9a-fA-F]+)-([0-9a-fA-F]+) : (.*)$")
MAX_ADDR = (1 << 64) - 1

# Top-level resource names that describe the physical map, and the profile range type each means.
# Everything else at top level (PCI Bus, IOAPIC, Video ROM, ...) is MMIO: a hole in the map.
NAME2KIND: dict[str, str] = {
    "System RAM": "ram",
    "Reserved": "reserved",
    "reserved": "reserved",
    "ACPI Tables": "acpi",
    "ACPI Non-volatile Storage": "nvs",
    "Unusable memory": "unusable",
    "Persistent Memory (legacy)": "pmem",
    "Persistent Memory": "pmem",
    "Soft Reserved": "reserved",
}
KMEM = "System RAM (kmem)"  # dax/kmem hot-added RAM: not boot RAM (docs/reference/kernel-rules.md §3.5)


def parse_iomem(text: str, display: str, diags: Diagnostics) -> tuple[IomemEntry, ...] | None:
    """Parse /proc/iomem text. Returns None (with one diagnostic per bad line) when malformed."""
    entries: list[IomemEntry] = []
    ok = True
    depth_now = -1
    bad = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if bad >= report.MAX_LINE_ERRORS:
            report.too_many(diags, "LC402", display, lineno)
            break
        entry = _parse_line(line, lineno, display, diags)
        if entry is None:
            ok = False
            bad += 1
            continue
        if entry.depth > depth_now + 1:
            report.error(
                diags,
                "LC402",
                f"resource nested {entry.depth} levels deep under a resource "
                f"{max(depth_now, 0)} deep: '{report.shown(line)}'",
                file=display,
                line=lineno,
                value=line,
                hint="each level is indented by two spaces more than its parent",
            )
            ok = False
            continue
        depth_now = entry.depth
        entries.append(entry)
    if not ok:
        return None
    if entries and all(e.start == 0 and e.end == 1 for e in entries):
        report.error(
            diags,
            "LC409",
            "every address in /proc/iomem is zero: it was read without root",
            file=display,
            line=1,
            value=text.splitlines()[0],
            hint="capture it again as root (sudo cat /proc/iomem, or sudo layoutc probe)",
        )
        return None
    return tuple(entries)


def _parse_line(line: str, lineno: int, display: str, diags: Diagnostics) -> IomemEntry | None:
    match = _LINE_RE.match(line)
    if match is None:
        report.error(
            diags,
            "LC402",
            f"not a resource line: '{report.shown(line)}'",
            file=display,
            line=lineno,
            value=line,
            hint="expected 'START-END : NAME' with hex START and END",
        )
        return None
    indent, first, last, name = match.groups()
    if len(indent) % 2:
        report.error(
            diags,
            "LC402",
            f"odd indent ({len(indent)} spaces): '{report.shown(line)}'",
            file=display,
            line=lineno,
            value=line,
            hint="nesting is two spaces per level",
        )
        return None
    start, end = int(first, 16), int(last, 16)
    if end < start or end > MAX_ADDR:
        col = len(indent) + len(first) + 2
        report.error(
            diags,
            "LC402",
            f"end 0x{end:x} is below start 0x{start:x}"
            if end < start
            else f"end 0x{end:x} is beyond 64 bits",
            file=display,
            line=lineno,
            col=col,
            value=line,
            hint="iomem ends are inclusive and not below the start",
        )
        return None
    if not name.strip():
        report.error(
            diags,
            "LC402",
            f"resource without a name: '{report.shown(line)}'",
            file=display,
            line=lineno,
            col=len(line) + 1,
            value=line,
            hint="expected 'START-END : NAME'",
        )
        return None
    return IomemEntry(start, end + 1, name, len(indent) // 2)


def render_iomem(entries: tuple[IomemEntry, ...]) -> str:
    """Print entries the way the kernel does (8 hex digits at least, inclusive ends)."""
    return "".join(f"{'  ' * e.depth}{e.start:08x}-{e.end - 1:08x} : {e.name}\n" for e in entries)


def top_level(entries: tuple[IomemEntry, ...]) -> tuple[IomemEntry, ...]:
    """The depth-0 resources (the physical map and MMIO windows)."""
    return tuple(e for e in entries if e.depth == 0)
