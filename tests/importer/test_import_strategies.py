"""--strategy names map to the profile's crash design; impossible ones are LC4xx errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from layoutc.diagnostics.diagnostic import Diagnostics, render_text
from layoutc.importer import import_profile, read_sysinfo
from layoutc.model.profile import Strategy

from .helpers import CAPTURES, import_text, load_text


@pytest.mark.parametrize("strategy", list(Strategy))
def test_every_strategy_gives_a_valid_profile(strategy: Strategy, tmp_path: Path) -> None:
    text, diags = import_text("qemu-k7-pc-4G", strategy)
    assert text is not None and len(diags) == 0
    profile, load_diags = load_text(text, tmp_path)
    assert profile is not None and len(load_diags) == 0, render_text(load_diags)
    assert profile.strategy is strategy


def test_cma_needs_kernel_6_17() -> None:
    text, diags = import_text("qemu-k6.1-q35-8G", Strategy.CMA)
    assert text is None
    assert render_text(diags) == (
        "captures/qemu-k6.1-q35-8G/uname-r:1:1: error[LC412]: --strategy cma needs crashkernel=,cma "
        "(Linux 6.17 or newer); the captured kernel is 6.1.0\n"
        "  = rule: crashkernel=,cma landed in Linux 6.17 (commits 35c18f2933c5, ab475510e042; "
        "docs/reference/kernel-rules.md "
        "§1.5)\n"
        "  = hint: import with --strategy pmem-movable (or pmem-hotplug), or capture the device again after "
        "moving it to a 6.17+ kernel\n"
    )


def test_cma_on_6_18_is_fine(tmp_path: Path) -> None:
    text, diags = import_text("host-24G", Strategy.CMA_DISK)
    assert text is not None and len(diags) == 0
    assert "  cma_size: 256M" in text and "  device: /dev/disk/by-partlabel/crash" in text
    profile, load_diags = load_text(text, tmp_path)
    assert profile is not None and len(load_diags) == 0


def test_hotplug_needs_an_srat() -> None:
    text, diags = import_text("host-24G", Strategy.PMEM_HOTPLUG)
    assert text is None
    assert render_text(diags) == (
        "error[LC413]: --strategy pmem-hotplug needs an SRAT, and the capture shows none (unknown without "
        "dmesg; set true if the firmware has an ACPI SRAT)\n"
        "  = rule: dax/kmem needs a NUMA node to hand the window back (docs/reference/kernel-rules.md §3.5)\n"
        "  = hint: import with --strategy pmem-movable; if the firmware has an SRAT, capture dmesg too\n"
    )


def test_board_name_is_checked() -> None:
    text, diags = import_text("qemu-k7-pc-4G", board="My Board")
    assert text is None
    assert render_text(diags) == (
        "error[LC417]: board name 'My Board' is not accepted\n"
        "  = rule: board names are lower-case letters, digits, '.', '_' and '-' (profile schema)\n"
        "  = hint: use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit\n"
    )


@pytest.mark.parametrize("strategy", [Strategy.CMA, Strategy.CMA_DISK, Strategy.PMEM_HOTPLUG, Strategy.CMA_HOTPLUG])
def test_arm64_has_no_cma_and_no_hotplug_window(strategy: Strategy) -> None:
    text, diags = import_text("qemu-arm64-virt-4G", strategy)
    assert text is None
    assert render_text(diags) == (
        f"error[LC419]: --strategy {strategy} is not possible on arm64\n"
        "  = rule: arm64 has no memmap=!: its window is a device-tree pmem-region in ZONE_MOVABLE "
        "(docs/reference/kernel-rules.md §8.5), and boot memory cannot be offlined, so there is no hotplug window; "
        "crashkernel=,cma is x86 since 6.17 (§1.5), ignored by the arm64 kernels measured\n"
        "  = hint: arm64 has no crashkernel=,cma and no hotplug window: use --strategy pmem-movable (a device-tree "
        "window in ZONE_MOVABLE) or classic-disk\n"
    )


def test_arm64_without_a_device_tree(tmp_path: Path) -> None:
    """An ACPI arm64 server has no /sys/firmware/fdt: the map comes from iomem, the nodes from zoneinfo."""
    capture = tmp_path / "acpi"
    shutil.copytree(CAPTURES / "qemu-arm64-virt-8G-numa2", capture, ignore=shutil.ignore_patterns("fdt.dtb"))
    diags = Diagnostics()
    info = read_sysinfo(capture, diags, display="acpi")
    assert info is not None
    text = import_profile(info, "acpi", Strategy.PMEM_MOVABLE, diags)
    assert text is not None and "arch: arm64  # uname-r: 7.2.13+deb14-arm64" in text
    assert render_text(diags) == (
        "warning[LC433]: arm64: the capture has no fdt.dtb (an ACPI server, or /sys/firmware/fdt was unreadable); "
        "the map comes from /proc/iomem top-level resources, the NUMA nodes from /proc/zoneinfo node spans\n"
        "  = rule: without a device tree (ACPI arm64 servers) the firmware's map is not captured; NUMA nodes come "
        "from /proc/zoneinfo or the memory blocks' node links in sysfs\n"
        "  = hint: on a device-tree board, run 'layoutc probe --raw DIR' as root: it copies /sys/firmware/fdt\n"
    )
    profile, load_diags = load_text(text, tmp_path)
    assert profile is not None and len(load_diags) == 0, render_text(load_diags)
    assert [(r.start, r.end, r.node) for r in profile.memory.ram] == [
        (0x40000000, 0x140000000, 0),
        (0x140000000, 0x240000000, 1),
    ]


@pytest.mark.parametrize("board", ["null", "true", "1.0", "0x10", "no", "7"])
def test_board_names_that_look_like_other_yaml_types(board: str, tmp_path: Path) -> None:
    text, diags = import_text("qemu-k7-pc-4G", board=board)
    assert text is not None and len(diags) == 0
    profile, load_diags = load_text(text, tmp_path)
    assert profile is not None and len(load_diags) == 0, render_text(load_diags)
    assert profile.board == board


def test_overlapping_e820_is_refused(tmp_path: Path) -> None:
    capture = tmp_path / "overlap"
    shutil.copytree(CAPTURES / "qemu-k7-pc-4G", capture, ignore=shutil.ignore_patterns("movablecore-*"))
    dmesg = (capture / "dmesg").read_text()
    (capture / "dmesg").write_text(
        dmesg.replace(
            "[mem 0x00000000bffe0000-0x00000000bfffffff]  device reserved",
            "[mem 0x00000000bffd0000-0x00000000bfffffff]  device reserved",
        )
    )
    diags = Diagnostics()
    info = read_sysinfo(capture, diags, display="overlap")
    assert info is not None
    assert import_profile(info, "x", Strategy.PMEM_MOVABLE, diags) is None
    assert render_text(diags) == (
        "overlap:1:1: error[LC421]: dmesg BIOS-e820 (the firmware's map): [0xbffd0000, 0xc0000000) reserved "
        "overlaps [0x100000, 0xbffe0000) ram\n"
        "  = rule: e820 and the iomem top level are sanitized maps: no entry overlaps another "
        "(e820__update_table)\n"
        "  = hint: the kernel sanitizes its map; was the capture edited by hand?\n"
    )
