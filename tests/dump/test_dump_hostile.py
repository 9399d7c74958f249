"""Hostile inputs and outputs: the source named as output, FIFOs, devices, loops, oversized side
files, VMCOREINFO values no kernel writes.  Each gives one clear line and its exit code, never a
traceback, never a blocked process, never a destroyed vmcore.
"""

from __future__ import annotations

import hashlib
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import vmcore_fixtures as fixtures

from conftest import SRC
from layoutc.dump.classify import pageclass

PS = fixtures.PS


def dump(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """``python -m layoutc.dump --quiet ARGS``; the timeout catches a dumper blocked on a FIFO."""
    env = dict(os.environ, PYTHONPATH=str(SRC))
    cmd = [sys.executable, "-m", "layoutc.dump", "--quiet", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def small(tmp_path: Path, name: str = "vmcore", info: str | None = fixtures.VMCOREINFO) -> str:
    fx = fixtures.Fixture(ranges=[(0x100000, 64 * PS)], vmcoreinfo=info)
    return fx.write(str(tmp_path / name))


# --- the output is the source -------------------------------------------------------------------


@pytest.mark.parametrize("how", ["same", "symlink", "hardlink", "dotdot"])
def test_output_that_is_the_source_is_refused_untouched(tmp_path: Path, how: str) -> None:
    src = small(tmp_path)
    before = digest(src)
    out = {"same": src, "symlink": str(tmp_path / "link"), "hardlink": str(tmp_path / "hard")}.get(
        how, str(tmp_path / "sub" / ".." / "vmcore")
    )
    if how == "symlink":
        os.symlink(src, out)
    elif how == "hardlink":
        os.link(src, out)
    elif how == "dotdot":
        (tmp_path / "sub").mkdir()
    proc = dump(src, out)
    st = os.stat(src)
    assert proc.returncode == 2
    assert one_line(proc) == (
        f"layoutc dump: error: {out}: the output is the dump source {src} itself (device {st.st_dev}, "
        f"inode {st.st_ino}); writing it would destroy the vmcore before it is read; name another output file"
    )
    assert digest(src) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_output_in_proc_and_directories_are_refused(tmp_path: Path) -> None:
    src = small(tmp_path)
    proc = dump(src, "/proc/vmcore")
    assert proc.returncode == 2
    assert one_line(proc) == (
        "layoutc dump: error: /proc/vmcore: the output resolves to /proc/vmcore, inside /proc, which holds "
        "no dump files (/proc/vmcore is the source, read only); write the dump to a file system, "
        "e.g. /var/crash/vmcore"
    )
    proc = dump(src, str(tmp_path))
    assert proc.returncode == 2
    assert one_line(proc) == (
        f"layoutc dump: error: {tmp_path}: the output is a directory; name a file in it, e.g. {tmp_path}/vmcore"
    )


def test_kdump_to_a_fifo_is_refused_flat_to_a_device_streams(tmp_path: Path) -> None:
    src = small(tmp_path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    proc = dump(src, str(fifo))
    assert proc.returncode == 2
    assert one_line(proc) == (
        f"layoutc dump: error: {fifo}: the output is a FIFO (named pipe); the kdump and ELF formats seek back "
        "to rewrite their headers: use --format flat for a stream"
    )
    assert dump("--format", "flat", src, "/dev/null").returncode == 0


def test_output_is_written_beside_and_renamed_through_a_symlink(tmp_path: Path) -> None:
    src = small(tmp_path)
    real = tmp_path / "dumps" / "vmcore.kdump"
    real.parent.mkdir()
    real.write_bytes(b"old dump")
    link = tmp_path / "latest"
    link.symlink_to(real)
    assert dump(src, str(link)).returncode == 0
    assert link.is_symlink() and real.read_bytes()[:8] == b"KDUMP   "
    assert sorted(p.name for p in real.parent.iterdir()) == ["vmcore.kdump"]  # no temporary left


# --- inputs that are not regular files ----------------------------------------------------------


def test_fifo_directory_and_loop_as_source(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    out = str(tmp_path / "out")
    proc = dump(str(fifo), out)
    assert proc.returncode == 1
    assert one_line(proc) == (
        f"layoutc dump: error: {fifo}: the dump source is a FIFO (named pipe), not a regular file; "
        "give an ELF vmcore file, such as /proc/vmcore"
    )
    proc = dump(str(tmp_path), out)
    assert proc.returncode == 1
    assert "the dump source is a directory, not a regular file" in one_line(proc)
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    proc = dump(str(loop), out)
    assert proc.returncode == 1
    assert one_line(proc) == (
        f"layoutc dump: error: {loop}: cannot open the dump source: Too many levels of symbolic links "
        "(a symbolic link loop); point it at a real file"
    )
    assert not os.path.exists(out)


def test_fifo_spec_and_iomem_do_not_block(tmp_path: Path) -> None:
    src = small(tmp_path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    out = str(tmp_path / "out")
    proc = dump("--spec", str(fifo), src, out)
    assert proc.returncode == 1
    assert proc.stderr == (
        f"layoutc dump: error: {fifo}: invalid filter spec:\n  the filter spec is a FIFO (named pipe), not a "
        "regular file; give the filter.json that layoutc generated\n"
    )
    proc = dump("--iomem", str(fifo), src, out)
    assert proc.returncode == 1
    assert one_line(proc) == (
        f"layoutc dump: error: {fifo}: the iomem file is a FIFO (named pipe), not a regular file; "
        "give a copy of /proc/iomem"
    )


def test_iomem_from_dev_zero_oversized_or_not_hex(tmp_path: Path) -> None:
    src = small(tmp_path)
    out = str(tmp_path / "out")
    proc = dump("--iomem", "/dev/zero", src, out)
    assert proc.returncode == 1
    assert "/dev/zero: the iomem file is a character device, not a regular file" in one_line(proc)
    big = tmp_path / "iomem.big"
    big.write_bytes(b"00000000-0009ffff : System RAM\n" * (1 + (4 << 20) // 31))
    proc = dump("--iomem", str(big), src, out)
    assert proc.returncode == 1
    assert one_line(proc) == (
        f"layoutc dump: error: {big}: the iomem file is larger than 4194304 bytes, the most it can sensibly be; "
        "give a copy of /proc/iomem"
    )
    bad = tmp_path / "iomem.bad"
    bad.write_text("00000000-00000fff : Reserved\n0x1000-zz : System RAM\n")
    proc = dump("--iomem", str(bad), src, out)
    assert proc.returncode == 1
    assert one_line(proc) == (
        f"layoutc dump: error: {bad}:2: '0x1000-zz' is not an address range: an iomem line reads "
        "'START-END : NAME' with START and END hexadecimal, at most 16 digits; give a copy of /proc/iomem"
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (
            '{"schema_version": 1}'.encode("utf-16"),
            "byte 0: the file is UTF-16; save it as UTF-8 without a byte order mark",
        ),
        (
            '{"schema_version": 1}'.encode("utf-16-le"),
            "byte 1: 0x00 cannot appear in JSON text (the file looks UTF-16); "
            "save it as UTF-8 without a byte order mark",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper than the JSON parser allows; a filter spec nests 3 levels"),
        (b"[" * 20 + b"]" * 20, "nested more than 8 levels deep; a filter spec nests 3 levels"),
        (
            b'{"schema_version": 1, "x": "\xff"}',
            "byte 28: 0xff is not UTF-8; save it as UTF-8 without a byte order mark",
        ),
        (
            b" " * ((1 << 20) + 1),
            "the filter spec is larger than 1048576 bytes, the most it can sensibly be; "
            "give the filter.json that layoutc generated",
        ),
    ],
    ids=["utf16-bom", "utf16-le", "deep", "nested", "latin1", "huge"],
)
def test_hostile_spec_files(tmp_path: Path, content: bytes, problem: str) -> None:
    src = small(tmp_path)
    spec = tmp_path / "spec.json"
    spec.write_bytes(content)
    proc = dump("--spec", str(spec), src, str(tmp_path / "out"))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr == f"layoutc dump: error: {spec}: invalid filter spec:\n  {problem}\n"


# --- VMCOREINFO no kernel writes ----------------------------------------------------------------

FIX = "the VMCOREINFO note is damaged: dump an undamaged copy of the vmcore"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("PAGESIZE=0", "'0' is not a power of two from 4096 to 65536 (PAGE_SHIFT 12..16)"),
        ("PAGESIZE=3000", "'3000' is not a power of two from 4096 to 65536 (PAGE_SHIFT 12..16)"),
        ("PAGESIZE=" + "9" * 40, f"'{'9' * 40}' is not a power of two from 4096 to 65536 (PAGE_SHIFT 12..16)"),
        ("PAGESIZE=4k", "'4k' is not a power of two from 4096 to 65536 (PAGE_SHIFT 12..16)"),
        ("NUMBER(SECTION_SIZE_BITS)=0", "0 is outside 20..34; the architectures use 24..30 (x86_64: 27)"),
        ("NUMBER(SECTION_SIZE_BITS)=4000", "4000 is outside 20..34; the architectures use 24..30 (x86_64: 27)"),
        ("NUMBER(MAX_PHYSMEM_BITS)=9999", "9999 is outside 32..64; x86_64 has 46 or 52, at least SECTION_SIZE_BITS"),
        ("SIZE(mem_section)=0", "0 is outside 8..4096; struct mem_section is 16 bytes, at most a page"),
        ("SIZE(page)=1000000", "1000000 is outside 32..256; struct page is 64 bytes on x86_64"),
        ("LENGTH(zone.free_area)=100000", "100000 is outside 1..64; NR_PAGE_ORDERS is 11 on x86_64"),
        ("CRASHTIME=" + "9" * 30, f"'{'9' * 24}' seconds overflow a time_t"),
    ],
)
def test_vmcoreinfo_values_no_kernel_has(tmp_path: Path, line: str, problem: str) -> None:
    src = small(tmp_path, info=fixtures.VMCOREINFO + line + "\n")
    at = Path(src).read_bytes().index(line.encode())
    key = line.split("=")[0]
    out = tmp_path / "out"
    proc = dump(src, str(out))
    assert proc.returncode == 1
    assert one_line(proc) == f"layoutc dump: error: {src}:0x{at:x}: VMCOREINFO {key}: {problem}; {FIX}"
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["vmcore"]


def test_page_offsets_must_lie_inside_struct_page(tmp_path: Path) -> None:
    lines = "SIZE(page)=64\nOFFSET(page.flags)=4096\n"
    src = small(tmp_path, info=fixtures.VMCOREINFO + lines)
    at = Path(src).read_bytes().index(b"OFFSET(page.flags)")
    proc = dump(src, str(tmp_path / "out"))
    assert proc.returncode == 1
    assert one_line(proc) == (
        f"layoutc dump: error: {src}:0x{at:x}: VMCOREINFO OFFSET(page.flags): 4096 is outside 0..56; "
        f"a 8-byte field inside SIZE(page) 64; {FIX}"
    )


def _elf(phdrs: list[tuple[int, int, int, int]], blob: bytes) -> bytes:
    """An ELF core with the given (type, offset, paddr, size) program headers, then ``blob``."""
    head = fixtures.EHDR.size + fixtures.PHDR.size * len(phdrs)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    out = fixtures.EHDR.pack(ident, 4, 62, 1, 0, 64, 0, 0, 64, 56, len(phdrs), 0, 0, 0)
    for p_type, off, paddr, size in phdrs:
        out += fixtures.PHDR.pack(p_type, 0, head + off, 0, paddr, size, size, 0)
    return out + blob


def test_many_pt_notes_over_one_region_are_bounded(tmp_path: Path) -> None:
    desc = bytes((1 << 20) - 20)
    blob = fixtures.note(b"CORE", 1, desc)
    src = tmp_path / "vmcore"
    phdrs = [(4, 0, 0, len(blob))] * 20 + [(1, 0, 0x100000, PS)]
    src.write_bytes(_elf(phdrs, blob))
    proc = dump(str(src), str(tmp_path / "out"))
    assert proc.returncode == 1
    where = 64 + 16 * 56 + 32
    assert one_line(proc) == (
        f"layoutc dump: error: {src}:0x{where:x}: p_filesz: the PT_NOTEs up to phdr[16] hold "
        f"{17 * len(blob)} bytes, more than the 16777216 any kernel writes"
    )


def test_note_count_is_bounded(tmp_path: Path) -> None:
    blob = fixtures.note(b"X", 7, b"") * 70_000
    src = tmp_path / "vmcore"
    src.write_bytes(_elf([(4, 0, 0, len(blob)), (1, 0, 0x100000, PS)], blob))
    proc = dump(str(src), str(tmp_path / "out"))
    assert proc.returncode == 1
    at = 64 + 2 * 56 + 65536 * 16  # each note: 12-byte header, name padded to 4
    assert (
        one_line(proc)
        == f"layoutc dump: error: {src}:0x{at:x}: n_namesz: more than 65536 notes; a kernel writes one per CPU"
    )


def test_free_block_order_from_memory_is_bounded() -> None:
    """A buddy page whose ``private`` (its order) is garbage, without LENGTH(zone.free_area)."""
    buddy = -128
    pg: dict[str, int | None] = dict.fromkeys(
        ("lru", "private", "swapcache", "swapbacked", "slab", "hwpoison", "hugetlb", "head_mask")
    )
    values: dict[str, int | None] = {"BUDDY": buddy, "OFFLINE": None, "SLAB": None, "HUGETLB": None}
    values.update(UNACCEPTED=None, HUGETLB_PAGE_DTOR=None)
    lay = pageclass.StructPageLayout(64, 0, 24, 48, 40, 8, None, None, pg, values, None)
    raw = bytearray(64)
    struct.pack_into("<i", raw, 48, buddy)
    struct.pack_into("<Q", raw, 40, 1 << 40)
    assert pageclass.Chain(lay, pageclass.DL_EXCLUDE_FREE).decide(0, 1, bytes(raw), 0) is None
    struct.pack_into("<Q", raw, 40, 3)
    assert pageclass.Chain(lay, pageclass.DL_EXCLUDE_FREE).decide(0, 1, bytes(raw), 0) == ("free", 8)


def test_run_refuses_before_reading(tmp_path: Path, make_vmcore: Any) -> None:
    """The library entry point checks the output too (no subprocess)."""
    from layoutc.dump import dumper
    from layoutc.dump.errors import OutputRefused

    _, src = make_vmcore()
    with pytest.raises(OutputRefused, match="writing it would destroy the vmcore"):
        dumper.run(dumper.Options(src, src))
