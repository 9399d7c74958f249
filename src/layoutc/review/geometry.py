"""The memory map cut into elementary segments, and the vertical scale both maps draw with.

Every boundary of the firmware map, of ZONE_MOVABLE and of each region cuts the address space;
each piece knows its map type, zone and covering regions. The scale is linear in bytes for
memory, with a minimum height so that every region stays visible, and logarithmic for holes
and large non-RAM ranges, which are drawn with a break mark (not to scale).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from layoutc.model.layout import Layout
from layoutc.model.units import GiB, MiB

HOLE = "hole"
LINEAR_PX = 560.0  # pixels for all memory that is drawn to scale
MIN_PX = 4.0
BREAK_MIN = 64 * MiB  # non-RAM ranges at least this large are drawn as a break
BREAK_BASE_PX = 16.0
BREAK_PX_PER_DOUBLING = 2.0
BREAK_MAX_PX = 36.0


@dataclass(frozen=True, slots=True)
class MapSegment:
    start: int
    end: int
    type: str  # a memory map type, or "hole" (no map entry)
    node: int | None
    zone: str  # DMA | DMA32 | Normal | Movable | "" (not RAM)
    regions: tuple[str, ...]  # names of the layout regions covering it
    broken: bool  # drawn as a break (log scale)
    height: float

    @property
    def size(self) -> int:
        return self.end - self.start


def zone_of(arch: str, addr: int, movable: list[tuple[int, int]]) -> str:
    if any(s <= addr < e for s, e in movable):
        return "Movable"
    if arch == "x86_64":
        if addr < 16 * MiB:
            return "DMA"
        if addr < 4 * GiB:
            return "DMA32"
        return "Normal"
    return "DMA" if addr < 4 * GiB else "Normal"


def segments(layout: Layout) -> tuple[MapSegment, ...]:
    """The elementary segments from the lowest to the highest address."""
    cuts: set[int] = set()
    for e in layout.memory.ranges:
        cuts.update((e.start, e.end))
    for r in layout.regions:
        cuts.update((r.start, r.end))
    movable = [(z.start, z.end) for z in layout.movable_zone]
    for low, high in movable:
        cuts.update((low, high))
    if layout.arch == "x86_64":
        cuts.update(c for c in (16 * MiB, 4 * GiB) if _inside_ram(layout, c))
    points = sorted(cuts)
    if not points:
        return ()
    ram_total = max(1, sum(e.end - e.start for e in layout.memory.ranges if e.type == "ram"))
    out: list[MapSegment] = []
    for start, end in zip(points, points[1:], strict=False):
        entry = next((e for e in layout.memory.ranges if e.start <= start and end <= e.end), None)
        kind = entry.type if entry else HOLE
        node = entry.node if entry else None
        covering = tuple(r.name for r in layout.regions if r.start <= start and end <= r.end)
        zone = zone_of(layout.arch, start, movable) if kind == "ram" else ""
        broken = kind != "ram" and not covering and end - start >= BREAK_MIN
        height = _break_height(end - start) if broken else max(MIN_PX, (end - start) / ram_total * LINEAR_PX)
        out.append(MapSegment(start, end, kind, node, zone, covering, broken, round(height, 1)))
    return tuple(_merge(out))


def _merge(items: list[MapSegment]) -> list[MapSegment]:
    """Join neighbours that look the same, so the picture has no needless cuts."""
    out: list[MapSegment] = []
    for seg in items:
        prev = out[-1] if out else None
        if prev and prev.end == seg.start and prev.broken and seg.broken:
            size = seg.end - prev.start
            kind = HOLE if HOLE in (prev.type, seg.type) else prev.type
            out[-1] = MapSegment(prev.start, seg.end, kind, None, "", (), True, round(_break_height(size), 1))
            continue
        out.append(seg)
    return out


def _inside_ram(layout: Layout, addr: int) -> bool:
    return any(e.type == "ram" and e.start < addr < e.end for e in layout.memory.ranges)


def _break_height(size: int) -> float:
    doublings = math.log2(max(size, BREAK_MIN) / BREAK_MIN)
    return min(BREAK_MAX_PX, BREAK_BASE_PX + BREAK_PX_PER_DOUBLING * doublings)


@dataclass(frozen=True, slots=True)
class Scale:
    """Address -> y (pixels from the top of the bar; the highest address is at the top)."""

    segments: tuple[MapSegment, ...]
    top: float

    @property
    def height(self) -> float:
        return sum(s.height for s in self.segments)

    def y(self, addr: int) -> float:
        """The y of ``addr`` (exact at segment boundaries, linear inside a segment)."""
        y = self.top + self.height
        for seg in self.segments:
            if addr <= seg.start:
                break
            if addr >= seg.end:
                y -= seg.height
                continue
            y -= seg.height * (addr - seg.start) / seg.size
            break
        return round(y, 1)


def place_labels(wanted: list[float], heights: list[float], gap: float, top: float) -> list[float]:
    """Push labels down so that none overlaps the one above (inputs in top-to-bottom order)."""
    out: list[float] = []
    floor = top
    for y, h in zip(wanted, heights, strict=True):
        placed = max(y, floor)
        out.append(round(placed, 1))
        floor = placed + h + gap
    return out
