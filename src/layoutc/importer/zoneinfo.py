"""/proc/zoneinfo (mm/vmstat.c ``zoneinfo_show_print``): zones per node with their page counts.

Each zone starts with ``Node N, zone NAME``. Inside it only four counters matter here:
``spanned``, ``present``, ``managed`` and ``start_pfn:``; the many statistics lines are
skipped, but one of the four with a non-numeric value is an error. A zone with no present pages
prints no start_pfn (LNX:mm/vmstat.c zoneinfo_show_print returns before it when
!populated_zone()): an empty zone, and also the Device zone that legacy pmem spans (spanned > 0,
present 0; found by the lab's in-guest probe on hotplug layouts).
"""

from __future__ import annotations

import re

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.importer import parse_report as report
from layoutc.importer.sysinfo_types import ZoneStats
from layoutc.model.intervals import merge

_HEADER_RE = re.compile(r"^Node\s+(\S+),\s+zone\s+(\S+)\s*$")
_COUNTER_RE = re.compile(r"^\s+(spanned|present|managed|start_pfn:)\s+(\S+)\s*$")
_COUNTERS = ("spanned", "present", "managed", "start_pfn")
PAGE_SIZE = 4096


def parse_zoneinfo(text: str, display: str, diags: Diagnostics) -> tuple[ZoneStats, ...] | None:
    """Parse /proc/zoneinfo. Returns None (with diagnostics) when a header or counter is malformed."""
    zones: list[ZoneStats] = []
    current: dict[str, int] | None = None
    header: tuple[int, str, int] | None = None
    ok = True
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.startswith("Node"):
            if header is not None and current is not None:
                ok = _close(header, current, display, diags, zones) and ok
            parsed = _header(line, lineno, display, diags)
            ok = ok and parsed is not None
            header, current = (parsed, {}) if parsed is not None else (None, None)
            continue
        match = _COUNTER_RE.match(line)
        if match is None or current is None:
            continue
        key, value = match.group(1).rstrip(":"), match.group(2)
        if not value.isdigit():
            col = line.index(value) + 1
            report.error(
                diags,
                "LC405",
                f"{key} is not a number: '{report.shown(line.strip())}'",
                file=display,
                line=lineno,
                col=col,
                value=value,
                hint="zoneinfo counters are decimal page counts",
            )
            ok = False
            current["_bad"] = 1  # already reported: no 'missing counter' error for this zone
            continue
        current[key] = int(value)
    if header is not None and current is not None:
        ok = _close(header, current, display, diags, zones) and ok
    if ok and not zones:
        report.error(
            diags,
            "LC405",
            "no 'Node N, zone NAME' section",
            file=display,
            hint="capture /proc/zoneinfo itself (cat /proc/zoneinfo)",
        )
        return None
    return tuple(zones) if ok else None


def _header(line: str, lineno: int, display: str, diags: Diagnostics) -> tuple[int, str, int] | None:
    match = _HEADER_RE.match(line)
    if match is None or not match.group(1).isdigit():
        report.error(
            diags,
            "LC405",
            f"not a zone header: '{report.shown(line)}'",
            file=display,
            line=lineno,
            value=line,
            hint="zone headers read 'Node 0, zone   Normal'",
        )
        return None
    return int(match.group(1)), match.group(2), lineno


def _close(
    header: tuple[int, str, int],
    counters: dict[str, int],
    display: str,
    diags: Diagnostics,
    zones: list[ZoneStats],
) -> bool:
    node, name, lineno = header
    if "_bad" in counters:
        return False
    missing = [k for k in ("spanned", "present", "managed") if k not in counters]
    if counters.get("present", 0) and "start_pfn" not in counters:
        missing.append("start_pfn")
    if missing:
        report.error(
            diags,
            "LC405",
            f"zone {name} of node {node} has no {missing[0]} line",
            file=display,
            line=lineno,
            value=f"Node {node}, zone {name}",
            hint="capture the whole of /proc/zoneinfo (is the file cut short?)",
        )
        return False
    zones.append(
        ZoneStats(
            node,
            name,
            counters.get("start_pfn") if counters["present"] else None,
            counters["spanned"],
            counters["present"],
            counters["managed"],
        )
    )
    return True


def render_zoneinfo(zones: tuple[ZoneStats, ...]) -> str:
    """Print the four counters per zone in the kernel's layout (statistics lines omitted)."""
    out = []
    for z in zones:
        out.append(f"Node {z.node}, zone {z.name:>8}\n  pages free     0\n")
        out.append(
            f"        spanned  {z.spanned}\n        present  {z.present}\n        managed  {z.managed}\n"
        )
        if z.start_pfn is not None:
            out.append(f"  start_pfn:           {z.start_pfn}\n")
    return "".join(out)


def node_spans(zones: tuple[ZoneStats, ...]) -> dict[int, list[tuple[int, int]]]:
    """Byte ranges each node's populated zones span (ZONE_MOVABLE overlaps Normal's span, so merge)."""
    spans: dict[int, list[tuple[int, int]]] = {}
    for z in zones:
        if z.spanned and z.start_pfn is not None:
            spans.setdefault(z.node, []).append((z.start_pfn * PAGE_SIZE, (z.start_pfn + z.spanned) * PAGE_SIZE))
    return {node: list(merge(spans[node])) for node in sorted(spans)}


def present_pages(zones: tuple[ZoneStats, ...]) -> dict[int, int]:
    """Present pages per node (RAM the node holds, in 4 KiB pages)."""
    totals: dict[int, int] = {}
    for z in zones:
        totals[z.node] = totals.get(z.node, 0) + z.present
    return totals
