"""Board emulation, QEMU argv, command lines, layout.json view, kernel choice (fast; no QEMU)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from layoutc.kernel.params import memparse_whole
from layoutc.lab.boot import machine as board
from layoutc.lab.boot import qemu
from layoutc.lab.errors import LabError
from layoutc.lab.facts.boot_facts import pmem_words
from layoutc.lab.image.kernels import SERIES, bzimage_release, choose_release
from layoutc.lab.layout_dir import load_layout, parse_layout
from layoutc.lab.run import LabOptions, plan_for, run_lab

FIXTURES = Path(__file__).resolve().parent / "fixtures"
GiB = 1 << 30
MiB = 1 << 20


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name / "layout.json").read_text())
    return data


def test_qemu_pc_map_matches_the_captures() -> None:
    # tests/captures/qemu-k7-pc-4G: 0x100000-0xbffdffff and 0x100000000-0x13fffffff
    assert board.qemu_ram_ranges(4 * GiB) == [(0, 0x9FC00), (MiB, 0xBFFE0000), (4 * GiB, 0x140000000)]
    assert board.qemu_ram_ranges(2 * GiB) == [(0, 0x9FC00), (MiB, 0x7FFE0000)]
    assert board.qemu_ram_ranges(8 * GiB, "q35") == [(0, 0x9FC00), (MiB, 0x7FFE0000), (4 * GiB, 0x280000000)]
    assert board.ram_for(0x140000000) == 4 * GiB
    assert board.ram_for(0x240000000) == 8 * GiB


def test_single_node_board_needs_no_memmap() -> None:
    m = board.machine_for(load_layout(FIXTURES / "qemu-4g"), budget=12 * GiB)
    assert (m.ram, m.node_sizes, m.memmap, m.unfaithful) == (4 * GiB, (4 * GiB,), (), ())


def test_two_nodes_split_guest_ram_in_address_order() -> None:
    m = board.machine_for(load_layout(FIXTURES / "qemu-8g-numa2"), budget=12 * GiB)
    assert m.node_sizes == (4 * GiB, 4 * GiB)
    argv = qemu.qemu_argv(qemu.QemuBoot(Path("vmlinuz"), Path("initrd"), "console=ttyS0", m, Path("serial.log")))
    assert argv[argv.index("-m") + 1] == "8192M"
    assert f"memory-backend-ram,id=ram1,size={4 * GiB}" in argv
    assert "node,nodeid=1,memdev=ram1" in argv
    assert ["-accel", "tcg", "-cpu", "max", "-smp", "1"] == argv[3:9]
    assert argv[argv.index("-serial") + 1] == "file:serial.log"
    two = qemu.QemuBoot(Path("vmlinuz"), Path("initrd"), "console=ttyS0", m, Path("serial.log"), cpus=2)
    assert qemu.qemu_argv(two)[7:9] == ["-smp", "2"]  # a crash kernel of two CPUs (crash.cpus: 2)


def test_differing_firmware_map_is_carved_not_exactmapped() -> None:
    m = board.machine_for(load_layout(FIXTURES / "qemu-4g-carved"), budget=12 * GiB)
    assert (m.type, m.ram, m.unfaithful) == ("pc", 4 * GiB, ())
    assert m.memmap == ("memmap=0x1000000$0x7f000000",)


def test_q35_board_is_emulated_by_q35() -> None:
    # tests/captures/qemu-k6.1-q35-8G: 2 GiB below 4G, RAM up to 0x27fffffff
    data = fixture("qemu-4g")
    data["memory"]["map"] = [
        {"start": 0, "end": 0x9FC00, "type": "ram", "node": 0},
        {"start": MiB, "end": 0x7FFE0000, "type": "ram", "node": 0},
        {"start": 0xB0000000, "end": 0xC0000000, "type": "reserved", "node": None},
        {"start": 4 * GiB, "end": 0x280000000, "type": "ram", "node": 0},
    ]
    m = board.machine_for(parse_layout(data), budget=12 * GiB)
    assert (m.type, m.ram, m.memmap, m.node_sizes) == ("q35", 8 * GiB, (), (8 * GiB,))
    argv = qemu.qemu_argv(qemu.QemuBoot(Path("k"), Path("i"), "c", m, Path("s")))
    assert argv[1:3] == ["-machine", "q35"]


def test_many_carved_ranges_with_kaslr_are_not_faithful() -> None:
    data = fixture("qemu-4g")
    data["kaslr"] = True
    ram = [e for e in data["memory"]["map"] if e["start"] != MiB]
    holes = [(0x10000000 * i, 0x10000000 * i + MiB) for i in range(1, 7)]
    cuts = [MiB, *[x for h in holes for x in h], 0xBFFE0000]
    ram += [{"start": a, "end": b, "type": "ram", "node": 0} for a, b in zip(cuts[::2], cuts[1::2], strict=True)]
    data["memory"]["map"] = ram
    m = board.machine_for(parse_layout(data), budget=12 * GiB)
    assert len(m.memmap) == 6
    assert any("KASLR" in r for r in m.unfaithful)


def test_boards_that_cannot_be_emulated_say_why() -> None:
    data = fixture("qemu-4g")
    data["arch"] = "arm64"  # an x86 map on arm64: RAM from 0, where QEMU virt has none
    reasons = board.machine_for(parse_layout(data), budget=12 * GiB).unfaithful
    assert "QEMU virt's RAM starts at 0x40000000" in reasons[0]
    big = fixture("qemu-8g-numa2")
    big["memory"]["map"][-2]["end"] = 0x1040000000  # node 1 up to 65 GiB
    reasons = board.machine_for(parse_layout(big), budget=12 * GiB).unfaithful
    assert any("GiB of guest RAM" in r for r in reasons)
    hole = fixture("qemu-4g")
    hole["memory"]["map"].append({"start": 0xC0000000, "end": 0xD0000000, "type": "ram", "node": 0})
    assert any("not RAM in QEMU" in r for r in board.machine_for(parse_layout(hole), budget=12 * GiB).unfaithful)


def test_run_lab_reports_cannot_emulate_without_booting(tmp_path: Path) -> None:
    data = fixture("qemu-4g")
    data["arch"] = "arm64"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "layout.json").write_text(json.dumps(data))
    report = run_lab(tmp_path / "in", kernel="7", out_dir=tmp_path / "out", options=LabOptions())
    assert report.verdict == "cannot-emulate" and report.exit_code == 4
    assert json.loads((tmp_path / "out" / "report.json").read_text())["verdict"] == "cannot-emulate"


def test_cmdline_words() -> None:
    assert memparse_whole("272M") == 272 * MiB and memparse_whole("0x12f000000") == 0x12F000000
    assert pmem_words("console=ttyS0 memmap=272M!0x12f000000 crashkernel=256M") == [(0x12F000000, 0x140000000)]
    assert board.check_cmdline_length("x" * 2047) is None
    assert board.check_cmdline_length("x" * 2048) is not None


def test_guest_plan_per_window_mode() -> None:
    movable = plan_for(load_layout(FIXTURES / "qemu-4g"))
    assert movable.offline_blocks == (36, 37, 38) and movable.hotplug_start is None
    hot = plan_for(load_layout(FIXTURES / "qemu-4g-hotplug"))
    assert hot.offline_blocks == () and hot.hotplug_start == 0x12F000000
    assert "HOTPLUG_START='0x12f000000'" in hot.render() and "HOTPLUG_ALIGN='2M'" in hot.render()
    assert plan_for(load_layout(FIXTURES / "qemu-8g-numa2")).offline_blocks == ()


def test_layout_errors_name_the_json_path(tmp_path: Path) -> None:
    data = fixture("qemu-4g")
    data["memory"]["map"][3]["end"] = "0xbffe0000"
    with pytest.raises(LabError, match=r"/memory/map/3/end: \"0xbffe0000\": '0xbffe0000' is not of type 'integer'"):
        parse_layout(data)
    with pytest.raises(LabError, match="schema_version"):
        parse_layout({**data, "schema_version": 2})
    (tmp_path / "layout.json").write_text("{")
    with pytest.raises(LabError, match="invalid-layout"):
        load_layout(tmp_path)


def test_kernel_release_choice_pins_and_falls_back() -> None:
    series = SERIES["6.1"]
    names = [
        "linux-image-6.1.0-55-cloud-amd64",
        "linux-image-6.1.0-56-cloud-amd64",
        "linux-image-6.1.0-9-amd64",
    ]
    assert choose_release(series, names) == ("6.1.0-56-cloud-amd64", True)
    assert choose_release(series, ["linux-image-6.1.0-57-cloud-amd64", names[0]]) == (
        "6.1.0-57-cloud-amd64",
        False,
    )
    assert choose_release(SERIES["7"], ["linux-binary-7.3.1+deb14-cloud-amd64"]) == (
        "7.3.1+deb14-cloud-amd64",
        False,
    )
    with pytest.raises(LabError, match="kernel-unavailable"):
        choose_release(series, ["linux-image-6.12.1-amd64"])


def test_bzimage_release() -> None:
    head = bytearray(0x400)
    head[0x202:0x206] = b"HdrS"
    head[0x20E:0x210] = (0x100).to_bytes(2, "little")
    version = b"7.2.13+deb14-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP\0"
    head[0x300 : 0x300 + len(version)] = version
    assert bzimage_release(bytes(head)) == "7.2.13+deb14-cloud-amd64"
    with pytest.raises(LabError):
        bzimage_release(b"\0" * 0x400)


def _stand_in(tmp_path: Path, body: str) -> str:
    script = tmp_path / "qemu-stand-in"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_runner_kills_a_hung_emulator_and_its_children(tmp_path: Path) -> None:
    m = board.machine_for(load_layout(FIXTURES / "qemu-4g"), budget=12 * GiB)
    fake = _stand_in(tmp_path, "echo starting >&2\nsleep 60 &\nsleep 60")
    boot = qemu.QemuBoot(Path("k"), Path("i"), "console=ttyS0", m, tmp_path / "serial.log", timeout=1.0, qemu=fake)
    result = qemu.run_boot(boot)
    assert result.timed_out and result.seconds < 15
    assert "starting" in result.stderr


def test_runner_reports_exit_code_and_missing_emulator(tmp_path: Path) -> None:
    m = board.machine_for(load_layout(FIXTURES / "qemu-4g"), budget=12 * GiB)
    fake = _stand_in(tmp_path, 'echo LAYOUTC-DONE > "${SERIAL:-/dev/null}"; exit 3')
    boot = qemu.QemuBoot(Path("k"), Path("i"), "c", m, tmp_path / "serial.log", timeout=10.0, qemu=fake)
    assert qemu.run_boot(boot).returncode == 3
    with pytest.raises(LabError, match="tool-missing"):
        qemu.run_boot(qemu.QemuBoot(Path("k"), Path("i"), "c", m, tmp_path / "s.log", qemu=str(tmp_path / "nope")))
