"""One entry of an imported board's memory map (shared by ``board_map`` and ``board_dt``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BoardRange:
    """One map entry of the board; node is set for RAM only."""

    start: int
    end: int
    kind: str
    node: int | None = None


def merge_ranges(ranges: list[BoardRange]) -> list[BoardRange]:
    """Sorted ``ranges`` with touching neighbours of the same kind and node joined."""
    out: list[BoardRange] = []
    for r in sorted(ranges, key=lambda r: (r.start, r.end)):
        if out and out[-1].end == r.start and out[-1].kind == r.kind and out[-1].node == r.node:
            out[-1] = BoardRange(out[-1].start, r.end, r.kind, r.node)
        else:
            out.append(r)
    return out
