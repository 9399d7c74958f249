"""Layout parameters on the captured cmdline are undone: the imported map is the board's."""

from __future__ import annotations

import shutil
from pathlib import Path

from layoutc.diagnostics.diagnostic import Diagnostics, render_text
from layoutc.importer import import_profile, read_sysinfo
from layoutc.model.profile import Strategy

from .helpers import CAPTURES, load_text

PLAIN_IOMEM = (CAPTURES / "qemu-k7-pc-4G" / "iomem").read_text()
# The same machine booted with memmap=64M$0x8000000 memmap=256M!0x130000000 crashkernel=256M.
LAYOUT_IOMEM = """\
00000000-00000fff : Reserved
00001000-0009fbff : System RAM
0009fc00-0009ffff : Reserved
000a0000-000bffff : PCI Bus 0000:00
000c0000-000c05ff : Video ROM
000f0000-000fffff : Reserved
  000f0000-000fffff : System ROM
00100000-07ffffff : System RAM
08000000-0bffffff : Reserved
0c000000-bffdffff : System RAM
  af000000-beffffff : Crash kernel
bffe0000-bfffffff : Reserved
c0000000-febfffff : PCI Bus 0000:00
fec00000-fec003ff : IOAPIC 0
fed00000-fed003ff : HPET 0
  fed00000-fed003ff : PNP0103:00
fffc0000-ffffffff : Reserved
100000000-12fffffff : System RAM
  123200000-1244ca8df : Kernel code
130000000-13fffffff : Persistent Memory (legacy)
  130000000-13fffffff : namespace0.0
140000000-1bfffffff : PCI Bus 0000:00
fd00000000-ffffffffff : Reserved
"""
LAYOUT_CMDLINE = (
    "BOOT_IMAGE=/vmlinuz console=ttyS0 memmap=64M$0x8000000 memmap=256M!0x130000000 crashkernel=256M\n"
)


def _capture(tmp_path: Path, name: str, *, iomem: str, cmdline: str, dmesg: bool) -> Path:
    capture = tmp_path / name
    shutil.copytree(CAPTURES / "qemu-k7-pc-4G", capture, ignore=shutil.ignore_patterns("movablecore-*"))
    (capture / "iomem").write_text(iomem)
    (capture / "cmdline").write_text(cmdline)
    if not dmesg:
        (capture / "dmesg").unlink()
    return capture


def _import(capture: Path, tmp_path: Path) -> tuple[str | None, Diagnostics]:
    diags = Diagnostics()
    info = read_sysinfo(capture, diags, display=capture.name)
    assert info is not None, render_text(diags)
    return import_profile(info, "undo", Strategy.PMEM_MOVABLE, diags), diags


def _memory(text: str, tmp_path: Path) -> object:
    profile, diags = load_text(text, tmp_path)
    assert profile is not None and len(diags) == 0, render_text(diags)
    return profile.memory, profile.board_cmdline


def test_memmap_and_crashkernel_undone_from_iomem(tmp_path: Path) -> None:
    plain, plain_diags = _import(
        _capture(tmp_path, "plain", iomem=PLAIN_IOMEM, cmdline="console=ttyS0\n", dmesg=False), tmp_path
    )
    layout, diags = _import(
        _capture(tmp_path, "layout", iomem=LAYOUT_IOMEM, cmdline=LAYOUT_CMDLINE, dmesg=False), tmp_path
    )
    assert plain is not None and layout is not None and len(diags) == 0 and len(plain_diags) == 0
    assert _memory(layout, tmp_path) == _memory(plain, tmp_path)
    assert (
        "#   - memmap=64M$0x8000000: [0x8000000, 0xc000000) was reserved only because of this parameter; "
        "it is RAM again" in layout
    )
    assert (
        "#   - memmap=256M!0x130000000: [0x130000000, 0x140000000) was pmem only because of this parameter; "
        "it is RAM again" in layout
    )
    assert "#   - crashkernel=256M: the reservation lies inside System RAM; it is RAM in the map" in layout
    assert (
        'cmdline: "console=ttyS0"  # the captured cmdline without memmap=64M$0x8000000 '
        "memmap=256M!0x130000000 crashkernel=256M BOOT_IMAGE=/vmlinuz" in layout
    )


def test_e820_needs_no_undo_and_agrees_with_iomem(tmp_path: Path) -> None:
    plain, _ = _import(CAPTURES / "qemu-k7-pc-4G", tmp_path)
    layout, diags = _import(
        _capture(tmp_path, "layout", iomem=LAYOUT_IOMEM, cmdline=LAYOUT_CMDLINE, dmesg=True), tmp_path
    )
    assert plain is not None and layout is not None
    assert len(diags) == 0, render_text(diags)
    assert _memory(layout, tmp_path) == _memory(plain, tmp_path)
    assert (
        "#   - memmap= edits (64M$0x8000000, 256M!0x130000000) come after the BIOS-e820 table; the "
        "firmware's entries are used as they are" in layout
    )


def test_e820_and_iomem_disagree(tmp_path: Path) -> None:
    iomem = PLAIN_IOMEM.replace("100000000-13fffffff : System RAM", "100000000-12fffffff : System RAM")
    text, diags = _import(
        _capture(tmp_path, "odd", iomem=iomem, cmdline="console=ttyS0\n", dmesg=True), tmp_path
    )
    assert text is not None
    assert render_text(diags) == (
        "odd/iomem:1:1: warning[LC415]: [0x130000000, 0x140000000) is RAM in BIOS-e820 but not in "
        "/proc/iomem; "
        "the map follows BIOS-e820\n"
        "  = rule: e820, /proc/iomem and lsmem describe the same RAM once layout parameters are undone\n"
        "  = hint: were the two captured on the same boot?\n"
    )


