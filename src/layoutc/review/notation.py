"""How review output writes numbers: addresses in canonical hex, sizes for people, signed deltas."""

from __future__ import annotations

from layoutc.model.units import format_addr, format_human, format_size

__all__ = ["addr", "human", "delta", "span", "cmdline_size"]


def addr(value: int) -> str:
    return format_addr(value)


def human(value: int) -> str:
    return format_human(value)


def delta(value: int) -> str:
    """A signed size change for people: ``+96 MiB``, ``-16 MiB``, ``0 B``."""
    if value == 0:
        return "0 B"
    return ("+" if value > 0 else "-") + format_human(abs(value))


def span(start: int, end: int) -> str:
    """A half-open physical range with its size: ``[0xaf000000, 0xbf000000) 256 MiB``."""
    return f"[{format_addr(start)}, {format_addr(end)}) {format_human(end - start)}"


def cmdline_size(value: int) -> str:
    """A size as the kernel cmdline writes it (``256M``)."""
    return format_size(value)
