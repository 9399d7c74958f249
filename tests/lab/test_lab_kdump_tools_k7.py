"""Debian's kdump-tools on Debian's 7.2 kernel with the collector diverted (``lab_more``): qemu-4g-debian-kdump-k7
states Debian 12's makedumpfile 1.7.2, which drops compound tail pages of 7.1 and later (LC261), so the cycle runs
the board's ``divert-makedumpfile.sh`` in the system and checks that layoutc's dumper, not Debian's makedumpfile,
wrote the vmcore (``--system debian --stage full --debian 7``; lab/system/kdump_cycle.py)."""

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


def test_qemu_4g_debian_kdump_k7_diverted_collector_through_a_7x_crash(tmp_path: Path) -> None:
    for tool in ("debootstrap", "sfdisk", "qemu-system-x86_64", "debugfs", "makedumpfile"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed; run sh scripts/bootstrap.sh --all")
    if os.geteuid() != 0:
        pytest.skip("debootstrap and chroot need root")
    started = time.monotonic()
    assert compile_profile(REPO / "profiles/qemu/qemu-4g-debian-kdump-k7.yaml", tmp_path / "compiled") == 0
    report = run_lab(tmp_path / "compiled", kernel="7", stage="full", out_dir=tmp_path / "out",
                     options=LabOptions(system="debian", timeout=900.0))  # fmt: skip
    print(f"wall {time.monotonic() - started:.0f} s")
    assert report.kernel.startswith("7.2."), report.to_text()
    assert report.stage == "kdump-tools cycle (Debian system)", report.to_text()
    assert not report.problems, report.to_text()
    assert report.verdict == "pass", report.to_text()
    # every checked fact passes; "info" facts are observations with nothing predicted (the kdump initrd's name)
    assert [f.status for f in report.facts if f.status != "pass"] == ["info"], report.to_text()
    facts = {f.name: f for f in report.facts}
    assert facts["kdump initrd built by kdump-tools' kernel hook at boot (/var/lib/kdump)"].status == "info"
    for name in ("the collector diverted to layoutc's dumper (divert-makedumpfile.sh in the system)",
                 "the diverted collector (layoutc's dumper) wrote the vmcore",
                 "crash boot ran makedumpfile with layoutc's MAKEDUMP_ARGS",
                 "kdump-tools saved a dump under KDUMP_COREDIR", "drgn opens the dump"):  # fmt: skip
        assert facts[name].status == "pass", report.to_text()
