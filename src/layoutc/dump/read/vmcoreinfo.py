"""Typed access to VMCOREINFO (docs/reference/dump-formats.md §1.5), the input of page-class filtering.

Values are parsed the way makedumpfile does: ``SYMBOL(x)`` and ``KERNELOFFSET`` are hex without
``0x``; ``SIZE``/``OFFSET``/``LENGTH``/``NUMBER`` are decimal first, hex when trailing characters
remain (``NUMBER(VMALLOC_START)=0x...``); ``NUMBER`` is signed 64-bit
(``NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-268435456``).  A missing key is ``None``, never a guess: the
classifier gates each page class on the keys it needs.
"""

from __future__ import annotations

from layoutc.dump.record import Frozen, init


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


class VmcoreInfo(Frozen):
    """The ``KEY=VALUE`` lines of a VMCOREINFO note."""

    __slots__ = ("raw",)
    raw: dict[str, str]

    def __init__(self, raw: dict[str, str]) -> None:
        init(self, raw=raw)

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


MAX_BYTES = 1 << 16
"""The kernel's VMCOREINFO buffer is one page (VMCOREINFO_BYTES = PAGE_SIZE in
include/linux/vmcore_info.h, before 6.9 include/linux/crash_core.h); 64 KiB pages are the largest."""

# Width of each struct page field the dumper reads; any other OFFSET(page.*) must lie inside the page.
PAGE_FIELDS = {
    "flags": 8,
    "mapping": 8,
    "private": 8,
    "compound_head": 8,
    "compound_info": 8,
    "_mapcount": 4,
    "_refcount": 4,
    "compound_order": 1,
    "compound_dtor": 1,
}


def _range_rule(value: int | None, lo: int, hi: int, why: str) -> str | None:
    if value is None:
        return f"not a number; {why}"
    if not lo <= value <= hi:
        return f"{value} is outside {lo}..{hi}; {why}"
    return None


def problems(raw: dict[str, str]) -> list[tuple[str, str]]:
    """``(key, problem)`` for each value no kernel can have; these would break the page arithmetic.

    The ranges cover every architecture's constants, so a real vmcore never trips them:
    PAGE_SHIFT 12..16 (arch/*/include/asm/page*.h: 4 KiB on x86, 64 KiB on arm64 and powerpc);
    SECTION_SIZE_BITS 24 (powerpc) to 30 (arm64 before 5.12), x86_64 27, and MAX_PHYSMEM_BITS 32
    (sh) to 56 (riscv64), x86_64 46 or 52 (arch/*/include/asm/sparsemem.h); struct page 64 bytes on
    x86_64 (include/linux/mm_types.h); NR_PAGE_ORDERS at most 64 (include/linux/mmzone.h).
    """
    info = VmcoreInfo(raw)
    out: list[tuple[str, str]] = []

    def rule(key: str, problem: str | None) -> None:
        if key in raw and problem is not None:
            out.append((key, problem))

    text = raw.get("PAGESIZE", "4096")
    ps = int(text) if text.isdigit() and len(text) < 20 else 0
    ok_ps = 4096 <= ps <= 65536 and ps & (ps - 1) == 0
    rule("PAGESIZE", None if ok_ps else f"{text!r} is not a power of two from 4096 to 65536 (PAGE_SHIFT 12..16)")
    ps = ps if ok_ps else 4096
    bits = info.number("SECTION_SIZE_BITS")
    rule("NUMBER(SECTION_SIZE_BITS)", _range_rule(bits, 20, 34, "the architectures use 24..30 (x86_64: 27)"))
    phys = info.number("MAX_PHYSMEM_BITS")
    low = bits if bits is not None and 20 <= bits <= 34 else 32
    rule(
        "NUMBER(MAX_PHYSMEM_BITS)",
        _range_rule(phys, max(32, low), 64, "x86_64 has 46 or 52, at least SECTION_SIZE_BITS"),
    )
    ms = info.size("mem_section")
    rule("SIZE(mem_section)", _range_rule(ms, 8, ps, "struct mem_section is 16 bytes, at most a page"))
    if ms is not None and 8 <= ms <= ps:
        width = ms - 8
        rule(
            "OFFSET(mem_section.section_mem_map)",
            _range_rule(
                info.offset("mem_section.section_mem_map"), 0, width, "the field lies inside SIZE(mem_section)"
            ),
        )
    size = info.size("page")
    rule("SIZE(page)", _range_rule(size, 32, 256, "struct page is 64 bytes on x86_64"))
    if size is not None and 32 <= size <= 256:
        for key in [k for k in raw if k.startswith("OFFSET(page.") and k.endswith(")")]:
            width = PAGE_FIELDS.get(key[len("OFFSET(page.") : -1], 1)
            rule(
                key,
                _range_rule(
                    info.offset(key[len("OFFSET(") : -1]),
                    0,
                    size - width,
                    f"a {width}-byte field inside SIZE(page) {size}",
                ),
            )
    rule("LENGTH(zone.free_area)", _range_rule(info.length("zone.free_area"), 1, 64, "NR_PAGE_ORDERS is 11 on x86_64"))
    crash = raw.get("CRASHTIME", "")
    huge = crash.isdigit() and (len(crash) > 19 or int(crash) >= 1 << 63)
    rule("CRASHTIME", f"{crash[:24]!r} seconds overflow a time_t" if huge else None)
    return out
