"""model/intervals.py against a brute-force model: a range set is the set of addresses it holds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from layoutc.model.intervals import Interval, merge, subtract

ranges = st.lists(st.tuples(st.integers(0, 64), st.integers(0, 64)), max_size=8)


def addresses(spans: tuple[Interval, ...] | list[Interval]) -> set[int]:
    return {a for s, e in spans for a in range(s, e)}


def sorted_and_nonempty(spans: tuple[Interval, ...]) -> bool:
    return list(spans) == sorted(spans) and all(e > s for s, e in spans)


@given(ranges)
def test_merge_is_the_fewest_ranges_of_the_same_set(spans: list[Interval]) -> None:
    out = merge(spans)
    assert addresses(out) == addresses(spans) and sorted_and_nonempty(out)
    assert all(a[1] < b[0] for a, b in zip(out, out[1:], strict=False))  # not even touching


@given(ranges, ranges)
def test_subtract_is_set_difference(spans: list[Interval], cuts: list[Interval]) -> None:
    out = subtract(spans, cuts)
    assert addresses(out) == addresses(spans) - addresses(cuts) and sorted_and_nonempty(out)


@given(ranges, ranges)
def test_subtract_keeps_each_ranges_own_edges(spans: list[Interval], cuts: list[Interval]) -> None:
    nonempty = [r for r in spans if r[1] > r[0]]
    for s, e in subtract(spans, cuts):
        assert any(rs <= s and e <= re for rs, re in nonempty)


def test_touching_ranges_stay_apart_until_merged() -> None:
    assert subtract([(0, 4), (4, 8)], [(6, 7)]) == ((0, 4), (4, 6), (7, 8))
    assert merge(subtract([(0, 4), (4, 8)], [(6, 7)])) == ((0, 6), (7, 8))
