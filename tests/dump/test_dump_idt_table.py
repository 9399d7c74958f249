"""The page holding ``idt_table`` stays in a ``-d 31`` dump (docs/dumper.md, "The idt_table page").

makedumpfile has an open report that ``-d 31`` on 6.6+ kernels leaves out the page of ``idt_table``,
after which crash(8) refuses the dump (https://github.com/makedumpfile/makedumpfile/issues/21).
``idt_table`` is page-aligned kernel-image bss (LNX:arch/x86/kernel/idt.c idt_table, v6.1/v7.2): its
struct page is PG_reserved, never on an LRU list, its lru list head pointing at itself and its mapping
NULL. That is what the lab's Debian 6.1 and 7.2 vmcores show, and such a page is in no page class:
it is kept at every dump level. The report's page had PG_lru set and a mapping; the page-class chain
(makedumpfile's, which ours reproduces) calls any such page cache, and makedumpfile drops it. Ours
holds back the kernel-image sections that are never freed (text, rodata, data, bss, found through
the vmcore's own kallsyms): there layoutc deliberately differs from makedumpfile, while a freed
page of the image (a gap between sections, the unused decrypted bss) is still excluded as
makedumpfile excludes it.
"""

from __future__ import annotations

import importlib
import struct
from pathlib import Path
from typing import Any

import kallsyms_fixture
import kdump_layout
import kernel_fixture
import pytest
from test_dump_realcore import kept_vmcore

from conftest import need_module, run_dump
from layoutc.dump.read import elf_input as elf
from layoutc.dump.read import physmap
from layoutc.dump.read import vmcore_source as source
from layoutc.dump.read.pagetable import PageTable
from layoutc.dump.read.vmcoreinfo import VmcoreInfo

PS = 4096
IDT_PA = 0x1012000  # inside the synthetic kernel image, between its nodemask and its mem_section roots
IDT_PFN = IDT_PA // PS
PG_RESERVED = 12  # 6.1's bit; the page-class chain never reads it (VMCOREINFO does not export it)
GENERATIONS = ["6.1", "6.12", "7.1"]
ROOT = Path(__file__).resolve().parents[2]


def gate_table() -> bytes:
    """256 interrupt gates of 16 bytes, as idt_setup_from_table writes them (non-zero, never a zero page)."""
    gates = (struct.pack("<HHBBHII", 0x1000 + 16 * v, 0x10, 0, 0x8E, 0x8100, 0xFFFFFFFF, 0) for v in range(256))
    return b"".join(gates)


def idt_kernel(generation: str, page: kernel_fixture.PageSpec) -> Any:
    """The synthetic kernel with ``page`` as the struct page of the idt_table page, which holds gates."""
    kern = kernel_fixture.Kernel(generation)
    kern.pages[IDT_PFN] = page
    fx = kern.fixture()
    fx.overrides[IDT_PFN] = gate_table()
    return fx


def dumped_pfns(tmp_path: Path, generation: str, page: kernel_fixture.PageSpec, level: int) -> set[int]:
    fx = idt_kernel(generation, page)
    path = fx.write(str(tmp_path / "vmcore"))
    out = tmp_path / "out"
    proc = run_dump("--dump-level", str(level), path, str(out))
    assert proc.returncode == 0, proc.stderr.decode()
    return set(kdump_layout.read(str(out)).dumped)


def observed_struct_page() -> kernel_fixture.PageSpec:
    """What the lab's vmcores show for idt_table's page: PG_reserved alone, lru.next = &page->lru, no mapping."""
    self_lru = kernel_fixture.VMEMMAP + IDT_PFN * 64 + 8
    return kernel_fixture.PageSpec(flags=1 << PG_RESERVED, head=self_lru, mapping=0, mapcount=-1, refcount=1)


@pytest.mark.parametrize("generation", GENERATIONS)
@pytest.mark.parametrize("level", [1, 17, 31])
def test_idt_table_page_is_kept(tmp_path: Path, generation: str, level: int) -> None:
    assert IDT_PFN in dumped_pfns(tmp_path, generation, observed_struct_page(), level)


KALLSYMS_PA = 0x1018000  # free pages of the synthetic image, after its bss
GAP_PFN = 0x100C  # between _etext and __start_rodata: freed by the kernel after boot
DECRYPTED_PFN = 0x1013  # the unused decrypted bss: freed by the kernel after boot
SECTION_PAS = [
    ("_stext", "T", 0x1000000),
    ("_etext", "T", 0x100A800),
    ("__start_rodata", "D", 0x1010000),
    ("__end_rodata", "D", 0x1010800),
    ("_sdata", "D", 0x1011000),
    ("_edata", "D", 0x1011800),
    ("__bss_start", "B", 0x1012000),
    ("idt_table", "B", IDT_PA),
    ("__start_bss_decrypted_unused", "B", 0x1013000),
    ("__end_bss_decrypted", "B", 0x1014000),
    ("__bss_stop", "B", 0x1014000),
]


