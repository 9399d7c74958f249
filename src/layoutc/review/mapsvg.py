"""``layoutc map --svg``: the solved layout as an SVG picture, and two of them side by side.

Highest address at the top. Columns: address axis, firmware map, zones, layout regions, labels
(name, size, hex range) with leader lines. Memory is linear in bytes (4 px minimum), holes and
large non-RAM ranges are logarithmic and drawn with a break mark. Deterministic output: fixed
decimals, no ids, no timestamps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from layoutc.model.layout import Layout
from layoutc.review import notation
from layoutc.review.doc import LayoutFile, read
from layoutc.review.geometry import HOLE, MapSegment, Scale, segments

FONT = 10.0
LINE = 12.0
CHAR_W = 6.1  # DejaVu Sans Mono at 10 px advances ~6.02 px
TOP = 52.0
AXIS_X = 124.0
MAP_X, MAP_W = 132.0, 104.0
ZONE_X, ZONE_W = 242.0, 22.0
REG_X, REG_W = 270.0, 64.0
LABEL_X = 364.0
LABEL_GAP = 3.0
MIN_WIDTH = 640.0

MAP_FILL = {"ram": "#d9ead3", "reserved": "#999999", "acpi": "#f6b26b", "nvs": "#e69138",
            "unusable": "#666666", "pmem": "#b4a7d6", HOLE: "#ffffff"}
ZONE_FILL = {"DMA": "#cfe2f3", "DMA32": "#9fc5e8", "Normal": "#6fa8dc", "Movable": "#93c47d"}
REGION_FILL = {"crashkernel": "#cc0000", "crashkernel_low": "#e06666", "crash_cma": "#ea9999",
               "dump_window": "#3c78d8", "guard": "#f1c232", "kernel_image": "#434343"}


@dataclass(frozen=True, slots=True)
class _Label:
    lines: tuple[str, ...]
    y0: float  # the item's extent on the bar
    y1: float
    kind: str

    @property
    def height(self) -> float:
        return len(self.lines) * LINE


def map_svg(doc: Mapping[str, Any]) -> str:
    """One layout as a standalone SVG document."""
    body, width, height = _picture(read(doc))
    return _document(body, width, height)


def side_by_side_svg(old: Mapping[str, Any], new: Mapping[str, Any], *, old_label: str = "old",
                     new_label: str = "new") -> str:
    """OLD and NEW next to each other (each to its own scale), for ``layoutc diff --svg``."""
    a, b = read(old), read(new)
    before = {r.name: (r.start, r.end) for r in a.layout.regions}
    after = {r.name: (r.start, r.end) for r in b.layout.regions}
    changed = frozenset(n for n in set(before) | set(after) if before.get(n) != after.get(n))
    left, lw, lh = _picture(a, caption=old_label, changed=changed)
    right, rw, rh = _picture(b, caption=new_label, changed=changed)
    gap = 24.0
    body = (f'<svg x="0" y="0" width="{_n(lw)}" height="{_n(lh)}" class="side" data-side="old">{left}</svg>\n'
            f'<line x1="{_n(lw + gap / 2)}" y1="8" x2="{_n(lw + gap / 2)}" y2="{_n(max(lh, rh) - 8)}" '
            f'stroke="#cccccc"/>\n'
            f'<svg x="{_n(lw + gap)}" y="0" width="{_n(rw)}" height="{_n(rh)}" class="side" data-side="new">'
            f'{right}</svg>\n')
    return _document(body, lw + gap + rw, max(lh, rh))


def _document(body: str, width: float, height: float) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(width)}" height="{_n(height)}" '
            f'viewBox="0 0 {_n(width)} {_n(height)}" font-family="DejaVu Sans Mono, monospace" '
            f'font-size="{_n(FONT)}">\n<rect x="0" y="0" width="{_n(width)}" height="{_n(height)}" '
            f'fill="#ffffff"/>\n{body}</svg>\n')


def _picture(file: LayoutFile, caption: str = "",
             changed: frozenset[str] = frozenset()) -> tuple[str, float, float]:
    layout = file.layout
    segs = segments(layout)
    scale = Scale(segs, TOP)
    out: list[str] = []
    title = f"{layout.board}: {layout.arch}, {notation.human(layout.memory.total_ram)} RAM, {file.strategy_name}"
    if caption:
        title = f"{caption}: {title}"
    production = layout.cmdline.production
    subtitle = f"production: {production}" if production else "production: (no layout parameters)"
    texts = [title, subtitle]
    out.append(_text(8, 18, (title,), "title", weight="bold"))
    out.append(_text(8, 34, (subtitle,), "title"))
    out.extend(_segment_shapes(seg, scale) for seg in segs)
    out.extend(_zone_shapes(segs, scale))
    out.extend(_region_shapes(layout, scale, changed))
    labels = _right_labels(layout, segs, scale, changed)
    bottom = scale.top + scale.height
    ys = _place(labels, scale.top, bottom)
    for label, y in zip(labels, ys, strict=True):
        mid = (label.y0 + label.y1) / 2
        start = {"zone": ZONE_X + ZONE_W, "ram": MAP_X + MAP_W, "break": MAP_X + MAP_W}.get(label.kind,
                                                                                          REG_X + REG_W)
        out.append(f'<polyline points="{_n(start)},{_n(mid)} {_n(LABEL_X - 12)},{_n(mid)} '
                   f'{_n(LABEL_X - 4)},{_n(y + LINE / 2)}" fill="none" stroke="#888888" stroke-width="0.6"/>')
        out.append(_text(LABEL_X, y + FONT, label.lines, "label", kind=label.kind))
        texts.extend(label.lines)
    axis = _axis_labels(segs, scale)
    axis_ys = _place(axis, scale.top, bottom)
    for label, y in zip(axis, axis_ys, strict=True):
        out.append(f'<polyline points="{_n(AXIS_X - 2)},{_n(y + LINE / 2)} {_n(MAP_X)},{_n(label.y0)}" '
                   f'fill="none" stroke="#bbbbbb" stroke-width="0.6"/>')
        out.append(_text(AXIS_X - 4, y + FONT, label.lines, "axis", anchor="end"))
    low = max([bottom] + [y + lab.height for lab, y in zip(labels, ys, strict=True)]
              + [y + lab.height for lab, y in zip(axis, axis_ys, strict=True)])
    legend, legend_h, legend_w = _legend(low + 14)
    out.append(legend)
    width = max(MIN_WIDTH, legend_w, 16 + CHAR_W * max(len(t) for t in texts) + LABEL_X * 0,
                LABEL_X + 8 + CHAR_W * max((len(t) for lab in labels for t in lab.lines), default=0))
    return "\n".join(out) + "\n", width, low + 14 + legend_h + 8


def _segment_shapes(seg: MapSegment, scale: Scale) -> str:
    y_top, y_bottom = scale.y(seg.end), scale.y(seg.start)
    h = max(0.1, y_bottom - y_top)
    fill = MAP_FILL.get(seg.type, "#cccccc")
    shape = (f'<rect class="segment" data-type="{seg.type}" x="{_n(MAP_X)}" y="{_n(y_top)}" '
             f'width="{_n(MAP_W)}" '
             f'height="{_n(h)}" fill="{fill}" stroke="#555555" stroke-width="0.5"/>')
    if seg.broken:
        mid = y_top + h / 2
        zig = " ".join(f"{_n(MAP_X + i * MAP_W / 8)},{_n(mid + (3 if i % 2 else -3))}" for i in range(9))
        shape += (f'\n<polyline class="break" points="{zig}" fill="none" stroke="#555555" '
                  'stroke-width="0.8"/>')
    return shape


def _zone_shapes(segs: tuple[MapSegment, ...], scale: Scale) -> list[str]:
    out = []
    for seg in segs:
        if not seg.zone:
            continue
        y_top, y_bottom = scale.y(seg.end), scale.y(seg.start)
        out.append(f'<rect class="zone" data-zone="{seg.zone}" x="{_n(ZONE_X)}" y="{_n(y_top)}" '
                   f'width="{_n(ZONE_W)}" height="{_n(max(0.1, y_bottom - y_top))}" '
                   f'fill="{ZONE_FILL.get(seg.zone, "#dddddd")}"/>')
    return out


def _region_shapes(layout: Layout, scale: Scale, changed: frozenset[str]) -> list[str]:
    """One rectangle per region; in a side-by-side diff, changed regions get a thick dashed outline."""
    out = []
    for region in layout.regions:
        stroke = ('stroke="#c000c0" stroke-width="2" stroke-dasharray="4 2"' if region.name in changed
                  else 'stroke="#222222" stroke-width="0.5"')
        y_top, y_bottom = scale.y(region.end), scale.y(region.start)
        out.append(f'<rect class="region" data-kind="{xml_escape(region.kind)}" '
                   f'data-name="{xml_escape(region.name)}" x="{_n(REG_X)}" y="{_n(y_top)}" '
                   f'width="{_n(REG_W)}" height="{_n(max(0.1, y_bottom - y_top))}" '
                   f'fill="{REGION_FILL.get(region.kind, "#999999")}" '
                   f'fill-opacity="0.85" {stroke}/>')
    return out


def _right_labels(layout: Layout, segs: tuple[MapSegment, ...], scale: Scale,
                  changed: frozenset[str] = frozenset()) -> list[_Label]:
    labels: list[_Label] = []
    for region in layout.regions:
        mark = " (changed)" if region.name in changed else ""
        labels.append(_Label((f"{region.name} {notation.human(region.size)}{mark}",
                              f"{notation.addr(region.start)}-{notation.addr(region.end)}"),
                             scale.y(region.end), scale.y(region.start), region.kind))
    for zone in layout.movable_zone:
        labels.append(_Label((f"ZONE_MOVABLE node {zone.node} {notation.human(zone.end - zone.start)}",
                              f"{notation.addr(zone.start)}-{notation.addr(zone.end)}"),
                             scale.y(zone.end), scale.y(zone.start), "zone"))
    for seg in segs:
        if seg.broken:
            what = "hole" if seg.type == HOLE else seg.type
            labels.append(_Label((f"{what} {notation.human(seg.size)} (not to scale)",),
                                 scale.y(seg.end), scale.y(seg.start), "break"))
    for entry in layout.memory.ranges:
        if entry.type == "ram" and entry.end - entry.start >= 64 * 1024 * 1024:
            node = "" if entry.node is None else f" node {entry.node}"
            labels.append(_Label((f"RAM{node} {notation.human(entry.end - entry.start)}",),
                                 scale.y(entry.end), scale.y(entry.start), "ram"))
    labels.sort(key=lambda lab: ((lab.y0 + lab.y1) / 2, lab.lines))
    return labels


def _axis_labels(segs: tuple[MapSegment, ...], scale: Scale) -> list[_Label]:
    points = sorted({seg.start for seg in segs} | {seg.end for seg in segs}, reverse=True)
    return [_Label((notation.addr(p),), scale.y(p), scale.y(p), "axis") for p in points]


def _place(labels: list[_Label], top: float, bottom: float) -> list[float]:
    """Top-to-bottom placement without overlap, kept near each item (push down, then up)."""
    wanted = [(lab.y0 + lab.y1) / 2 - lab.height / 2 for lab in labels]
    heights = [lab.height for lab in labels]
    total = sum(heights) + LABEL_GAP * max(0, len(labels) - 1)
    floor_limit = max(bottom, top + total)
    ys: list[float] = []
    floor = top
    for y, h in zip(wanted, heights, strict=True):
        placed = max(y, floor)
        ys.append(placed)
        floor = placed + h + LABEL_GAP
    ceiling = floor_limit
    for i in range(len(ys) - 1, -1, -1):
        ys[i] = min(ys[i], ceiling - heights[i])
        ceiling = ys[i] - LABEL_GAP
    return [round(y, 1) for y in ys]


def _legend(y: float) -> tuple[str, float, float]:
    items = [("RAM", MAP_FILL["ram"]), ("reserved", MAP_FILL["reserved"]), ("ACPI/NVS", MAP_FILL["acpi"]),
             ("hole", MAP_FILL[HOLE]), ("DMA/DMA32", ZONE_FILL["DMA32"]), ("Normal", ZONE_FILL["Normal"]),
             ("Movable", ZONE_FILL["Movable"]),
             ("crashkernel", REGION_FILL["crashkernel"]),
             ("crash CMA", REGION_FILL["crash_cma"]), ("window", REGION_FILL["dump_window"]),
             ("guard", REGION_FILL["guard"]), ("kernel", REGION_FILL["kernel_image"])]
    out = []
    x, row = 8.0, 0
    width = 0.0
    for name, fill in items:
        w = 16 + CHAR_W * len(name) + 12
        if x + w > MIN_WIDTH - 8:
            x, row = 8.0, row + 1
        yy = y + row * (LINE + 4)
        out.append(f'<rect x="{_n(x)}" y="{_n(yy)}" width="10" height="10" fill="{fill}" stroke="#555555" '
                   f'stroke-width="0.5"/>')
        out.append(_text(x + 14, yy + 9, (name,), "legend"))
        x += w
        width = max(width, x)
    return "\n".join(out), (row + 1) * (LINE + 4), width


def _text(x: float, y: float, lines: tuple[str, ...], cls: str, *, anchor: str = "start", kind: str = "",
          weight: str = "") -> str:
    attrs = f'class="{cls}" x="{_n(x)}" y="{_n(y)}"'
    if anchor != "start":
        attrs += f' text-anchor="{anchor}"'
    if kind:
        attrs += f' data-kind="{xml_escape(kind)}"'
    if weight:
        attrs += f' font-weight="{weight}"'
    if len(lines) == 1:
        return f"<text {attrs}>{xml_escape(lines[0])}</text>"
    spans = "".join(f'<tspan x="{_n(x)}" dy="{_n(0 if i == 0 else LINE)}">{xml_escape(line)}</tspan>'
                    for i, line in enumerate(lines))
    return f"<text {attrs}>{spans}</text>"


def _n(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text
