"""Run-length page sets against a plain set model (hypothesis)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from layoutc.dump import extents

ranges = st.lists(st.tuples(st.integers(0, 300), st.integers(0, 60)).map(lambda t: (t[0], t[0] + t[1])), max_size=12)


def as_set(a: list[tuple[int, int]]) -> set[int]:
    return {p for s, e in a for p in range(s, e)}


@given(ranges, ranges)
def test_set_algebra(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> None:
    na, nb = extents.normalize(a), extents.normalize(b)
    assert as_set(na) == as_set(a)
    assert all(e1 < s2 for (_, e1), (s2, _) in zip(na, na[1:], strict=False))  # disjoint, sorted
    assert as_set(extents.subtract(na, nb)) == as_set(a) - as_set(b)
    assert as_set(extents.intersect(na, nb)) == as_set(a) & as_set(b)
    assert extents.count(na) == len(as_set(a))


@given(ranges, st.integers(0, 40), st.integers(1, 40))
def test_bitmap_bytes(a: list[tuple[int, int]], first: int, n: int) -> None:
    na = extents.normalize(a)
    bits = extents.bitmap_bytes(na, first, n)
    model = as_set(na)
    for i in range(n * 8):
        pfn = first * 8 + i
        assert (bits[i >> 3] >> (i & 7) & 1) == (pfn in model)
