"""How review output writes numbers: addresses in canonical hex, sizes for people, signed deltas.

Sizes for people round (``1.0 GiB``), so a pair of sizes is written through ``pair``: when the
rounded forms of two different sizes are equal, both are written exactly (``1 GiB -> 1040 MiB``).
"""

from __future__ import annotations

from layoutc.model.units import format_addr, format_human, format_size

__all__ = ["addr", "human", "exact", "pair", "change", "delta", "span", "cmdline_size"]

_UNITS = (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10))


def addr(value: int) -> str:
    return format_addr(value)


def human(value: int) -> str:
    return format_human(value)


def exact(value: int) -> str:
    """A size without rounding: the largest binary unit that divides it (``1040 MiB``), else bytes."""
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    for unit, shift in _UNITS:
        if magnitude and magnitude % (1 << shift) == 0:
            return f"{sign}{magnitude >> shift} {unit}"
    return f"{sign}{magnitude} B"


def shown_bytes(text: str) -> float:
    """The number of bytes a size written by ``human`` or ``exact`` reads as (``1.0 GiB`` -> 2**30)."""
    number, unit = text.split(" ")
    return float(number) * (1 << dict(_UNITS).get(unit, 0))


def pair(old: int, new: int) -> tuple[str, str]:
    """Two sizes for people; written exactly when rounding would make different sizes read the same
    (``1 GiB -> 1.0 GiB`` becomes ``1 GiB -> 1040 MiB``)."""
    a, b = format_human(old), format_human(new)
    if old != new and shown_bytes(a) == shown_bytes(b):
        return exact(old), exact(new)
    return a, b


def change(old: int, new: int) -> str:
    """``1 GiB -> 1040 MiB (+16 MiB)``."""
    a, b = pair(old, new)
    return f"{a} -> {b} ({delta(new - old)})"


def delta(value: int) -> str:
    """A signed size change for people: ``+96 MiB``, ``-16 MiB``, ``0 B`` (rounded like ``human``)."""
    if value == 0:
        return "0 B"
    return ("+" if value > 0 else "-") + format_human(abs(value))


def span(start: int, end: int) -> str:
    """A half-open physical range with its size: ``[0xaf000000, 0xbf000000) 256 MiB``."""
    return f"[{format_addr(start)}, {format_addr(end)}) {format_human(end - start)}"


def cmdline_size(value: int) -> str:
    """A size as the kernel cmdline writes it (``256M``)."""
    return format_size(value)
