"""probe measures the running kernel's initrd under /boot; import turns it into boot.initrd_size."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from layoutc.diagnostics.diagnostic import Diagnostics, render_text
from layoutc.importer import import_profile, probe, raw_files, read_sysinfo, sysinfo_json
from layoutc.importer.boot_capture import parse_boot
from layoutc.importer.sysinfo_types import BootFacts, InitrdFile, SysInfo
from layoutc.model.profile import BootLoader, Strategy
from layoutc.solve import solve

from .helpers import load_text
from .test_import_probe import INITRD_SIZE, _fake_root

RELEASE = "7.2.13+deb14-amd64"  # the qemu-k7-pc-4G capture's uname -r
OWN = f"/boot/initrd.img-{RELEASE}"


def _probe(root: Path) -> SysInfo:
    diags = Diagnostics()
    info = probe(root, diags)
    assert info is not None, render_text(diags)
    return info


def _root(tmp_path: Path) -> Path:
    root = _fake_root(tmp_path, "qemu-k7-pc-4G")
    (root / OWN.lstrip("/")).unlink()
    return root


def _file(root: Path, name: str, size: int) -> None:
    path = root / name.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.truncate(size)


def _boot_lines(text: str) -> str:
    return "".join(re.findall(r"^(?:boot:|  loader:|  initrd_size:|# no boot).*\n", text, re.MULTILINE))


def test_import_emits_the_measured_initrd_size(tmp_path: Path) -> None:
    info = _probe(_fake_root(tmp_path, "qemu-k7-pc-4G"))
    assert info.boot == BootFacts(InitrdFile(OWN, OWN, INITRD_SIZE), False)
    diags = Diagnostics()
    text = import_profile(info, "probed", Strategy.PMEM_MOVABLE, diags)
    assert text is not None and len(diags) == 0, render_text(diags)
    assert _boot_lines(text) == (
        "boot:\n"
        "  loader: direct  # EDIT if it boots otherwise: no BOOT_IMAGE= on the captured cmdline, "
        "no /sys/firmware/efi (BIOS): QEMU -kernel/-initrd\n"
        f"  initrd_size: 7580K  # measured {OWN}, 7.4 MiB\n"
    )
    profile, load_diags = load_text(text, tmp_path)
    assert profile is not None and profile.boot is not None, render_text(load_diags)
    assert (profile.boot.loader, profile.boot.initrd_size) == (BootLoader.DIRECT, INITRD_SIZE)


def test_the_solver_places_the_measured_initrd(tmp_path: Path) -> None:
    """The qemu-k7-pc-4G boot (QEMU 7.2, direct) printed RAMDISK: [mem 0xbf879000-0xbffdffff] for this size."""
    text = import_profile(_probe(_fake_root(tmp_path, "qemu-k7-pc-4G")), "probed", Strategy.CMA, Diagnostics())
    assert text is not None
    profile, _ = load_text(text, tmp_path)
    assert profile is not None
    diags = Diagnostics()
    layout = solve(profile, diags)
    assert layout is not None, render_text(diags)
    initrd = [(r.start, r.end) for r in layout.regions if r.kind.value == "initrd"]
    assert initrd == [(0xBF879000, 0xBFFE0000)]


@pytest.mark.parametrize(
    ("files", "links", "measured"),
    [
        ({f"/boot/initramfs-{RELEASE}.img": 5 << 20, "/boot/initrd.img": 1 << 20}, {},
         (f"/boot/initramfs-{RELEASE}.img", f"/boot/initramfs-{RELEASE}.img", 5 << 20)),
        ({"/boot/initrd.img-6.1.0-56-amd64": 3 << 20}, {"/initrd.img": "boot/initrd.img-6.1.0-56-amd64"},
         ("/initrd.img", "/boot/initrd.img-6.1.0-56-amd64", 3 << 20)),
        ({"/boot/real": 2 << 20}, {"/boot/initrd.img": "/boot/real"}, ("/boot/initrd.img", "/boot/real", 2 << 20)),
        ({"/boot/initrd.img": 0, "/initrd.img": 4096}, {}, ("/initrd.img", "/initrd.img", 4096)),
    ],
    ids=["fedora-name-first", "debian-relative-link", "absolute-link-stays-in-root", "empty-file-skipped"],
)
def test_which_file_is_measured(
    tmp_path: Path, files: dict[str, int], links: dict[str, str], measured: tuple[str, str, int]
) -> None:
    root = _root(tmp_path)
    for name, size in files.items():
        _file(root, name, size)
    for name, target in links.items():
        os.symlink(target, root / name.lstrip("/"))
    boot = _probe(root).boot
    assert boot is not None and boot.initrd == InitrdFile(*measured)


def test_links_out_of_the_root_are_not_followed(tmp_path: Path) -> None:
    root = _root(tmp_path)
    _file(tmp_path, "/outside.img", 1 << 20)  # beside the root, not in it
    os.symlink("../outside.img", root / "initrd.img")
    os.symlink("../../outside.img", root / "boot/initrd.img")
    os.symlink(f"initrd.img-{RELEASE}", root / f"boot/initramfs-{RELEASE}.img")
    os.symlink(f"initramfs-{RELEASE}.img", root / OWN.lstrip("/"))  # a loop
    diags = Diagnostics()
    info = probe(root, diags)
    assert info is not None and info.boot == BootFacts(None, False)
    assert [d.code for d in diags] == ["LC418"]
    assert f"initrd: none of {OWN}, /boot/initramfs-{RELEASE}.img, /boot/initrd.img, /initrd.img is a file" in (
        render_text(diags)
    )


def test_no_initrd_is_LC425_and_no_boot_section(tmp_path: Path) -> None:
    info = _probe(_root(tmp_path))
    diags = Diagnostics()
    text = import_profile(info, "probed", Strategy.PMEM_MOVABLE, diags)
    assert text is not None
    assert render_text(diags) == (
        "probe/boot:1:1: note[LC425]: no initrd of the running kernel was found: the profile gets no boot: "
        "section, and the initrd's place is not modelled\n"
        "  = rule: the kernel keeps the production initrd reserved while it places the crash areas, where the "
        "loader put it by its size (LNX:arch/x86/kernel/setup.c early_reserve_initrd); probe measures "
        "/boot/initrd.img-RELEASE, /boot/initramfs-RELEASE.img, /boot/initrd.img or /initrd.img\n"
        "  = hint: run 'layoutc probe' on the device (it measures /boot), or add boot: by hand\n"
    )
    assert _boot_lines(text) == (
        "# no boot: no initrd of the running kernel was found; the initrd's place is not modelled\n"
    )
    profile, _ = load_text(text, tmp_path)
    assert profile is not None and profile.boot is None


@pytest.mark.parametrize(
    ("cmdline", "efi", "loader"),
    [
        ("BOOT_IMAGE=/vmlinuz console=ttyS0", False, "grub-bios"),
        ("BOOT_IMAGE=/vmlinuz console=ttyS0", True, "grub-efi"),
        ("console=ttyS0", True, "systemd-boot"),
    ],
)
def test_the_loader_follows_the_capture(tmp_path: Path, cmdline: str, efi: bool, loader: str) -> None:
    root = _fake_root(tmp_path, "qemu-k7-pc-4G")
    (root / "proc/cmdline").write_text(cmdline + "\n")
    if efi:
        (root / "sys/firmware/efi").mkdir(parents=True)
    text = import_profile(_probe(root), "probed", Strategy.PMEM_MOVABLE, Diagnostics())
    assert text is not None and f"\n  loader: {loader}  # EDIT if it boots otherwise: " in text
    assert ("/sys/firmware/efi (UEFI)" in text) == efi and ("(GRUB)" in text) == cmdline.startswith("BOOT_IMAGE")


def test_boot_facts_survive_json_and_raw(tmp_path: Path) -> None:
    info = _probe(_fake_root(tmp_path, "qemu-k7-pc-4G"))
    path = tmp_path / "sysinfo.json"
    path.write_text(sysinfo_json(info))
    again = read_sysinfo(path, Diagnostics())
    assert again is not None and again.boot == info.boot
    assert raw_files(info)["boot"] == f"initrd {INITRD_SIZE} {OWN} {OWN}\nefi no\n".encode()
    assert raw_files(again)["boot"] == raw_files(info)["boot"]


def test_malformed_boot_file_is_LC426() -> None:
    diags = Diagnostics()
    assert parse_boot("initrd 12 /boot/initrd.img /boot/initrd.img\ninitrd 7M /x /x\n", "raw/boot", diags) is None
    assert render_text(diags) == (
        "raw/boot:2:1: error[LC426]: not a boot capture line: 'initrd 7M /x /x'\n"
        "  = rule: the boot capture has 'initrd SIZE PATH TARGET' or 'initrd none', and 'efi yes|no' lines\n"
        "  = hint: write it with 'layoutc probe --raw DIR' on the device\n"
    )
    assert parse_boot("initrd none\nefi yes\n", "b", Diagnostics()) == BootFacts(None, True)
