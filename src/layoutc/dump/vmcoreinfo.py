"""Typed access to VMCOREINFO (dump-formats.md §1.5), the input of page-class filtering.

Values are parsed the way makedumpfile does: ``SYMBOL(x)`` and ``KERNELOFFSET`` are hex without
``0x``; ``SIZE``/``OFFSET``/``LENGTH``/``NUMBER`` are decimal first, hex when trailing characters
remain (``NUMBER(VMALLOC_START)=0x...``); ``NUMBER`` is signed 64-bit
(``NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-268435456``).  A missing key is ``None``, never a guess: the
classifier gates each page class on the keys it needs.
"""

from __future__ import annotations

from dataclasses import dataclass


def _hex(text: str) -> int | None:
    try:
        return int(text, 16)
    except ValueError:
        return None


def _num(text: str) -> int | None:
    text = text.strip()
    try:
        return int(text, 10)
    except ValueError:
        pass
    try:
        return int(text, 0) if text.lower().lstrip("-").startswith("0x") else int(text, 16)
    except ValueError:
        return None


def _signed64(value: int) -> int:
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >> 63 else value


@dataclass(frozen=True, slots=True)
class VmcoreInfo:
    """The ``KEY=VALUE`` lines of a VMCOREINFO note."""

    raw: dict[str, str]

    def symbol(self, name: str) -> int | None:
        """``SYMBOL(name)``: a (KASLR-relocated) kernel virtual address."""
        value = self.raw.get(f"SYMBOL({name})")
        return _hex(value) if value is not None else None

    def number(self, name: str) -> int | None:
        """``NUMBER(name)`` as a signed 64-bit value."""
        value = self.raw.get(f"NUMBER({name})")
        parsed = _num(value) if value is not None else None
        return _signed64(parsed) if parsed is not None else None

    def size(self, name: str) -> int | None:
        """``SIZE(name)``."""
        value = self.raw.get(f"SIZE({name})")
        return _num(value) if value is not None else None

    def offset(self, member: str) -> int | None:
        """``OFFSET(struct.member)``."""
        value = self.raw.get(f"OFFSET({member})")
        return _num(value) if value is not None else None

    def length(self, name: str) -> int | None:
        """``LENGTH(name)``."""
        value = self.raw.get(f"LENGTH({name})")
        return _num(value) if value is not None else None

    @property
    def osrelease(self) -> str | None:
        """``OSRELEASE``."""
        return self.raw.get("OSRELEASE")

    @property
    def page_size(self) -> int | None:
        """``PAGESIZE`` (decimal)."""
        value = self.raw.get("PAGESIZE", "")
        return int(value) if value.isdigit() else None

    @property
    def kernel_offset(self) -> int | None:
        """``KERNELOFFSET`` (hex, no 0x)."""
        value = self.raw.get("KERNELOFFSET")
        return _hex(value) if value is not None else None

    def missing(self, *keys: str) -> list[str]:
        """Which of the full keys (``"SYMBOL(mem_section)"``, ``"OFFSET(page.flags)"``...) are absent."""
        return [k for k in keys if k not in self.raw]
