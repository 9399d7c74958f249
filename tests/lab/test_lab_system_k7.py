"""The Debian 12 system on Debian's 7.2 kernel (``--system debian --debian 7``, ``lab_more``): the lab's cached
7.2.13 packages installed in the bookworm root (build.lay_boot: their image copied to ``/boot``), the pmem
crash cycle of qemu-4g-debian-k7 through GRUB BIOS (docs/lab.md "A 7.x kernel in the Debian 12 system")."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from layoutc.lab.run import LabOptions, run_lab
from layoutc.lab.verb import compile_profile

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.lab_more


def test_qemu_4g_debian_k7_full_crash_cycle_on_a_7x_kernel(tmp_path: Path) -> None:
    for tool in ("debootstrap", "sfdisk", "debugfs", "qemu-system-x86_64"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed; run sh scripts/bootstrap.sh --all")
    if os.geteuid() != 0:
        pytest.skip("debootstrap and chroot need root")
    started = time.monotonic()
    assert compile_profile(REPO / "profiles/qemu/qemu-4g-debian-k7.yaml", tmp_path / "compiled") == 0
    report = run_lab(tmp_path / "compiled", kernel="7", stage="full", out_dir=tmp_path / "out",
                     options=LabOptions(system="debian", timeout=300.0))  # fmt: skip
    print(f"wall {time.monotonic() - started:.0f} s")
    assert report.kernel.startswith("7.2."), report.to_text()
    assert not report.problems, report.to_text()
    assert report.verdict == "pass", report.to_text()
    facts = {f.name: f for f in report.facts}
    for name in ("layoutc initramfs --root (the crash initramfs from the system's files)",
                 "GRUB (MBR, grub-install) booted Debian's entry", "initrd placement (grub-bios)",
                 "layoutc-arm.service armed the crash kernel at boot", "window inside ZONE_MOVABLE",
                 "GRUB booted the recovery entry after the crash (grubenv next_entry)",
                 "layoutc-recover.service stored the dump and returned the window",
                 "stored dump is a complete kdump file of the crashed kernel"):  # fmt: skip
        assert facts[name].status == "pass", report.to_text()
