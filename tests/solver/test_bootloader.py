"""Where the boot loader puts the production initrd, and the crash areas around it (layoutc.kernel.bootloader)."""

from __future__ import annotations

from pathlib import Path

import pytest

from layoutc.diagnostics.diagnostic import Diagnostics, render_text
from layoutc.frontend.load import load_profile
from layoutc.kernel import bootloader
from layoutc.model.layout import RegionKind
from layoutc.solve import solve

PC_4G = [(0x0, 0x9FC00), (0x100000, 0xBFFE0000), (0x100000000, 0x140000000)]
PC_2G = [(0x0, 0x9FC00), (0x100000, 0x7FFE0000)]

PROFILE_2G = """\
schema_version: 1
board: pc-2g
kernel: {version: "7.2", cmdline: console=ttyS0}
boot: {loader: LOADER, initrd_size: 0x767000}
memory:
  block_size: 128M
  map:
    - {start: 0x0, end: 0x9fc00, type: ram}
    - {start: 0x100000, end: 0x7ffe0000, type: ram}
crash: {memory: cma, target: disk, reserve: 96M, cma_size: 256M}
disk: {device: /dev/disk/by-partlabel/crash, fstype: ext4}
pins: {crashkernel_offset: 256M}
"""


def test_direct_matches_the_captures_and_the_lab() -> None:
    # tests/captures/qemu-k7-pc-4G/dmesg: RAMDISK: [mem 0xbf879000-0xbffdffff] (a 7.3 MiB initrd)
    assert bootloader.place_initrd("direct", PC_4G, 0x766ABC).span == (0xBF879000, 0xBFFE0000)
    # the lab, qemu-4g-cma on 7.2 with a 32 MiB initrd: RAMDISK: [mem 0xbdfe0000-0xbffdffff]
    assert bootloader.place_initrd("direct", PC_4G, 32 << 20).span == (0xBDFE0000, 0xBFFE0000)
    # the 2 GiB pc measurement: RAMDISK: [mem 0x7f879000-0x7ffdffff]
    assert bootloader.place_initrd("direct", PC_2G, 0x766ABC).span == (0x7F879000, 0x7FFE0000)


def test_grub_bios_stays_below_its_limit_and_efi_is_a_bound() -> None:
    grub = bootloader.place_initrd("grub-bios", PC_4G, 32 << 20)
    # measured, Debian GRUB 2.06 i386-pc: RAMDISK: [mem 0x33fef000-0x35feefff]
    assert grub.exact and grub.span == (0x33FEF000, 0x35FEF000)
    # measured, the lab's Debian 12 system (6.1, its own initrd of 15,724,071 bytes, RAM to 0xbffda000):
    # RAMDISK: [mem 0x361f1000-0x370effff]; GRUB subtracts the page-aligned size twice
    debian = bootloader.place_initrd("grub-bios", [(0x100000, 0xBFFDA000)], 15_724_071)
    assert debian.span == (0x361F1000, 0x370F0000)
    small = bootloader.place_initrd("grub-bios", [(0x100000, 0x20000000)], 32 << 20)
    assert small.span == (0x1E000000, 0x20000000)  # RAM ends below GRUB's limit: as high as RAM allows
    efi = bootloader.place_initrd("systemd-boot", PC_4G, 32 << 20)
    assert not efi.exact and efi.span == (0x100000, 0x140000000)
    with pytest.raises(bootloader.InitrdError):
        bootloader.place_initrd("direct", [(0x100000, 0x1000000)], 32 << 20)


def _solve(tmp_path: Path, text: str) -> tuple[object, str]:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    diags = Diagnostics()
    profile = load_profile(path, "p.yaml", diags)
    layout = solve(profile, diags) if profile is not None else None
    return layout, render_text(diags)


def test_direct_initrd_moves_the_2g_cma_area_down(tmp_path: Path) -> None:
    """The measured 2 GiB pc: the CMA area 6 MiB lower than without the initrd (0x6fe00000)."""
    layout, text = _solve(tmp_path, PROFILE_2G.replace("LOADER", "direct"))
    assert layout is not None, text
    cma = [(r.start, r.end) for r in layout.regions_of(RegionKind.CRASH_CMA)]  # type: ignore[attr-defined]
    assert cma == [(0x6F800000, 0x7F800000)]
    initrd = layout.regions_of(RegionKind.INITRD)  # type: ignore[attr-defined]
    assert [(r.start, r.end) for r in initrd] == [(0x7F879000, 0x7FFE0000)]


def test_efi_bound_over_a_crash_area_is_a_warning(tmp_path: Path) -> None:
    """The firmware's choice cannot be known at compile time: LC321 warns, the layout compiles, and
    arm.sh checks the real reservation on the device."""
    layout, text = _solve(tmp_path, PROFILE_2G.replace("LOADER", "systemd-boot"))
    assert layout is not None, text
    first = next(line for line in text.splitlines() if "LC321" in line)
    assert first == (
        "p.yaml:4:16: warning[LC321]: boot.loader: systemd-boot lets the firmware put the initrd anywhere in "
        "[0x100000, 0x7ffe0000), over the crash area [0x10000000, 0x16000000): where it lands there, the "
        "kernel places the crash area elsewhere"
    )
