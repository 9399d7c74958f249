"""``layoutc map``: the solved layout as terminal text, highest address first.

One row per elementary segment (cut at every map, zone and region boundary): its range, size,
map type and node, zone, the layout regions covering it, and a bar to the same scale as the SVG
(``~`` rows are holes or large non-RAM ranges, not to scale).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from layoutc.review import notation
from layoutc.review.doc import read
from layoutc.review.geometry import HOLE, LINEAR_PX, segments
from layoutc.review.overhead import armed_overhead, render_lines

BAR_COLUMNS = 40


def map_text(doc: Mapping[str, Any]) -> str:
    file = read(doc)
    layout = file.layout
    segs = segments(layout)
    lines = [f"{layout.board}: {layout.arch}, {notation.human(layout.memory.total_ram)} RAM, "
             f"{file.strategy_name}, "
             f"block {notation.human(layout.memory.block_size)}"]
    for stage in ("production", "crash", "recovery"):
        text = str(getattr(layout.cmdline, stage))
        if text:
            lines.append(f"  {stage}: {text}")
    rows = []
    for seg in reversed(segs):
        kind = "hole" if seg.type == HOLE else seg.type
        where = kind + ("" if seg.node is None else f" n{seg.node}")
        if seg.broken:
            bar = "~" * 6 + " (not to scale)"
        else:
            bar = "#" * max(1, round(seg.height / LINEAR_PX * BAR_COLUMNS))
        rows.append((notation.addr(seg.start), notation.addr(seg.end), notation.human(seg.size), where,
                     seg.zone or "-", ", ".join(seg.regions) or "-", bar))
    head = ("start", "end", "size", "map", "zone", "layout", "")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines.append("")
    lines.append("  " + "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip())
    for row in rows:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    lines.append("")
    lines.append("regions:")
    for region in sorted(layout.regions, key=lambda r: -r.start):
        node = "" if region.node is None else f" node {region.node}"
        lines.append(f"  {region.name:<16} {notation.span(region.start, region.end)}{node}")
    if layout.dump_window is not None:
        lines.append(f"  dump window returns {layout.dump_window.devdax.blocks_returned} block(s) after recovery")
    lines.append("")
    lines.extend(render_lines(armed_overhead(layout)))
    return "\n".join(lines) + "\n"
