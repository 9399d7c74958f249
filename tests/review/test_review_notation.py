"""Size notation in review output: two different sizes never read the same."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from layoutc.model.units import parse_size
from layoutc.review import notation

SIZES = st.one_of(st.integers(min_value=0, max_value=1 << 50),
                  st.builds(lambda k, s: k << s, st.integers(1, 4096), st.sampled_from([10, 20, 30, 40])))


@given(SIZES, SIZES)
def test_two_different_sizes_never_read_the_same(old: int, new: int) -> None:
    a, b = notation.pair(old, new)
    assert (a == b) == (old == new), (old, new, a, b)
    # not only other strings: other numbers ("1 GiB" and "1.0 GiB" read as the same size)
    assert (notation.shown_bytes(a) == notation.shown_bytes(b)) == (old == new), (old, new, a, b)


@given(SIZES, SIZES)
def test_a_change_names_both_sides_and_the_exact_delta(old: int, new: int) -> None:
    text = notation.change(old, new)
    a, b = notation.pair(old, new)
    assert text == f"{a} -> {b} ({notation.delta(new - old)})"


@given(SIZES)
def test_exact_reads_back_to_the_same_bytes(value: int) -> None:
    number, unit = notation.exact(value).split(" ")
    assert parse_size(number + {"B": "", "KiB": "K", "MiB": "M", "GiB": "G", "TiB": "T"}[unit]) == value


def test_a_16_mib_change_of_1_gib_is_visible() -> None:
    assert notation.pair(1 << 30, 1040 << 20) == ("1 GiB", "1040 MiB")
    assert notation.change(1 << 30, 1040 << 20) == "1 GiB -> 1040 MiB (+16 MiB)"
    assert notation.change(256 << 20, 160 << 20) == "256 MiB -> 160 MiB (-96 MiB)"
    assert notation.pair((1 << 30) + 1, 1 << 30) == ("1073741825 B", "1 GiB")
