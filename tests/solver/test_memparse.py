"""The one reader of kernel sizes: LNX:lib/cmdline.c memparse (kernel.params), and who shares it.

Each case where an earlier copy of the parser read a size differently from the kernel is pinned here
with the kernel's answer: the lab's copy knew only K/M/G/T, read ``010`` as an error, and failed on
trailing characters; the lab's ``memmap=`` reader saw only the first entry of a list.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from layoutc.kernel.params import memparse, memparse_whole
from layoutc.lab.facts.boot_facts import pmem_words
from layoutc.model.units import UnitError, format_size, parse_size


@pytest.mark.parametrize(("text", "expected"), [
    ("272M", (272 << 20, "")),
    ("2p", (2 << 50, "")),  # lower-case suffixes, P and E included
    ("1e", (1 << 60, "")),
    ("3k", (3 << 10, "")),
    ("010", (8, "")),  # a leading 0 is octal (simple_strtoull, base 0)
    ("010k", (8 << 10, "")),
    ("09", (0, "9")),  # 9 is no octal digit: the number is 0
    ("0x1e", (0x1E, "")),  # hex digits are read before a suffix
    ("0xg", (0, "xg")),  # 0x without a hex digit: octal 0, stop at x
    ("4Gx", (4 << 30, "x")),  # stops at the first character it cannot read
    ("64M$0x8000000", (64 << 20, "$0x8000000")),
    ("1KM", (1 << 10, "M")),  # one suffix only
    ("16E", (0, "")),  # unsigned long long: 2**64 wraps to 0
    ("0x10000000000000001", (1, "")),
])
def test_memparse_reads_like_the_kernel(text: str, expected: tuple[int, str]) -> None:
    assert memparse(text) == expected


@pytest.mark.parametrize("text", ["", "x", "M", "-1", "+1", " 1", "_1"])
def test_memparse_finds_no_number(text: str) -> None:
    assert memparse(text) is None


def test_memparse_whole_and_unwrapped() -> None:
    assert memparse_whole("0x130000000") == 0x130000000
    assert memparse_whole("4Gx") is None and memparse_whole("") is None
    assert memparse_whole("16E", wrap=False) == 1 << 64


def test_pmem_words_reads_every_memmap_entry_the_kernel_reads() -> None:
    cmdline = 'memmap=1m!0x100000,bogus,2M!010000000 memmap="4K!0x1000" memmap=8M$0x1000000 x=1'
    assert pmem_words(cmdline) == [(0x100000, 0x200000), (0x200000, 0x400000), (0x1000, 0x2000)]


@pytest.mark.parametrize("text", ["4g", "0755", "4G ", "1.5G"])
def test_profile_spelling_stays_stricter(text: str) -> None:
    with pytest.raises(UnitError):
        parse_size(text)


@given(st.integers(min_value=0, max_value=(1 << 64) - 1))
def test_profile_sizes_mean_what_the_kernel_reads(value: int) -> None:
    for text in (format_size(value), hex(value), str(value)):
        assert parse_size(text) == memparse_whole(text) == value
