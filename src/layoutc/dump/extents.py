"""Run-length page sets: sorted, disjoint, half-open ``(start, end)`` pfn ranges.

The dumper keeps extents instead of full bitmaps so that memory stays flat as the source grows
(footprint); bitmaps are generated block by block when a format needs them.

The compiler's interval helpers are ``layoutc.model.intervals``; this is a separate copy only because
the dumper ships alone in a standard-library zipapp and may import nothing outside ``layoutc.dump``.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


Extent = tuple[int, int]


def normalize(ranges: Iterable[Extent]) -> list[Extent]:
    """Sort, drop empty ranges and merge overlapping or touching ones."""
    out: list[Extent] = []
    for start, end in sorted(r for r in ranges if r[1] > r[0]):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def subtract(a: list[Extent], b: list[Extent]) -> list[Extent]:
    """``a`` minus ``b``; both normalized."""
    out: list[Extent] = []
    j = 0
    for start, end in a:
        while j < len(b) and b[j][1] <= start:
            j += 1
        k = j
        cur = start
        while k < len(b) and b[k][0] < end:
            if b[k][0] > cur:
                out.append((cur, b[k][0]))
            cur = max(cur, b[k][1])
            k += 1
        if cur < end:
            out.append((cur, end))
    return out


def intersect(a: list[Extent], b: list[Extent]) -> list[Extent]:
    """``a`` and ``b``; both normalized."""
    out: list[Extent] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start = max(a[i][0], b[j][0])
        end = min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def count(a: Iterable[Extent]) -> int:
    """Number of pages in a set."""
    return sum(end - start for start, end in a)


def bitmap_bytes(a: list[Extent], first_byte: int, nbytes: int) -> bytes:
    """Bytes ``[first_byte, first_byte + nbytes)`` of the LSB-first bitmap of ``a``."""
    buf = bytearray(nbytes)
    lo = first_byte * 8
    hi = lo + nbytes * 8
    for start, end in a:
        if end <= lo or start >= hi:
            continue
        s, e = max(start, lo) - lo, min(end, hi) - lo
        # Whole bytes in the middle, single bits at the ragged edges.
        while s < e and s & 7:
            buf[s >> 3] |= 1 << (s & 7)
            s += 1
        full_end = e & ~7
        if s < full_end:
            buf[s >> 3 : full_end >> 3] = b"\xff" * ((full_end - s) >> 3)
            s = full_end
        while s < e:
            buf[s >> 3] |= 1 << (s & 7)
            s += 1
    return bytes(buf)

