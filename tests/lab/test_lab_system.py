"""The Debian system lab end to end: build (or reuse) the image, install the board, boot it through GRUB BIOS to
systemd and read the facts (about 4 minutes from a warm cache, 7 from a cold one on two cores)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from layoutc.lab.run import LabOptions, run_lab
from layoutc.lab.verb import compile_profile

REPO = Path(__file__).resolve().parents[2]
# on demand: the full crash cycle (test_lab_system_cycle.py, CI) runs this boot and checks every one of its facts
pytestmark = [pytest.mark.lab, pytest.mark.lab_more]


def test_qemu_4g_debian_boots_a_debian_system_through_grub_to_systemd(tmp_path: Path) -> None:
    for tool in ("debootstrap", "sfdisk", "qemu-system-x86_64"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed; run sh scripts/bootstrap.sh --all")
    if os.geteuid() != 0:
        pytest.skip("debootstrap and chroot need root")
    assert compile_profile(REPO / "profiles/qemu/qemu-4g-debian.yaml", tmp_path / "compiled") == 0
    report = run_lab(tmp_path / "compiled", kernel="6.1", out_dir=tmp_path / "out",
                     options=LabOptions(system="debian", timeout=300.0))  # fmt: skip
    facts = {f.name: f for f in report.facts}
    assert not report.problems, report.to_text()
    # every fact passes: the disk-boot map, GRUB's initrd placement, the crash reservation where the layout
    # says (layoutc's crashkernel= the only one beside kdump-tools.cfg), the units
    assert report.verdict == "pass", report.to_text()
    assert not [f.name for f in report.facts if f.status not in ("pass", "info", "skip")], report.to_text()
    for name in ("layoutc install --root (the board laid into the system's root)",
                 "layoutc initramfs --root (the crash initramfs from the system's files)",
                 "grub-install in the system (first boot)", "update-grub in the system (first boot)",
                 "GRUB (MBR, grub-install) booted Debian's entry", "PID 1", "System RAM above 1 MiB",
                 "crash kernel reservation", "initrd placement (grub-bios)", "no failed layoutc units",
                 "layoutc-arm.service armed the crash kernel at boot", "window inside ZONE_MOVABLE"):  # fmt: skip
        assert facts[name].status == "pass", report.to_text()
    cmdline = facts["kernel command line"].observed.split()
    assert cmdline[0].startswith("BOOT_IMAGE=/boot/vmlinuz-6.1.")
    assert [w for w in cmdline if w.startswith("crashkernel=")] == ["crashkernel=256M"]  # not kdump-tools.cfg's
    assert {"movablecore=512M", "nokaslr"} <= set(cmdline)  # layoutc.cfg through update-grub
    assert facts["boot time to the stage unit"].status == "info"
