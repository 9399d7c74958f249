"""Serial-log protocol and procfs parsers (fast; no QEMU)."""

from __future__ import annotations

import base64
from pathlib import Path

from layoutc.lab.boot.serial import parse_serial
from layoutc.lab.facts.procfs import (
    movable_starts,
    parse_blocks,
    parse_cma_ranges,
    parse_dmesg,
    parse_iomem,
    parse_meminfo,
    parse_zoneinfo,
    resources_named,
)

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


def frame(name: str, data: bytes, width: int = 76) -> str:
    text = base64.b64encode(data).decode()
    lines = [text[i : i + width] for i in range(0, len(text), width)]
    return "\r\n".join([f"LAYOUTC-BEGIN {name}", *lines, f"LAYOUTC-END {name}"]) + "\r\n"


def test_serial_frames_survive_interleaved_kernel_lines_and_crlf() -> None:
    payload = b"Node 0, zone  Movable\n  start_pfn:           1179648\n" * 20
    framed = frame("zoneinfo", payload).split("\r\n")
    framed.insert(3, "[    4.026943] page: refcount:1 mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x13fe09")
    log = "[    0.000000] Linux version 7.2\r\nLAYOUTC-START 7.2.13+deb14-cloud-amd64\r\n" + "\r\n".join(framed)
    log += 'LAYOUTC-OBS {"kind":"offline","block":39,"offline":"EBUSY"}\r\n'
    log += "LAYOUTC-MISSING kexec_crash_cma_ranges\r\n"
    log += "LAYOUTC-DONE\r\n[    4.1] reboot: Power down\r\n"
    out = parse_serial(log.encode())
    assert out.release == "7.2.13+deb14-cloud-amd64"
    assert out.done
    assert out.files["zoneinfo"] == payload
    assert out.missing == frozenset({"kexec_crash_cma_ranges"})
    assert out.of_kind("offline") == ({"kind": "offline", "block": 39, "offline": "EBUSY"},)
    assert "page: refcount" in out.console
    assert out.problems == ()


def test_serial_reports_broken_frames_and_bad_observations() -> None:
    log = "LAYOUTC-BEGIN iomem\nAAA\nLAYOUTC-END iomem\nLAYOUTC-OBS {not json\nLAYOUTC-BEGIN dmesg\nQUJD\n"
    out = parse_serial(log.encode())
    assert not out.done
    assert "iomem" not in out.files
    assert len(out.problems) == 3
    assert "does not decode" in out.problems[0]
    assert "not JSON" in out.problems[1]
    assert "never ended" in out.problems[2]



def test_last_words_are_the_console_tail_or_the_panic() -> None:
    """What a report says when a guest stopped short: the run's serial log may be on a machine nobody can reach."""
    tail = parse_serial(b"[ 0.1] a\n\n[ 0.2] b\nLAYOUTC-START 7.2\n[ 0.3] c\n")
    assert tail.last_words(2) == "[ 0.2] b | [ 0.3] c"
    log = b"[ 0.1] a\n[ 1.0] Kernel panic - not syncing: IO-APIC + timer doesn't work!\n[ 1.0] CPU: 0\n[ 1.1] x\n"
    assert parse_serial(log).last_words(2) == (
        "[ 1.0] Kernel panic - not syncing: IO-APIC + timer doesn't work! | [ 1.0] CPU: 0"
    )
    assert parse_serial(b"").last_words() == "(no console output)"

ZONEINFO = """Node 0, zone      DMA
  pages free     3840
        spanned  4095
        present  3998
        managed  3840
  start_pfn:           1
Node 0, zone   Normal
        spanned  196608
        present  196608
        managed  180000
  start_pfn:           1048576
Node 0, zone  Movable
        spanned  131072
        present  131072
        managed  131072
  start_pfn:           1179648
Node 0, zone   Device
        spanned  0
        present  0
        managed  0
"""


def test_zoneinfo_movable_span() -> None:
    zones = parse_zoneinfo(ZONEINFO)
    assert [z.name for z in zones] == ["DMA", "Normal", "Movable", "Device"]
    assert zones[3].start_pfn is None
    assert movable_starts(zones) == {0: (0x120000000, 0x140000000)}


def test_zoneinfo_of_real_two_node_capture() -> None:
    zones = parse_zoneinfo((CAPTURES / "qemu-k7-pc-8G-numa2" / "movablecore-512M" / "zoneinfo").read_text())
    assert movable_starts(zones) == {0: (0x130400000, 0x140000000), 1: (0x230000000, 0x240000000)}


def test_iomem_nesting_and_exclusive_ends() -> None:
    text = """00001000-0009fbff : System RAM
00100000-bffdffff : System RAM
  41600000-428ca8df : Kernel code
  af000000-beffffff : Crash kernel
12f000000-13fffffff : Persistent Memory (legacy)
  12f000000-13fffffff : namespace0.0
"""
    res = parse_iomem(text)
    assert res[0].start == 0x1000 and res[0].end == 0xA0000 - 0x400
    assert [r.depth for r in res] == [0, 0, 1, 1, 0, 1]
    assert resources_named(res, "Crash kernel")[0].end == 0xBF000000
    assert resources_named(res, "Persistent Memory (legacy)")[0].start == 0x12F000000


def test_meminfo_in_bytes() -> None:
    info = parse_meminfo("MemTotal:        3989272 kB\nHugePages_Total:       0\n")
    assert info == {"MemTotal": 3989272 * 1024, "HugePages_Total": 0}


def test_dmesg_generic_and_61_crashkernel_lines_and_cma() -> None:
    text = """[    0.000000] Movable zone start for each node
[    0.000000]   Node 0: 0x0000000130400000
[    0.000000]   Node 1: 0x0000000230000000
[    0.000000] Early memory node ranges
[    0.011] crashkernel reserved: 0x00000000af000000 - 0x00000000bf000000 (256 MB)
[    0.012] Reserving 256MB of low memory at 2800MB for crashkernel (low RAM limit: 4096MB)
[    0.013] crashkernel CMA reserved: 256 MB in 1 ranges
[    1.000] cma: CMA area crashkernel could not be activated
"""
    facts = parse_dmesg(text)
    assert facts.movable_starts == {0: 0x130400000, 1: 0x230000000}
    assert facts.crash_reserved == ((0xAF000000, 0xBF000000),)
    assert facts.crash_low_reserved == ((2800 << 20, 3056 << 20),)
    assert facts.cma_reserved == (256, 1)
    assert any("could not be activated" in m for m in facts.cma_messages)
    assert not facts.e820_user


def test_dmesg_61_style_reservation() -> None:
    facts = parse_dmesg("[    0.0] Reserving 256MB of memory at 2800MB for crashkernel (System RAM: 4095MB)\n")
    assert facts.crash_reserved == ((2800 << 20, 3056 << 20),)


def test_cma_ranges_and_blocks() -> None:
    assert parse_cma_ranges("100000000-10fffffff\n") == ((0x100000000, 0x110000000),)
    blocks = parse_blocks("39 online 0 Movable\n1 online 0 DMA32\n0 online 0 none\n")
    assert [b.index for b in blocks] == [0, 1, 39]
    assert blocks[2].zones == "Movable" and blocks[2].node == 0
