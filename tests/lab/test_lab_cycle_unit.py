"""The crash cycle without booting: grubenv, kdump reading and comparison, plans, initramfs ordering, QEMU argv."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from layoutc.lab import cycle_images
from layoutc.lab.boot import machine as board
from layoutc.lab.boot import qemu
from layoutc.lab.facts import dumpcheck
from layoutc.lab.guest import cycle_stages as cycle_guest
from layoutc.lab.image import initramfs


def test_grubenv_block_round_trip() -> None:
    block = cycle_images.grubenv_block({"next_entry": "layoutc-recovery-qemu-4g"})
    assert len(block) == 1024 and block.startswith(b"# GRUB Environment Block\n")
    assert cycle_images.parse_grubenv(block) == {"next_entry": "layoutc-recovery-qemu-4g"}
    assert cycle_images.parse_grubenv(cycle_images.grubenv_block()) == {}


def test_base_member_lists_parents_before_children() -> None:
    # the kernel unpacker does not create parents: "usr/bin" before "usr" dropped every link under /usr/bin
    seen: set[str] = set()
    for entry in initramfs.base_entries("#!/bin/sh\n"):
        parent = str(Path(entry.path).parent)
        assert parent in (".", "") or parent in seen, f"{entry.path} comes before its directory"
        if entry.data is None and entry.link is None:
            seen.add(entry.path)


def test_overrides_replace_busybox_links() -> None:
    entries = {e.path: e for e in initramfs.base_entries("#!/bin/sh\n", overrides={"usr/bin/sha256sum": b"x"})}
    assert entries["usr/bin/sha256sum"].data == b"x" and entries["usr/bin/sha256sum"].link is None


def test_plan_renders_shell_assignments() -> None:
    text = cycle_guest.CyclePlan(
        crash_append="console=ttyS0 memmap=272M!0x127000000", keep_vmcore=True, window_start=0x127000000
    ).render()
    assert "CRASH_APPEND='console=ttyS0 memmap=272M!0x127000000'" in text
    assert "KEEP_VMCORE='1'" in text and "WINDOW_START='0x127000000'" in text and "FORCE_ARM=''" in text
    assert "PANIC_CPU='0'" in text and "PANIC_CPU='1'" in cycle_guest.CyclePlan(panic_cpu=1).render()


def test_qemu_argv_shared_ram_and_disks(tmp_path: Path) -> None:
    machine = board.Machine(4 << 30, (4 << 30,), (), (), ())
    boot = qemu.QemuBoot(
        Path("k"),
        Path("i"),
        "console=ttyS0",
        machine,
        tmp_path / "s.log",
        ram_path=tmp_path / "ram",
        drives=(("boot", tmp_path / "boot.img"), ("data", tmp_path / "data.img")),
        read_only=("data",),
    )
    argv = qemu.qemu_argv(boot)
    joined = " ".join(argv)
    assert f"memory-backend-file,id=ram0,size={4 << 30},mem-path={tmp_path}/ram.0,share=on" in joined
    assert "virtio-blk-pci,drive=disk0,serial=boot" in joined
    drives = [a for a in argv if a.startswith("file=")]
    assert drives[0].endswith("detect-zeroes=unmap") and drives[1].endswith("detect-zeroes=unmap,readonly=on")
    no_numa = qemu.qemu_argv(
        qemu.QemuBoot(
            Path("k"),
            Path("i"),
            "",
            board.Machine(1 << 30, (), (), (), ()),
            tmp_path / "s.log",
            ram_path=tmp_path / "ram",
        )
    )
    assert "pc,memory-backend=ram0" in no_numa and "-numa" not in no_numa


def _kdump(path: Path, pages: dict[int, bytes], level: int = 31, mapnr: int = 64) -> Path:
    bs = 4096
    header = dumpcheck.HEADER.pack(
        b"KDUMP   ", 6, b"Linux", b"", b"7.2.0", b"", b"x86_64", b"", 0, 0, 0, bs, 1, 2, mapnr, 0, 0, 0, 0, 1
    )
    bm1 = bytearray(bs)
    bm2 = bytearray(bs)
    for pfn in range(mapnr):
        bm1[pfn >> 3] |= 1 << (pfn & 7)
    for pfn in pages:
        bm2[pfn >> 3] |= 1 << (pfn & 7)
    desc_off = 4 * bs
    data_off = desc_off + bs
    descs, blobs = b"", b""
    for pfn in sorted(pages):
        blob = zlib.compress(pages[pfn])
        descs += dumpcheck.DESC.pack(data_off + len(blobs), len(blob), 1, 0)
        blobs += blob
    raw = header.ljust(bs, b"\0") + struct.pack("<Qi", 0, level).ljust(bs, b"\0") + bytes(bm1) + bytes(bm2)
    raw += descs.ljust(bs, b"\0") + blobs
    path.write_bytes(raw)
    return path


def test_kdump_reader_and_comparison(tmp_path: Path) -> None:
    a = _kdump(tmp_path / "a", {1: b"a" * 4096, 5: b"b" * 4096})
    info, *_ = dumpcheck.read_kdump(a)
    assert (info.dump_level, info.dumped, info.present, info.release) == (31, 2, 64, "7.2.0")
    same = dumpcheck.compare_dumps(a, _kdump(tmp_path / "b", {1: b"a" * 4096, 5: b"b" * 4096}))
    assert same.same
    other_page = dumpcheck.compare_dumps(a, _kdump(tmp_path / "c", {1: b"a" * 4096, 5: b"c" * 4096}))
    assert not other_page.same and other_page.pages_differing == 1
    other_set = dumpcheck.compare_dumps(a, _kdump(tmp_path / "d", {1: b"a" * 4096, 6: b"b" * 4096}))
    assert (other_set.pfns_only_in_a, other_set.pfns_only_in_b) == (1, 1)


def test_vmcoreinfo_symbol() -> None:
    raw = b"....OSRELEASE=7.2\nSYMBOL(init_uts_ns)=ffffffff83503f80\nSYMBOL(x)=zz\n"
    assert dumpcheck.vmcoreinfo_symbol(raw, "init_uts_ns") == 0xFFFFFFFF83503F80
    assert dumpcheck.vmcoreinfo_symbol(raw, "x") is None and dumpcheck.vmcoreinfo_symbol(raw, "y") is None


def _context(tmp_path: Path) -> Any:
    """What :func:`layoutc.lab.cycle._boot` reads of a cycle's context."""
    from layoutc.lab.facts.cycle_facts import CycleOptions

    machine = board.Machine(4 << 30, (), (), (), ())
    kernel = SimpleNamespace(vmlinuz=tmp_path / "vmlinuz")
    return SimpleNamespace(kernel=kernel, out_dir=tmp_path, rendered=SimpleNamespace(profile=None),
                           machine=machine, opts=CycleOptions())  # fmt: skip


