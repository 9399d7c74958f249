"""``--system debian --stage full``: the host side of the cycle (pure: serial logs made here), and the cycle itself
in the Debian system (``lab_more``: see docs/lab.md "A Debian system" for where it stops)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from layoutc.lab.facts.boot_facts import Fact
from layoutc.lab.report import Report
from layoutc.lab.run import LabOptions, run_lab
from layoutc.lab.system import cycle
from layoutc.lab.verb import compile_profile

REPO = Path(__file__).resolve().parents[2]
ENTRY = b"Booting `Debian GNU/Linux'\r\n"
RECOVERY = b"Booting `Crash dump recovery (qemu-4g-debian)'\r\n"


def test_watch_stops_a_loop_and_a_stuck_boot_after_the_crash() -> None:
    assert not cycle.watch(1.0, ENTRY + b"LAYOUTC-PANIC\n[ 0.0] Linux version 6.1\n")
    assert not cycle.watch(1.0, ENTRY + b"x" + RECOVERY + b"Loading, please wait...\n")
    assert cycle.watch(1.0, ENTRY + RECOVERY + b"No root device specified. Boot arguments must include a root=")
    assert not cycle.watch(1.0, ENTRY + RECOVERY + b"LAYOUTC-START 6.1\n(initramfs) is not here\n")
    assert cycle.watch(1.0, ENTRY + RECOVERY + ENTRY)


def test_crash_facts_read_the_panic_and_capture_exit_code() -> None:
    part = ENTRY + b"LAYOUTC-DONE\nLAYOUTC-PANIC\n[ 0.0] Linux version 6.1.0\n"
    part += b"layoutc: capture.sh exited 44; rebooting\n"
    facts = {f.name: f for f in cycle.crash_facts(part)}
    assert facts["crash kernel booted (kexec -p of layoutc-arm.service)"].status == "pass"
    capture = facts["capture.sh in the crash initramfs (layoutc initramfs --root)"]
    assert (capture.status, capture.observed) == ("fail", "exit 44")
    assert [f.status for f in cycle.crash_facts(ENTRY + b"LAYOUTC-DONE\n")] == ["fail"]


def _full(tmp_path: Path) -> tuple[Report, dict[str, Fact]]:
    for tool in ("debootstrap", "sfdisk", "debugfs", "qemu-system-x86_64"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed; run sh scripts/bootstrap.sh --all")
    if os.geteuid() != 0:
        pytest.skip("debootstrap and chroot need root")
    started = time.monotonic()
    assert compile_profile(REPO / "profiles/qemu/qemu-4g-debian.yaml", tmp_path / "compiled") == 0
    report = run_lab(tmp_path / "compiled", kernel="6.1", stage="full", out_dir=tmp_path / "out",
                     options=LabOptions(system="debian", timeout=300.0))  # fmt: skip
    print(f"wall {time.monotonic() - started:.0f} s")
    assert not report.problems, report.to_text()
    return report, {f.name: f for f in report.facts}


@pytest.mark.lab  # CI: it also checks every fact of the boot stage (test_lab_system.py, now lab_more)
def test_qemu_4g_debian_full_crash_cycle_in_the_debian_system(tmp_path: Path) -> None:
    """The whole cycle in one QEMU (docs/lab.md "A Debian system"): capture.sh mounts the grubenv file system
    (recovery.grubenv_device, its driver from crash.modules) and selects the recovery entry, GRUB boots it with
    the root 45_layoutc_recovery names, recover.sh stores the dump and re-arms: every fact passes."""
    report, facts = _full(tmp_path)
    assert report.verdict == "pass", report.to_text()
    assert facts["capture.sh in the crash initramfs (layoutc initramfs --root)"].observed == "exit 0"
    for name in ("layoutc install --root (the board laid into the system's root)",
                 "layoutc initramfs --root (the crash initramfs from the system's files)",
                 "grub-install in the system (first boot)", "update-grub in the system (first boot)",
                 "GRUB (MBR, grub-install) booted Debian's entry", "PID 1", "System RAM above 1 MiB",
                 "crash kernel reservation", "initrd placement (grub-bios)", "no failed layoutc units",
                 "layoutc-arm.service armed the crash kernel at boot", "window inside ZONE_MOVABLE",
                 "the recovery entry in grub.cfg names the root (root=)",
                 "GRUB booted the recovery entry after the crash (grubenv next_entry)",
                 "layoutc-recover.service stored the dump and returned the window",
                 "stored dump is a complete kdump file of the crashed kernel"):  # fmt: skip
        assert facts[name].status == "pass", report.to_text()
    cmdline = facts["kernel command line"].observed.split()
    assert [w for w in cmdline if w.startswith("crashkernel=")] == ["crashkernel=256M"]  # not kdump-tools.cfg's


def test_entry_linux_line_finds_the_recovery_entry_by_id() -> None:
    cfg = ("menuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'gnulinux-simple-x' {\n"
           "\tlinux\t/boot/vmlinuz-6.1 root=UUID=1 ro console=ttyS0\n}\n"
           "menuentry 'Crash dump recovery (b)' --id 'layoutc-recovery-b' {\n"
           "\tsearch --no-floppy --file --set=root '/boot/vmlinuz-6.1'\n"
           "\tlinux '/boot/vmlinuz-6.1' console=ttyS0 memmap=272M!0x127000000\n}\n")  # fmt: skip
    line = cycle.entry_linux_line(cfg, "layoutc-recovery-b")
    assert line == "linux '/boot/vmlinuz-6.1' console=ttyS0 memmap=272M!0x127000000"
    assert cycle.entry_linux_line(cfg, "layoutc-recovery-c") is None
