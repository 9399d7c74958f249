"""The ELF vmcore reader on good and hostile input."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
import vmcore_fixtures as fixtures

from conftest import need_module, run_dump
from layoutc.dump.errors import FormatError, SourceFault
from layoutc.dump.read import elf_input as elf
from layoutc.dump.read import physmap
from layoutc.dump.read import vmcore_source as source

PS = fixtures.PS


def parse(path: str) -> elf.Vmcore:
    reader = source.FileReader(path)
    try:
        return elf.parse(reader, path)
    finally:
        reader.close()


def patch(path: str, offset: int, fmt: str, *values: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(struct.pack(fmt, *values))


def test_notes_and_vmcoreinfo(make_vmcore: Any) -> None:
    _, path = make_vmcore()
    core = parse(path)
    assert core.nr_cpus == 2
    assert core.vmcoreinfo["OSRELEASE"] == "6.1.0-synthetic"
    assert core.vmcoreinfo["SYMBOL(swapper_pg_dir)"] == "ffffffff82a0c000"
    assert core.page_size == PS
    assert core.machine == "x86_64"
    info = core.vmcoreinfo_note
    assert info is not None
    assert core.notes_blob[info.desc_offset : info.desc_offset + 9] == b"OSRELEASE"
    assert len(core.loads) == 4


def test_kernel_text_duplicate_is_dropped_and_pages_are_exact(make_vmcore: Any) -> None:
    fx, path = make_vmcore()
    core = parse(path)
    pmap = physmap.build(core.loads, PS)
    assert pmap.present == [(0x1, 0x9F), (0x100, 0x500), (0x600, 0x800)]
    assert pmap.max_mapnr == 0x800
    assert pmap.nodata == ()  # the partial page 0x9e has file data: dumped (makedumpfile >= 1.7.7)
    # the RAM segment is one piece even though the text PT_LOAD comes first in the file
    assert [(p.pfn_start, p.pfn_end, p.kind) for p in pmap.pieces if p.pfn_start == 0x100] == [
        (0x100, 0x500, "file")
    ]
    reader = source.FileReader(path, use_mmap=True, window=1 << 16)
    try:
        for piece, pfn, n in pmap.runs(pmap.present, 7):
            data = bytes(pmap.read(reader, piece, pfn, n))
            for i in range(n):
                assert data[i * PS : (i + 1) * PS] == fixtures.expected_page(fx, pfn + i), hex(pfn + i)
    finally:
        reader.close()


def test_mapped_reads_are_views_that_outlive_their_window(make_vmcore: Any) -> None:
    """mmap reads hand out views into the mapping (no copy); a view still held when the reader moves to
    another window, or closes, keeps its bytes and raises nothing."""
    _, path = make_vmcore()
    a, b = source.FileReader(path, use_mmap=True, window=1 << 16), source.FileReader(path, use_mmap=False)
    held = []
    try:
        for off in range(0, a.size - 9000, 40000):
            got = a.read(off, 9000)
            assert isinstance(got, memoryview)
            held.append((off, got))
        a.close()  # views alive: the last mapping is released when they are
        for off, view in held:
            assert view == b.read(off, 9000)
    finally:
        a.close()
        b.close()


def test_pread_and_mmap_agree(make_vmcore: Any) -> None:
    _, path = make_vmcore()
    a, b = source.FileReader(path, use_mmap=True), source.FileReader(path, use_mmap=False)
    try:
        for off in (0, 4096, 123457, a.size - 5000):
            assert a.read(off, 5000) == b.read(off, 5000)
    finally:
        a.close()
        b.close()


def test_pread_reuses_its_window_and_reads_short_ones_fresh(make_vmcore: Any) -> None:
    """A window as large as the largest read goes into the kept buffer; a shorter one comes back as new bytes
    (no zeroed buffer made for it), and neither is changed by the reads after it."""
    _, path = make_vmcore()
    with open(path, "rb") as f:
        raw = f.read()
    r = source.FileReader(path, use_mmap=False)
    try:
        whole = r.read(0, 20000)
        assert isinstance(whole, bytearray) and whole == raw[:20000]
        short = r.read(4096, 5000)
        assert isinstance(short, bytes) and short == raw[4096:9096]
        again = r.read(8192, 20000)
        assert again is whole and again == raw[8192:28192]
        assert short == raw[4096:9096]
        with pytest.raises(SourceFault, match="beyond the end of the source"):
            r.read(r.size - 100, 200)
    finally:
        r.close()


@pytest.mark.parametrize(
    ("offset", "fmt", "value", "message"),
    [
        (0, "<4s", b"\x7fELG", "0x0: e_ident: not an ELF file"),
        (16, "<H", 2, "0x10: e_type: 2, expected ET_CORE (4)"),
        (18, "<H", 3, "0x12: e_machine: 3, expected EM_X86_64 (62) or EM_AARCH64 (183)"),
        (54, "<H", 32, "0x36: e_phentsize: 32, expected 56"),
        (56, "<H", 0, "0x38: e_phnum: 0, a vmcore needs program headers"),
    ],
)
def test_hostile_headers_name_offset_and_field(
    make_vmcore: Any, offset: int, fmt: str, value: Any, message: str
) -> None:
    _, path = make_vmcore()
    patch(path, offset, fmt, value)
    with pytest.raises(FormatError) as err:
        parse(path)
    assert message in str(err.value)
    proc = run_dump(path, path + ".out")
    assert proc.returncode == 1
    assert message in proc.stderr.decode()


def test_huge_phnum(tmp_path: Path) -> None:
    path = fixtures.Fixture(ranges=[(0x100000, 4 * PS)]).write(str(tmp_path / "vmcore"))
    patch(path, 56, "<H", 0xFFFE)
    with pytest.raises(FormatError, match="0x40: e_phnum: 65534 program headers do not fit in the file"):
        parse(path)


def test_pn_xnum_with_huge_sh_info(make_vmcore: Any) -> None:
    _, path = make_vmcore()
    size = Path(path).stat().st_size
    patch(path, 56, "<H", 0xFFFF)
    patch(path, 40, "<Q", size)  # e_shoff: section header 0 appended at the end
    with open(path, "ab") as f:
        f.write(struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, 0x7FFFFFFF, 0, 0))
    with pytest.raises(FormatError, match="e_phnum: 2147483647 program headers do not fit"):
        parse(path)


def test_note_overrunning_its_segment(make_vmcore: Any) -> None:
    _, path = make_vmcore()
    notes_off = 64 + 56 * 5
    patch(path, notes_off + 4, "<I", 0x10000)  # n_descsz of the first NT_PRSTATUS
    with pytest.raises(FormatError, match=r"0x[0-9a-f]+: n_descsz: note of \d+ bytes overruns its PT_NOTE"):
        parse(path)


def test_filesz_larger_than_memsz(make_vmcore: Any) -> None:
    _, path = make_vmcore()
    phdr2 = 64 + 56 * 2
    patch(path, phdr2 + 32, "<Q", 1 << 40)
    with pytest.raises(FormatError, match=r"0xd0: p_filesz: 1099511627776 exceeds p_memsz"):
        parse(path)


def test_offset_past_eof_is_a_truncated_source(make_vmcore: Any, tmp_path: Path) -> None:
    _, path = make_vmcore()
    phdr_last = 64 + 56 * 4
    patch(path, phdr_last + 8, "<Q", 1 << 40)  # p_offset of the last RAM segment far past the end
    core = parse(path)
    assert "0x128: p_offset: segment [0x10000000000" in core.warnings[0]
    proc = run_dump(path, str(tmp_path / "out"))
    assert proc.returncode == 4
    assert "the source is truncated: 512 pages past its end were not dumped" in proc.stderr.decode()


def test_overlapping_ram_segments_first_match_wins(tmp_path: Path) -> None:
    # Two RAM PT_LOADs overlapping by 16 pages; makedumpfile's paddr_to_offset takes the first.
    fx = fixtures.Fixture(ranges=[(0x100000, 0x100000), (0x1F0000, 0x100000)])
    path = fx.write(str(tmp_path / "vmcore"))
    core = parse(path)
    pmap = physmap.build(core.loads, PS)
    assert pmap.present == [(0x100, 0x2F0)]
    first = [p for p in pmap.pieces if p.pfn_start <= 0x1F0 < p.pfn_end]
    assert first[0].file_offset + (0x1F0 - first[0].pfn_start) * PS == core.loads[0].p_offset + 0xF0 * PS
    out = tmp_path / "out"
    assert run_dump(path, str(out)).returncode == 0
    drgn: Any = need_module("drgn")
    prog = drgn.Program()
    prog.set_core_dump(str(out))
    for pfn in range(0x100, 0x2F0):
        assert prog.read(pfn * PS, PS, True) == fixtures.expected_page(fx, pfn)


def test_many_segments_beyond_pn_xnum_round_trip(tmp_path: Path) -> None:
    # 70000 one-page RAM segments with gaps: the output ELF needs PN_XNUM and section header 0.
    n = 70000
    fx = fixtures.Fixture(ranges=[(0x100000 + 2 * i * PS, PS) for i in range(n)], zero_run=None)
    path = fx.write(str(tmp_path / "vmcore"))
    core = parse(path)
    assert len(core.loads) == n
    out = tmp_path / "out.elf"
    proc = run_dump("--format", "elf", "--dump-level", "0", path, str(out))
    assert proc.returncode == 0, proc.stderr.decode()
    again = parse(str(out))
    assert len(again.loads) == n
    drgn: Any = need_module("drgn")
    prog = drgn.Program()
    prog.set_core_dump(str(out))
    for i in (0, 1, n // 2, n - 1):
        pfn = 0x100 + 2 * i
        assert prog.read(pfn * PS, PS, True) == fixtures.expected_page(fx, pfn)