def _scripted_boots(monkeypatch: pytest.MonkeyPatch, logs: list[tuple[int | None, bytes]]) -> list[qemu.QemuBoot]:
    """``qemu.run_boot`` replaced: each call writes the next serial log and returns its exit code."""
    seen: list[qemu.QemuBoot] = []

    def run_boot(boot: qemu.QemuBoot) -> qemu.BootResult:
        code, serial = logs[len(seen)]
        seen.append(boot)
        boot.serial_log.write_bytes(serial)
        return qemu.BootResult(("qemu",), code, 4.5, boot.serial_log, "")

    monkeypatch.setattr(qemu, "run_boot", run_boot)
    return seen


PANIC = b"[ 2.0] smp: Brought up 1 node, 2 CPUs\n[ 3.9] Kernel panic - not syncing: Fatal exception\n"
REACHED = b"LAYOUTC-START 7.2.13\n[ 9.0] x\nLAYOUTC-DONE\n"


def test_a_kernel_that_died_before_init_is_booted_once_more(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from layoutc.lab.cycle import _boot

    seen = _scripted_boots(monkeypatch, [(0, PANIC), (0, REACHED)])
    notes: list[str] = []
    record, out = _boot("production", _context(tmp_path), tmp_path / "i.img", "console=ttyS0", tmp_path / "ram", (),
                        notes=notes)  # fmt: skip
    assert len(seen) == 2 and out.release == "7.2.13" and out.done and record.returncode == 0
    assert (tmp_path / "serial-production-first.log").read_bytes() == PANIC
    assert (tmp_path / "serial-production.log").read_bytes() == REACHED
    assert notes == [
        "production boot: the kernel stopped 4.5 s in, before its /init (rc 0; see serial-production-first.log; its "
        "console ended: [ 3.9] Kernel panic - not syncing: Fatal exception); booted once more"
    ]


def test_no_second_boot_once_init_ran_or_the_boot_timed_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once /init ran, our files have acted: what the guest did then is the cycle's to judge, never retried;
    a boot that hung until the timeout is the report's (its serial tail), not booted again either."""
    from layoutc.lab.cycle import _boot

    for code, serial in ((0, REACHED + PANIC), (None, PANIC)):
        seen = _scripted_boots(monkeypatch, [(code, serial)])
        notes: list[str] = []
        record, _ = _boot("recovery", _context(tmp_path), tmp_path / "i.img", "", tmp_path / "ram", (), notes=notes)
        assert (len(seen), notes, record.returncode) == (1, [], code)
    assert not (tmp_path / "serial-recovery-first.log").exists()
