"""Sizes and addresses, parsed and printed the way the kernel reads them.

The kernel reads sizes with ``memparse()`` (lib/cmdline.c): an integer in C notation
(decimal, ``0x`` hex or a leading-``0`` octal) followed by an optional K/M/G/T/P/E suffix
(binary multiples). Profiles accept that spelling; a leading-zero decimal is rejected
because the kernel would read it as octal and YAML 1.1 users expect decimal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from layoutc.kernel.params import memparse_whole

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
TiB = 1 << 40

_SUFFIX2SHIFT = {"K": 10, "M": 20, "G": 30, "T": 40, "P": 50, "E": 60}
_SIZE_RE = re.compile(r"^(0[xX][0-9a-fA-F]+|0|[1-9][0-9]*)([KMGTPE])?$")
_PERCENT_RE = re.compile(r"^([0-9]{1,3})%$")


class UnitError(ValueError):
    """A size or address that the kernel's parser would not accept."""


@dataclass(frozen=True, slots=True)
class Percent:
    """A percentage of total memory, as ``movablecore=25%`` accepts it."""

    value: int

    def __str__(self) -> str:
        return f"{self.value}%"


def parse_size(text: str | int) -> int:
    """Parse a memparse()-style size (``256M``, ``0x10000000``, ``4096``) into bytes.

    Integers pass through. Raises UnitError with the accepted spelling on bad input.
    """
    if isinstance(text, bool):
        raise UnitError("a boolean is not a size")
    if isinstance(text, float):
        shown = repr(text)
        raise UnitError(f"{shown} is not a kernel size: sizes and addresses are whole bytes; write an integer "
                        "(4096, 0x10000000) or a kernel size string like 1G")
    if isinstance(text, int):
        if text < 0:
            raise UnitError("a size cannot be negative")
        return text
    stripped = text.strip()
    match = _SIZE_RE.match(stripped)
    if match is None or stripped != text:
        raise UnitError(
            f"'{text}' is not a kernel size: write an integer (decimal or 0x hex) with an optional "
            "K/M/G/T/P/E suffix, e.g. 256M or 0x10000000"
        )
    # The profile grammar is a subset of the kernel's, so memparse reads all of it. Not wrapped at 2**64:
    # an out-of-range size must reach its range diagnostic, not become a small number.
    value = memparse_whole(stripped, wrap=False)
    if value is None:  # pragma: no cover - the grammar above admits only what memparse reads whole
        raise UnitError(f"'{text}' is not a kernel size")
    return value


def parse_size_or_percent(text: str | int) -> int | Percent:
    """Parse a size, or a percentage (``25%``) where the kernel accepts one."""
    if isinstance(text, str):
        match = _PERCENT_RE.match(text)
        if match:
            pct = int(match.group(1))
            if pct > 100:
                raise UnitError(f"'{text}' is over 100%")
            return Percent(pct)
    return parse_size(text)


def format_size(value: int) -> str:
    """Print a byte count in the largest binary suffix that divides it exactly (``272M``, ``4G``).

    The result is memparse-compatible, so it can go straight onto a kernel cmdline.
    """
    if value == 0:
        return "0"
    for suffix, shift in sorted(_SUFFIX2SHIFT.items(), key=lambda item: -item[1]):
        if value % (1 << shift) == 0:
            return f"{value >> shift}{suffix}"
    return str(value)


def format_human(value: int) -> str:
    """Print a byte count for people (``272 MiB``, ``1.5 GiB``, ``4096 B``); not for cmdlines."""
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if magnitude >= 1 << shift:
            scaled = magnitude / (1 << shift)
            text = f"{scaled:.0f}" if magnitude % (1 << shift) == 0 else f"{scaled:.1f}"
            return f"{sign}{text} {unit}"
    return f"{sign}{magnitude} B"


def format_addr(value: int) -> str:
    """Print a physical address the canonical way: lower-case hex with ``0x`` (``0x130000000``)."""
    return f"0x{value:x}"


def align_up(value: int, alignment: int) -> int:
    """Round ``value`` up to a multiple of ``alignment`` (kernel ALIGN / round_up)."""
    return -(-value // alignment) * alignment


def align_down(value: int, alignment: int) -> int:
    """Round ``value`` down to a multiple of ``alignment`` (kernel ALIGN_DOWN / round_down)."""
    return value // alignment * alignment