def test_exactmap_cannot_be_undone_from_iomem(tmp_path: Path) -> None:
    capture = _capture(
        tmp_path,
        "exact",
        iomem=PLAIN_IOMEM,
        cmdline="console=ttyS0 memmap=exactmap memmap=640K@0 memmap=4G@4G\n",
        dmesg=False,
    )
    text, diags = _import(capture, tmp_path)
    assert text is not None
    assert render_text(diags) == (
        "exact/cmdline:1:1: warning[LC414]: memmap=exactmap cannot be undone without the firmware's e820 "
        "table; "
        "the map below is the kernel's edited one\n"
        "  = rule: the imported map is the board's, before layout parameters (docs/import.md)\n"
        "  = hint: capture dmesg (its BIOS-e820 lines) as well\n"
        "exact/cmdline:1:1: warning[LC414]: memmap=640K@0 cannot be undone without the firmware's e820 "
        "table; "
        "the map below is the kernel's edited one\n"
        "  = rule: the imported map is the board's, before layout parameters (docs/import.md)\n"
        "  = hint: capture dmesg (its BIOS-e820 lines) as well\n"
        "exact/cmdline:1:1: warning[LC414]: memmap=4G@4G cannot be undone without the firmware's e820 table; "
        "the map below is the kernel's edited one\n"
        "  = rule: the imported map is the board's, before layout parameters (docs/import.md)\n"
        "  = hint: capture dmesg (its BIOS-e820 lines) as well\n"
    )


def test_lsmem_only_capture_gets_the_pmem_window_back(tmp_path: Path) -> None:
    capture = tmp_path / "lsmem-only"
    capture.mkdir()
    rows = (CAPTURES / "origin-thread" / "lsmem.txt").read_text().splitlines()
    (capture / "lsmem.txt").write_text("\n".join(r for r in rows if "Movable" not in r) + "\n")
    (capture / "uname-r").write_text("6.5.0\n")
    (capture / "cmdline").write_text("console=ttyS0 memmap=256M!0x130000000\n")
    text, diags = _import(capture, tmp_path)
    assert text is not None and len(diags) == 0
    profile, _ = load_text(text, tmp_path)
    assert profile is not None and profile.memory.total_ram == 4 << 30


def test_wrapped_dmesg_does_not_claim_no_srat(tmp_path: Path) -> None:
    capture = _capture(tmp_path, "wrapped", iomem=PLAIN_IOMEM, cmdline="console=ttyS0\n", dmesg=True)
    late = [line for line in (capture / "dmesg").read_text().splitlines() if not line.startswith("[    0.0")]
    (capture / "dmesg").write_text("\n".join(late) + "\n")
    text, diags = _import(capture, tmp_path)
    assert text is not None and len(diags) == 0
    assert "srat: false  # unknown without dmesg's boot messages (ring buffer wrapped?)" in text
    assert "# map: /proc/iomem top-level resources" in text


def test_too_many_map_entries(tmp_path: Path) -> None:
    reserved = "".join(
        f"{0x100000 + i * 0x2000:08x}-{0x100000 + i * 0x2000 + 0xFFF:08x} : Reserved\n" for i in range(300)
    )
    iomem = "00001000-0009fbff : System RAM\n" + reserved
    capture = _capture(tmp_path, "many", iomem=iomem, cmdline="console=ttyS0\n", dmesg=False)
    (capture / "lsmem.json").unlink()
    (capture / "zoneinfo").unlink()
    text, diags = _import(capture, tmp_path)
    assert text is None
    assert render_text(diags) == (
        "many:1:1: error[LC422]: the map has 301 entries; a profile holds at most 256\n"
        "  = rule: memory.map holds at most 256 ranges (profile schema)\n"
        "  = hint: write the profile by hand from the capture, merging the reserved entries\n"
    )


def test_no_ram(tmp_path: Path) -> None:
    capture = _capture(
        tmp_path, "noram", iomem="00000000-00000fff : Reserved\n", cmdline="console=ttyS0\n", dmesg=False
    )
    text, diags = _import(capture, tmp_path)
    assert text is None
    assert render_text(diags) == (
        "noram:1:1: error[LC411]: the capture shows no System RAM\n"
        "  = rule: a board has System RAM\n"
        "  = hint: capture /proc/iomem as root on the device\n"
    )


def test_ram_outside_the_srat(tmp_path: Path) -> None:
    capture = tmp_path / "numa"
    shutil.copytree(CAPTURES / "qemu-k7-pc-8G-numa2", capture, ignore=shutil.ignore_patterns("movablecore-*"))
    dmesg = (capture / "dmesg").read_text().splitlines()
    (capture / "dmesg").write_text("\n".join(line for line in dmesg if "Node 1 PXM 1" not in line) + "\n")
    text, diags = _import(capture, tmp_path)
    assert text is not None
    assert render_text(diags) == (
        "numa/dmesg:1:1: warning[LC416]: RAM [0x140000000, 0x240000000) is in no SRAT node range; "
        "put on node 0\n"
        "  = rule: the kernel assigns memory to nodes from the SRAT's memory affinity ranges (numa_meminfo)\n"
        "  = hint: check the firmware's SRAT; the kernel may turn NUMA off\n"
    )


def test_every_code_has_a_test() -> None:
    from layoutc.importer.import_codes import IMPORT_CODES, RULES

    assert set(IMPORT_CODES) == set(RULES)
    tests = "".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    assert [code for code in IMPORT_CODES if f"{code}" not in tests.replace(f'{code}", "', "")] == []
