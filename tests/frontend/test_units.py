"""Sizes and addresses: the kernel's memparse() spelling, both ways."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from layoutc.model.units import (
    Percent,
    UnitError,
    align_down,
    align_up,
    format_addr,
    format_human,
    format_size,
    parse_size,
    parse_size_or_percent,
)


@pytest.mark.parametrize(("text", "value"), [
    ("0", 0), ("4096", 4096), ("256M", 256 << 20), ("0x10000000", 0x10000000), ("0X1f", 31),
    ("4G", 4 << 30), ("1T", 1 << 40), ("16K", 16384), ("0x10M", 16 << 20), ("2E", 2 << 60),
])
def test_parse_size_accepts_kernel_spelling(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "12Q", "-1", "1.5G", " 4G", "4G ", "4g", "0755", "0x", "M", "4GB", "1_000"])
def test_parse_size_rejects_what_memparse_would_misread(text: str) -> None:
    with pytest.raises(UnitError):
        parse_size(text)


def test_bad_size_message_shows_the_spelling() -> None:
    with pytest.raises(UnitError) as info:
        parse_size("12Q")
    assert str(info.value) == ("'12Q' is not a kernel size: write an integer (decimal or 0x hex) with an optional "
                               "K/M/G/T/P/E suffix, e.g. 256M or 0x10000000")


@given(st.integers(min_value=0, max_value=(1 << 62)))
def test_format_size_round_trips(value: int) -> None:
    text = format_size(value)
    assert parse_size(text) == value
    assert " " not in text


@given(st.integers(min_value=0, max_value=1 << 50))
def test_format_addr_is_canonical_hex(value: int) -> None:
    text = format_addr(value)
    assert text.startswith("0x") and text == text.lower() and int(text, 16) == value


def test_percent() -> None:
    assert parse_size_or_percent("25%") == Percent(25)
    assert str(Percent(25)) == "25%"
    with pytest.raises(UnitError):
        parse_size_or_percent("101%")
    assert parse_size_or_percent("512M") == 512 << 20


@given(st.integers(min_value=0, max_value=1 << 48), st.sampled_from([1 << 12, 1 << 21, 1 << 22, 1 << 27]))
def test_alignment(value: int, alignment: int) -> None:
    up, down = align_up(value, alignment), align_down(value, alignment)
    assert up % alignment == 0 and down % alignment == 0
    assert down <= value <= up and up - down in (0, alignment)


def test_format_human() -> None:
    assert format_human(272 << 20) == "272 MiB"
    assert format_human(3 << 29) == "1.5 GiB"
    assert format_human(-(128 << 20)) == "-128 MiB"
    assert format_human(100) == "100 B"
