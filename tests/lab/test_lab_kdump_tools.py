"""Debian's own kdump-tools through a real crash, configured by layoutc (``crash.stack: kdump-tools``): the Debian
system lab boots qemu-4g-debian-kdump through GRUB BIOS, kdump-tools.service loads its crash kernel into layoutc's
reservation with layoutc's crash words, the panic's crash boot runs makedumpfile with layoutc's MAKEDUMP_ARGS into
/var/crash, the system reboots and the host reads the dump back (lab/system/kdump_cycle.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from layoutc.lab.system.kdump_cycle import run_kdump_tools
from layoutc.lab.verb import compile_profile

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.lab_more


def test_kdump_tools_saves_a_dump_with_layoutcs_configuration(tmp_path: Path) -> None:
    for tool in ("debootstrap", "sfdisk", "qemu-system-x86_64", "debugfs", "makedumpfile"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed; run sh scripts/bootstrap.sh --all")
    if os.geteuid() != 0:
        pytest.skip("debootstrap and chroot need root")
    assert compile_profile(REPO / "profiles/qemu/qemu-4g-debian-kdump.yaml", tmp_path / "compiled") == 0
    report = run_kdump_tools(tmp_path / "compiled", tmp_path / "out", kernel="6.1", timeout=900.0)
    assert not report.problems, report.to_text()
    assert report.verdict == "pass", report.to_text()
