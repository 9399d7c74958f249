"""The armed-overhead report: what the running system gives up while a crash kernel is armed,
next to what kdump-utils' default ``crashkernel=`` would take on the same RAM.

Unusable while armed: the crashkernel= reservation and its low part (memblock-reserved), and
for a hotplug window the part that never comes back through kmem. A ``,cma`` area is lent to
movable allocations, so it is listed but costs nothing. The guard is listed too: it stays
usable by the kernel, but is kept out of ZONE_MOVABLE.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from layoutc.model.layout import Layout, RegionKind
from layoutc.review import notation
from layoutc.review.baselines import Baseline, kdump_utils_default
from layoutc.review.doc import LayoutFile, read


@dataclass(frozen=True, slots=True)
class ArmedOverhead:
    board: str
    ram: int
    crash: int
    low: int
    cma_lent: int
    guard: int
    window_lost: int  # hotplug window bytes not returned (armed_overhead minus the reservations)
    total: int  # unusable while armed (layout.json armed_overhead when present)
    kdump_default: Baseline

    @property
    def versus_default(self) -> int:
        """total minus kdump-utils' default: negative means layoutc takes less."""
        return self.total - self.kdump_default.size


def armed_overhead(doc: Mapping[str, Any] | LayoutFile | Layout) -> ArmedOverhead:
    layout = doc if isinstance(doc, Layout) else doc.layout if isinstance(doc, LayoutFile) else read(doc).layout
    return armed_overhead_of(
        board=layout.board, arch=layout.arch, ram=layout.memory.total_ram,
        crash=layout.bytes_of(RegionKind.CRASHKERNEL), low=layout.bytes_of(RegionKind.CRASHKERNEL_LOW),
        cma=layout.bytes_of(RegionKind.CRASH_CMA), guard=layout.bytes_of(RegionKind.GUARD),
        total=layout.armed_overhead)


def armed_overhead_of(*, board: str, arch: str, ram: int, crash: int, low: int, cma: int, guard: int,
                      total: int | None) -> ArmedOverhead:
    """The report from plain numbers (for renderers that hold a Layout rather than layout.json)."""
    reserved = crash + low
    unusable = reserved if total is None else total
    return ArmedOverhead(board, ram, crash, low, cma, guard, max(0, unusable - reserved), unusable,
                         kdump_utils_default(arch, ram))


def render_lines(report: ArmedOverhead) -> list[str]:
    """Plain-text lines for layout.txt, ``diff`` and ``estimate``."""
    lines = [f"armed overhead: {notation.human(report.total)} unusable while armed "
             f"({_percent(report.total, report.ram)} of {notation.human(report.ram)} RAM)"]
    lines.append(f"  crashkernel reservation   {notation.human(report.crash)}")
    if report.low:
        lines.append(f"  crashkernel low           {notation.human(report.low)}")
    if report.window_lost:
        lines.append(f"  window not returned       {notation.human(report.window_lost)}")
    if report.cma_lent:
        lines.append(f"  crash CMA (lent, free)    {notation.human(report.cma_lent)}")
    if report.guard:
        lines.append(f"  guard (kernel-only)       {notation.human(report.guard)}")
    base = report.kdump_default
    lines.append(f"  kdump-utils default       {notation.human(base.size)} ({base.detail})")
    diff = report.versus_default
    word = "less" if diff < 0 else "more"
    lines.append(f"  versus default            {notation.delta(diff)} ({notation.human(abs(diff))} {word})"
                 if diff else "  versus default            same")
    return lines


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"
