"""VMCOREINFO value parsing, as makedumpfile parses it (docs/reference/dump-formats.md §1.5)."""

from __future__ import annotations

from layoutc.dump.read.elf_input import parse_vmcoreinfo
from layoutc.dump.read.vmcoreinfo import VmcoreInfo

RAW = b"""OSRELEASE=6.12.0-1-amd64
PAGESIZE=4096
SYMBOL(init_top_pgt)=ffffffff9d20e000
SYMBOL(mem_section)=ffff9b7f7ffd2000
OFFSET(page.flags)=0
SIZE(page)=64
LENGTH(mem_section)=2048
NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-268435456
NUMBER(VMALLOC_START)=0xffffb5a040000000
NUMBER(phys_base)=1073741824
NUMBER(sme_mask)=0
KERNELOFFSET=1b000000
CRASHTIME=1700000000
"""


def test_typed_values() -> None:
    info = VmcoreInfo(parse_vmcoreinfo(RAW))
    assert info.osrelease == "6.12.0-1-amd64"
    assert info.page_size == 4096
    assert info.symbol("init_top_pgt") == 0xFFFFFFFF9D20E000
    assert info.offset("page.flags") == 0
    assert info.size("page") == 64
    assert info.length("mem_section") == 2048
    assert info.number("PAGE_BUDDY_MAPCOUNT_VALUE") == -268435456
    assert info.number("VMALLOC_START") == 0xFFFFB5A040000000 - (1 << 64)  # signed, as makedumpfile
    assert info.number("phys_base") == 1 << 30
    assert info.kernel_offset == 0x1B000000
    assert info.symbol("swapper_pg_dir") is None and info.number("PG_lru") is None
    assert info.missing("SIZE(page)", "OFFSET(page._mapcount)") == ["OFFSET(page._mapcount)"]