def with_kallsyms(fx: Any, kern: kernel_fixture.Kernel, fmt: str, corrupt: bool = False) -> Any:
    """``fx`` with the kernel's kallsyms table (the image sections, a per-CPU and a text symbol)."""
    syms = [(n, t, kern.kva(pa)) for n, t, pa in SECTION_PAS] + [("startup_64", "T", kern.kva(0x1000000))]
    if fmt == "6.1":
        syms.append(("__per_cpu_start", "A", 0))
    info, blob = kallsyms_fixture.build(syms, kern.kva(KALLSYMS_PA), fmt)
    if corrupt:  # every name claims 32767 tokens
        blob = blob[: kallsyms_fixture.NAMES] + b"\xff\xff" * 64 + blob[kallsyms_fixture.NAMES + 128 :]
    for i in range(0, len(blob), PS):
        fx.overrides[KALLSYMS_PA // PS + i // PS] = blob[i : i + PS].ljust(PS, b"\0")
    fx.vmcoreinfo += kallsyms_fixture.vmcoreinfo_lines(info)
    return fx


def reported_dump(tmp_path: Path, fmt: str, corrupt: bool = False) -> tuple[set[int], str]:
    """A -d 31 dump of the 6.12 kernel whose idt_table page (and two freed image pages) read as page cache."""
    reported = kernel_fixture.PageSpec(
        flags=1 << PG_RESERVED | 1 << kernel_fixture.PG_LRU, mapping=kernel_fixture.FILE_MAPPING
    )
    kern = kernel_fixture.Kernel("6.12")
    kern.pages[IDT_PFN] = reported
    kern.pages[GAP_PFN] = reported
    kern.pages[DECRYPTED_PFN] = reported
    fx = with_kallsyms(kern.fixture(), kern, fmt, corrupt)
    fx.kernel_text = (0x1000000, 0x20000)  # the image PT_LOAD, [_text, _end)
    fx.overrides[IDT_PFN] = gate_table()
    path = fx.write(str(tmp_path / "vmcore"))
    out = tmp_path / "out"
    proc = run_dump("--dump-level", "31", path, str(out))
    assert proc.returncode == 0, proc.stderr.decode()
    return set(kdump_layout.read(str(out)).dumped), proc.stderr.decode()


@pytest.mark.parametrize("fmt", ["6.1", "7.2"])
def test_idt_table_page_is_kept_even_if_its_struct_page_reads_as_cache(tmp_path: Path, fmt: str) -> None:
    """The reporter's struct page (PG_lru and a file mapping): makedumpfile drops the page, layoutc
    keeps it because it lies in bss; freed pages of the image (the text/rodata gap, the unused
    decrypted bss) with the same struct page are still dropped."""
    dumped, err = reported_dump(tmp_path, fmt)
    assert IDT_PFN in dumped
    assert GAP_PFN not in dumped and DECRYPTED_PFN not in dumped
    note = (
        "layoutc dump: note: 1 pages of the kernel image's text, rodata, data or bss read as cache; "
        "kept (makedumpfile excludes them)"
    )
    assert note in err.splitlines()
    assert "not held back" not in err


def test_corrupt_kallsyms_falls_back_to_makedumpfile_with_a_note(tmp_path: Path) -> None:
    dumped, err = reported_dump(tmp_path, "7.2", corrupt=True)
    assert IDT_PFN not in dumped and GAP_PFN not in dumped
    note = (
        "layoutc dump: note: kernel image sections not held back from the page classes: symbol 0 is 32767 tokens long"
    )
    assert note in err.splitlines()
    assert "Traceback" not in err


@pytest.mark.lab
@pytest.mark.parametrize("series", ["6.1", "7"])
def test_real_vmcore_keeps_idt_table_at_level_31(tmp_path: Path, series: str) -> None:
    """On the lab's kept vmcores: idt_table found through the vmcore's own kallsyms, its page kept."""
    drgn: Any = need_module("drgn")
    kallsyms: Any = importlib.import_module("drgn.helpers.linux.kallsyms")
    # the same kept vmcore the real-core tests use, built through the lab when the cache lacks it
    path = str(kept_vmcore(series, tmp_path))
    prog = drgn.Program()
    prog.set_core_dump(path)
    prog.register_symbol_finder("kallsyms", kallsyms.load_vmlinux_kallsyms(prog), enable_index=0)
    idt = prog.symbol("idt_table").address
    reader = source.FileReader(path)
    try:
        core = elf.parse(reader, path)
        pmap = physmap.build(core.loads, PS)
        table = PageTable.from_vmcoreinfo(VmcoreInfo(core.vmcoreinfo), physmap.PhysReader(pmap, reader).read)
        assert table is not None
        pa = table.translate(idt)
    finally:
        reader.close()
    assert pa is not None and pa % PS == 0
    out = tmp_path / "out"
    assert run_dump("--dump-level", "31", path, str(out)).returncode == 0
    assert pa // PS in kdump_layout.read(str(out)).dumped
    ours = drgn.Program()
    ours.set_core_dump(str(out))
    assert bytes(ours.read(pa, PS, True)) == bytes(prog.read(pa, PS, True))
