"""Sets of addresses as half-open ``[start, end)`` ranges: merge and subtract, written once.

Every room that cuts memory maps uses these (kernel models, the solver and its checker, the
importer, the lab). The dumper keeps its own copy (``layoutc.dump.extents``) only because it ships
alone and may import nothing of the compiler.
"""

from __future__ import annotations

from collections.abc import Iterable

Interval = tuple[int, int]


def merge(ranges: Iterable[Interval]) -> tuple[Interval, ...]:
    """The same addresses as fewest ranges: sorted, empty ranges dropped, overlapping or touching ones joined."""
    out: list[Interval] = []
    for start, end in sorted(r for r in ranges if r[1] > r[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return tuple(out)


def subtract(ranges: Iterable[Interval], cuts: Iterable[Interval]) -> tuple[Interval, ...]:
    """What of ``ranges`` no range of ``cuts`` covers, sorted.

    Each range keeps its own edges: pieces of two touching ranges stay two pieces (memblock's free
    ranges are not joined across regions, and overlapping ranges stay overlapping), so ``merge`` the
    result when only the set matters.
    """
    pieces = [r for r in ranges if r[1] > r[0]]
    for cut_start, cut_end in cuts:
        if cut_end <= cut_start:
            continue
        kept: list[Interval] = []
        for start, end in pieces:
            if cut_end <= start or end <= cut_start:
                kept.append((start, end))
                continue
            if start < cut_start:
                kept.append((start, cut_start))
            if cut_end < end:
                kept.append((cut_end, end))
        pieces = kept
    return tuple(sorted(pieces))
