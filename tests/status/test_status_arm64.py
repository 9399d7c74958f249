"""``layoutc status`` on arm64 roots: the recovery boot is the one with the layout's recovery ``mem=`` on its
cmdline (arm.sh's ``is_recovery_boot``), not a ``memmap=`` word; the layout is compiled from
profiles/arm64/chromebook-4g.yaml (window [0x127000000, 0x138000000), crashkernel=176M, mem=3696M)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from layoutc.dump.exit_codes import ExitCode
from layoutc.status.__main__ import main

from .device import BOOT_ID, Arm64Device
from .test_status import levels, run

CRASH = {"crash_size": 176 << 20, "iomem_size": 176 << 20, "crash_start": 0xF1000000}
LAST = f"rc=0\nboot={BOOT_ID}\ntime=20260101T000000Z\ndump=abc-1\ncapture=COMPLETE\n"


def dax_start(dev: Arm64Device) -> int:
    window = dev.doc["dump_window"]
    assert isinstance(window, dict)
    start: int = window["devdax"]["dax_start"]
    return start


def test_armed_production_with_the_window_as_movable_ram(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Arm64Device(tmp_path).cmdline("production").armed(**CRASH).blocks()
    code, doc = run(tmp_path, capsys)
    assert (code, doc["state"], doc["boot"]) == (ExitCode.OK, "armed", "production")
    assert (doc["window"], doc["dump"]) == ("movable-ram", "none")
    assert levels(doc)["cmdline (production)"] == "ok"


def test_the_recovery_boot_is_told_by_its_mem_word(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Arm64Device(tmp_path, recovery_boot=True).cmdline("recovery").armed(loaded=0, **CRASH).pmem()
    code, doc = run(tmp_path, capsys)
    assert (code, doc["state"], doc["boot"]) == (ExitCode.STATUS_DUMP_PENDING, "dump-pending", "recovery")
    assert (doc["window"], doc["dump"]) == ("pmem", "pending")
    lv = levels(doc)
    assert (lv["cmdline (recovery)"], lv["reservation (/proc/iomem Crash kernel)"]) == ("ok", "ok")


def test_the_window_handed_back_as_system_ram(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dev = Arm64Device(tmp_path, recovery_boot=True).cmdline("recovery").armed(**CRASH)
    dev.dax("kmem", start=dax_start(dev)).state(f"released-{BOOT_ID}", "stored-abc-1", "uploaded-abc-1", last=LAST)
    code, doc = run(tmp_path, capsys)
    assert (code, doc["state"], doc["boot"], doc["window"]) == (ExitCode.OK, "armed", "recovery", "system-ram")
    assert levels(doc)["cmdline (recovery)"] == "ok"


def test_release_reboot_leaves_the_window_for_the_next_boot(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    dev = Arm64Device(tmp_path, recovery_boot=True)
    window = dev.doc["dump_window"]
    assert isinstance(window, dict)
    window["release"] = "reboot"
    dev.write("usr/lib/layoutc/layout.json", json.dumps(dev.doc))
    dev.cmdline("recovery").armed(**CRASH).pmem().state(f"released-{BOOT_ID}", "stored-abc-1", "uploaded-abc-1")
    code, doc = run(tmp_path, capsys)
    assert (code, doc["boot"], doc["window"], doc["dump"]) == (ExitCode.STATUS_WINDOW_HELD, "recovery", "pmem",
                                                               "handled")  # fmt: skip
    [window_check] = [c for c in doc["checks"] if c["name"] == "window"]  # type: ignore[union-attr]
    assert (window_check["expected"], window_check["observed"]) == ("pmem", "pmem")


def test_without_the_mem_word_it_is_a_production_boot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without mem= the window is RAM again: the boot is judged as production, and its cmdline lacks movablecore."""
    dev = Arm64Device(tmp_path).armed(**CRASH).blocks()
    dev.write("proc/cmdline", f"{dev.console} crashkernel=176M memhp_default_state=offline\n")
    code, doc = run(tmp_path, capsys)
    assert (code, doc["boot"], levels(doc)["cmdline (production)"]) == (ExitCode.STATUS_MISMATCH, "production",
                                                                        "mismatch")  # fmt: skip


RECOVERY_START_TEXT = """\
layoutc status: dump-pending (exit 12)
board arm64-chromebook-4g, recovery boot, layout {root}/usr/lib/layoutc/layout.json
not-armed    crash kernel loaded: expected 1, observed 0 (/sys/kernel/kexec_crash_loaded)
ok           cmdline (recovery): expected crashkernel=176M mem=3696M memory_hotplug.memmap_on_memory=0 \
memhp_default_state=offline, observed all present (/proc/cmdline)
info         crash cmdline: expected console=ttyAMA0 cma=0 irqpoll nr_cpus=1 reset_devices, observed not exposed \
by the kernel (what arm.sh passes to kexec --append)
ok           reservation (/proc/iomem Crash kernel): expected 176 MiB, observed 176 MiB ([0xf1000000, 0xfc000000))
ok           kexec_crash_size: expected 184549376, observed 184549376 (/sys/kernel/kexec_crash_size)
window-held  window: expected system-ram, observed pmem ([0x127000000, 0x138000000) 272 MiB: /dev/pmem0)
dump-pending dump in window: expected none, observed pending (/dev/pmem0 holds capture.sh's filesystem \
(ext4 magic at byte 1080) not yet recovered)
ok           uploads: expected none pending, observed none pending (/var/lib/layoutc)
info         last recovery: expected -, observed none recorded (/var/lib/layoutc/last-recovery)
"""


def test_the_text_of_the_recovery_boot_before_recover_sh(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Arm64Device(tmp_path, recovery_boot=True).cmdline("recovery").armed(loaded=0, **CRASH).pmem()
    code = main(["--root", str(tmp_path)])
    assert capsys.readouterr().out == RECOVERY_START_TEXT.replace("{root}", str(tmp_path))
    assert code == ExitCode.STATUS_DUMP_PENDING
