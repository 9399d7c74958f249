"""The initrd placement fact: dmesg or, in a crash cycle's production boot, the serial console's ``RAMDISK:``
line against layout.json's region and layoutc.kernel.bootloader (fast; no QEMU)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from layoutc.kernel import bootloader
from layoutc.lab.boot.serial import GuestOutput
from layoutc.lab.facts.boot_facts import initrd_fact
from layoutc.lab.layout_dir import load_layout
from layoutc.model.layout import Layout, Region, RegionKind

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MiB = 1 << 20


def _layout(loader: str, size: int) -> Layout:
    layout = load_layout(FIXTURES / "qemu-4g")
    ram = [(r.start, r.end) for r in layout.memory.ram]
    placed = bootloader.place_initrd(loader, ram, size)
    kind = RegionKind.INITRD if placed.exact else RegionKind.INITRD_BOUND
    region = Region(*placed.span, kind, str(kind), 0)
    return dataclasses.replace(layout, regions=tuple(sorted((*layout.regions, region))))


def _out(console: str = "", dmesg: str = "") -> GuestOutput:
    files = {"dmesg": dmesg.encode()} if dmesg else {}
    return GuestOutput("7.2", True, files, frozenset(), (), (), console)


def test_grub_placement_from_the_console_of_a_cycle() -> None:
    layout = _layout("grub-bios", 32 * MiB)
    console = ("[    0.0] RAMDISK: [mem 0x33fef000-0x35feefff]\n"  # the production kernel's, first
               "[    0.0] RAMDISK: [mem 0xbd000000-0xbd7fffff]\n")  # fmt: skip
    fact = initrd_fact(layout, _out(console), "grub-bios", 32 * MiB)
    assert (fact.status, fact.predicted, fact.observed) == ("pass", "[0x33fef000, 0x35fef000)", fact.predicted)
    moved = initrd_fact(layout, _out("RAMDISK: [mem 0x35fef000-0x37feefff]\n"), "grub-bios", 32 * MiB)
    assert moved.status == "fail"


def test_bound_passes_inside_and_says_where() -> None:
    layout = _layout("systemd-boot", 32 * MiB)
    fact = initrd_fact(layout, _out(dmesg="RAMDISK: [mem 0x7c000000-0x7dffffff]\n"), "systemd-boot", 32 * MiB)
    assert fact.status == "pass" and fact.predicted.startswith("inside ") and "landed at 0x7c000000" in fact.detail
    assert initrd_fact(layout, _out(), "systemd-boot", 32 * MiB).status == "fail"


def test_a_layout_compiled_for_another_loader_fails() -> None:
    layout = _layout("direct", 32 * MiB)
    fact = initrd_fact(layout, _out("RAMDISK: [mem 0x33fef000-0x35feefff]\n"), "grub-bios", 32 * MiB)
    assert fact.status == "fail" and "boot.loader grub-bios" in fact.detail
