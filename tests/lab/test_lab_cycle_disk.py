"""The crash cycle for disk targets without booting: the GPT crash disk, debugfs read-back, /proc/vmcore's
PT_LOAD ranges against the crash CMA ranges (``layoutc.lab.cycle_disk``)."""

from __future__ import annotations

import base64
import shutil
import struct
import subprocess
import sys
import uuid
import zlib
from pathlib import Path

import pytest

from layoutc.lab import cycle_disk
from layoutc.lab.boot.serial import parse_serial
from layoutc.lab.errors import LabError
from layoutc.lab.facts.cycle_facts import CycleResult
from layoutc.lab.guest import cycle_stages as cycle_guest

GiB = 1 << 30


def test_partlabel() -> None:
    assert cycle_disk.partlabel("/dev/disk/by-partlabel/crash") == "crash"
    assert cycle_disk.partlabel("/dev/sdb3") == "" and cycle_disk.partlabel("/dev/disk/by-partlabel/a/b") == ""


def test_gpt_headers_entries_and_crcs() -> None:
    size = 64 << 20
    parts = cycle_disk.gpt_bytes(size, "crash", disk_guid=uuid.UUID(int=1), part_guid=uuid.UUID(int=2))
    last = size // 512 - 1
    assert parts[0][446 + 4] == 0xEE and parts[0][510:] == b"\x55\xaa"
    for lba, (current, backup, entries_lba) in ((1, (1, last, 2)), (last, (last, 1, last - 32))):
        hdr = parts[lba * 512][:92]
        fields = struct.unpack("<8sIIIIQQQQ16sQIII", hdr)
        assert fields[0] == b"EFI PART" and (fields[5], fields[6], fields[10]) == (current, backup, entries_lba)
        assert zlib.crc32(hdr[:16] + b"\0\0\0\0" + hdr[20:]) == fields[3]
        entries = parts[entries_lba * 512]
        assert zlib.crc32(entries) == fields[13] and len(entries) == 128 * 128
    entry = parts[1024][:128]
    first, end = struct.unpack_from("<QQ", entry, 32)
    assert uuid.UUID(bytes_le=entry[:16]) == cycle_disk.LINUX_FS and (first, end) == (2048, last - 33)
    assert entry[56:128].decode("utf-16-le").rstrip("\0") == "crash"
    with pytest.raises(ValueError):
        cycle_disk.gpt_bytes(size, "x" * 36, disk_guid=uuid.UUID(int=1), part_guid=uuid.UUID(int=2))


def test_crash_disk_is_read_by_util_linux_and_debugfs(tmp_path: Path) -> None:
    for tool in ("mkfs.ext4", "debugfs"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} missing (e2fsprogs)")
    img = tmp_path / "crash.img"
    offset = cycle_disk.crash_disk(img, 128 << 20, "/dev/disk/by-partlabel/crash", "ext4")
    assert offset == 1 << 20 and img.stat().st_size == 128 << 20
    if shutil.which("partx"):
        out = subprocess.run(["partx", "-g", "-o", "NR,START,NAME", str(img)], capture_output=True, text=True)
        assert out.stdout.split() == ["1", "2048", "crash"], out
    assert cycle_disk.dump_dirs(cycle_disk.debugfs(img, offset, "ls -p /").stdout) == []
    subprocess.run(["debugfs", "-w", "-R", "mkdir layoutc-1234", f"{img}?offset={offset}"], capture_output=True,
                   check=True)  # fmt: skip
    assert cycle_disk.dump_dirs(cycle_disk.debugfs(img, offset, "ls -p /").stdout) == ["layoutc-1234"]
    with pytest.raises(LabError):
        cycle_disk.crash_disk(img, GiB, "/dev/sdb3", "ext4")
    with pytest.raises(LabError):
        cycle_disk.crash_disk(img, GiB, "/dev/disk/by-partlabel/crash", "xfs")


def _elf(path: Path, loads: list[tuple[int, int, int]]) -> Path:
    """An ELF64 core with a PT_NOTE and PT_LOAD (p_type, paddr, memsz) program headers."""
    phdrs = b"".join(struct.pack("<IIQQQQQQ", t, 0, 0, 0, paddr, 0, memsz, 0) for t, paddr, memsz in loads)
    eh = bytearray(64)
    eh[:4] = b"\x7fELF"
    struct.pack_into("<Q", eh, 32, 64)
    struct.pack_into("<HH", eh, 54, 56, len(loads))
    path.write_bytes(bytes(eh) + phdrs)
    return path


def test_phdrs_script_and_overlap(tmp_path: Path) -> None:
    core = _elf(tmp_path / "core", [(4, 0, 0x1000), (1, 0x1000, 0x9E000), (1, 0x100000000, 0x10000000)])
    script = tmp_path / "phdrs.py"
    script.write_text(cycle_disk.PHDRS_PY)
    out = subprocess.run([sys.executable, str(script), str(core)], capture_output=True, text=True, check=True)
    loads = cycle_disk.parse_phdrs(out.stdout + "garbage line\n")
    assert loads == ((0x1000, 0x9F000), (0x100000000, 0x110000000))
    assert cycle_disk.overlaps(loads, ((0x110000000, 0x120000000),)) == []
    assert cycle_disk.overlaps(loads, ((0x10F000000, 0x120000000),)) == [(0x10F000000, 0x110000000)]


def _frame(name: str, text: str) -> bytes:
    return f"LAYOUTC-BEGIN {name}\n{base64.b64encode(text.encode()).decode()}\nLAYOUTC-END {name}\n".encode()


def test_cma_vmcore_fact() -> None:
    cma = "110000000-11fffffff\n"
    loads = "1000 9f000\n100000000 10000000\n"
    good = parse_serial(_frame("crash_cma_ranges-armed", cma) + _frame("vmcore-phdrs", loads))
    res = CycleResult([], [], [], [])
    cycle_disk.cma_vmcore_fact(res, good)
    assert [f.status for f in res.facts] == ["pass"], res.facts
    bad = parse_serial(_frame("kexec_crash_cma_ranges", cma) + _frame("vmcore-phdrs", "100000000 20000000\n"))
    cycle_disk.cma_vmcore_fact(res, bad)
    assert res.facts[-1].status == "fail" and "0x110000000" in res.facts[-1].observed
    cycle_disk.cma_vmcore_fact(res, parse_serial(b""))
    assert res.facts[-1].status == "fail"


def test_plan_has_the_disk() -> None:
    text = cycle_guest.CyclePlan(disk_label="crash", disk_fstype="ext4").render()
    assert "DISK_LABEL='crash'" in text and "DISK_FSTYPE='ext4'" in text
