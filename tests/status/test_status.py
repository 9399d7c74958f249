"""``layoutc status`` on fake device roots: each state of the crash cycle, its verdict and exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from layoutc.dump.exit_codes import ExitCode
from layoutc.status.__main__ import main

from ..conftest import REPO
from .device import BOOT_ID, WINDOW_START, Device

SCHEMA = json.loads((REPO / "schemas" / "cli" / "v1" / "status.schema.json").read_text())


def run(root: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, object]]:
    code = main(["--root", str(root), "--format", "json", *extra])
    out = capsys.readouterr().out
    doc = json.loads(out)
    errors = [e.message for e in Draft202012Validator(SCHEMA).iter_errors(doc)]
    assert not errors, errors
    assert doc["exit_code"] == code
    return code, doc


def levels(doc: dict[str, object]) -> dict[str, str]:
    checks = doc["checks"]
    assert isinstance(checks, list)
    return {c["name"]: c["level"] for c in checks}


def test_armed_with_a_reservation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Device(tmp_path).cmdline("production").armed().blocks()
    code, doc = run(tmp_path, capsys)
    assert code == ExitCode.OK
    assert (doc["state"], doc["boot"], doc["window"], doc["dump"]) == ("armed", "production", "movable-ram", "none")
    assert levels(doc)["reservation (/proc/iomem Crash kernel)"] == "ok"


def test_armed_with_crash_cma_through_the_new_sysfs_directory(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    dev = Device(tmp_path, "qemu-4g-cma").cmdline("production")
    dev.armed(crash_size=96 << 20, iomem_size=96 << 20, crash_start=0xB7000000, new_abi=True).blocks()
    dev.cma("100000000-10fffffff\n")
    code, doc = run(tmp_path, capsys)
    assert (code, doc["state"]) == (ExitCode.OK, "armed")
    assert levels(doc)["crash CMA"] == "ok"


def test_crash_cma_smaller_than_the_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dev = Device(tmp_path, "qemu-4g-cma").cmdline("production")
    dev.armed(crash_size=96 << 20, iomem_size=96 << 20, crash_start=0xB7000000).blocks()
    dev.write("proc/meminfo", "CmaTotal:         131072 kB\n")
    code, doc = run(tmp_path, capsys)
    assert (code, levels(doc)["crash CMA"]) == (ExitCode.STATUS_MISMATCH, "mismatch")


def test_not_loaded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Device(tmp_path).cmdline("production").armed(loaded=0).blocks()
    code, doc = run(tmp_path, capsys)
    assert (code, doc["state"]) == (ExitCode.STATUS_NOT_ARMED, "not-armed")


def test_a_reservation_smaller_than_the_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Device(tmp_path).cmdline("production").armed(crash_size=128 << 20, iomem_size=128 << 20).blocks()
    code, doc = run(tmp_path, capsys)
    assert (code, doc["state"]) == (ExitCode.STATUS_MISMATCH, "mismatch")
    lv = levels(doc)
    assert lv["reservation (/proc/iomem Crash kernel)"] == lv["kexec_crash_size"] == "mismatch"


def test_a_cmdline_without_the_layout_parameters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dev = Device(tmp_path).armed().blocks()
    dev.write("proc/cmdline", "console=ttyS0 crashkernel=256M\n")
    code, doc = run(tmp_path, capsys)
    assert (code, levels(doc)["cmdline (production)"]) == (ExitCode.STATUS_MISMATCH, "mismatch")


def test_window_online_outside_zone_movable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Device(tmp_path).cmdline("production").armed().blocks(zones="Normal")
    code, doc = run(tmp_path, capsys)
    assert (code, doc["window"]) == (ExitCode.STATUS_MISMATCH, "ram")


def test_window_as_pmem_with_a_pending_dump(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Device(tmp_path).cmdline("recovery").armed(loaded=0).pmem()
    code, doc = run(tmp_path, capsys)
    assert (code, doc["state"], doc["boot"]) == (ExitCode.STATUS_DUMP_PENDING, "dump-pending", "recovery")
    assert (doc["window"], doc["dump"]) == ("pmem", "pending")


def test_window_as_pmem_without_a_dump_is_held(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Device(tmp_path).cmdline("recovery").armed().pmem(magic=b"\0\0")
    code, doc = run(tmp_path, capsys)
    assert (code, doc["state"], doc["dump"]) == (ExitCode.STATUS_WINDOW_HELD, "window-held", "none")


def test_a_window_whose_magic_cannot_be_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Device(tmp_path).cmdline("recovery").armed().pmem(magic=None)
    code, doc = run(tmp_path, capsys)
    assert (code, doc["state"], doc["dump"]) == (ExitCode.STATUS_UNREADABLE, "unreadable", "unreadable")


def test_a_dump_stored_in_this_boot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Device(tmp_path).cmdline("recovery").armed().pmem().state(f"released-{BOOT_ID}", "stored-x1", "uploaded-x1")
    code, doc = run(tmp_path, capsys)
    assert (code, doc["dump"]) == (ExitCode.STATUS_WINDOW_HELD, "handled")


def test_window_devdax(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Device(tmp_path).cmdline("recovery").armed(loaded=0).dax("device_dax")
    code, doc = run(tmp_path, capsys)
    assert (code, doc["window"]) == (ExitCode.STATUS_WINDOW_HELD, "devdax")


def test_window_given_back_as_system_ram(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    last = f"rc=0\nboot={BOOT_ID}\ntime=20260101T000000Z\ndump=abc-1\ncapture=COMPLETE\n"
    Device(tmp_path).cmdline("recovery").armed().dax("kmem").state("stored-abc-1", "uploaded-abc-1", last=last)
    code, doc = run(tmp_path, capsys)
    assert (code, doc["state"], doc["window"]) == (ExitCode.OK, "armed", "system-ram")
    assert doc["last_recovery"] == {"rc": "0", "boot": BOOT_ID, "time": "20260101T000000Z", "dump": "abc-1",
                                    "capture": "COMPLETE"}  # fmt: skip


def test_a_stored_dump_waiting_for_its_upload(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Device(tmp_path).cmdline("recovery").armed().dax("kmem").state("stored-abc-1", "stored-abc-2", "uploaded-abc-1")
    code, doc = run(tmp_path, capsys)
    assert (code, doc["pending_uploads"]) == (ExitCode.STATUS_DUMP_PENDING, ["abc-2"])


def test_window_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Device(tmp_path).cmdline("production").armed().blocks(indexes=())
    code, doc = run(tmp_path, capsys)
    assert (code, doc["window"]) == (ExitCode.STATUS_MISMATCH, "absent")


def test_offline_window_blocks_are_held(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Device(tmp_path).cmdline("production").armed().blocks(state="offline")
    code, doc = run(tmp_path, capsys)
    assert (code, doc["window"]) == (ExitCode.STATUS_WINDOW_HELD, "offline")


def test_no_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Device(tmp_path).cmdline("production").armed().blocks()
    code, doc = run(tmp_path, capsys, "--layout", str(tmp_path / "missing.json"))
    assert (code, doc["state"], levels(doc)["crash kernel loaded"]) == (ExitCode.STATUS_UNREADABLE, "unreadable", "ok")


def test_hidden_iomem_addresses_are_unreadable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dev = Device(tmp_path).cmdline("production").armed().blocks()
    dev.write("proc/iomem", "00000000-00000000 : System RAM\n  00000000-00000000 : Crash kernel\n")
    code, _ = run(tmp_path, capsys)
    assert code == ExitCode.STATUS_UNREADABLE


ARMED_TEXT = f"""\
layoutc status: armed (exit 0)
board qemu-4g, production boot, layout {{root}}/usr/lib/layoutc/layout.json
ok           crash kernel loaded: expected 1, observed 1 (/sys/kernel/kexec_crash_loaded)
ok           cmdline (production): expected crashkernel=256M movablecore=512M nokaslr, observed all present \
(/proc/cmdline)
info         crash cmdline: expected console=ttyS0 memmap=272M!0x127000000 irqpoll nr_cpus=1 reset_devices, \
observed not exposed by the kernel (what arm.sh passes to kexec --append)
ok           reservation (/proc/iomem Crash kernel): expected 256 MiB, observed 256 MiB ([0xad000000, 0xbd000000))
ok           kexec_crash_size: expected 268435456, observed 268435456 (/sys/kernel/kexec_crash_size)
ok           window: expected movable-ram, observed movable-ram ([{WINDOW_START:#x}, 0x138000000) 272 MiB: \
memory blocks 36-38 online in ZONE_MOVABLE)
ok           dump in window: expected none, observed none (the window is movable-ram)
ok           uploads: expected none pending, observed none pending (/var/lib/layoutc)
info         last recovery: expected -, observed none recorded (/var/lib/layoutc/last-recovery)
"""

PENDING_TEXT = """\
layoutc status: dump-pending (exit 12)
board qemu-4g, recovery boot, layout {root}/usr/lib/layoutc/layout.json
not-armed    crash kernel loaded: expected 1, observed 0 (/sys/kernel/kexec_crash_loaded)
ok           cmdline (recovery): expected crashkernel=256M memmap=272M!0x127000000 \
memory_hotplug.memmap_on_memory=0 memhp_default_state=offline, observed all present (/proc/cmdline)
info         crash cmdline: expected console=ttyS0 memmap=272M!0x127000000 irqpoll nr_cpus=1 reset_devices, \
observed not exposed by the kernel (what arm.sh passes to kexec --append)
ok           reservation (/proc/iomem Crash kernel): expected 256 MiB, observed 256 MiB ([0xad000000, 0xbd000000))
ok           kexec_crash_size: expected 268435456, observed 268435456 (/sys/kernel/kexec_crash_size)
window-held  window: expected system-ram, observed pmem ([0x127000000, 0x138000000) 272 MiB: /dev/pmem0)
dump-pending dump in window: expected none, observed pending (/dev/pmem0 holds capture.sh's filesystem \
(ext4 magic at byte 1080) not yet recovered)
ok           uploads: expected none pending, observed none pending (/var/lib/layoutc)
info         last recovery: expected -, observed none recorded (/var/lib/layoutc/last-recovery)
"""


@pytest.mark.parametrize("case", ["armed", "pending"])
def test_the_text_output(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    dev = Device(tmp_path)
    if case == "armed":
        dev.cmdline("production").armed().blocks()
    else:
        dev.cmdline("recovery").armed(loaded=0).pmem()
    code = main(["--root", str(tmp_path)])
    want = (ARMED_TEXT if case == "armed" else PENDING_TEXT).replace("{root}", str(tmp_path))
    assert capsys.readouterr().out == want
    assert code == (ExitCode.OK if case == "armed" else ExitCode.STATUS_DUMP_PENDING)


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--format", "yaml"]) == ExitCode.USAGE
    assert "invalid choice" in capsys.readouterr().err


def test_layoutc_status_verb(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    Device(tmp_path).cmdline("production").armed(loaded=0).blocks()
    result = run_cli("status", "--root", str(tmp_path), "--format", "json")
    assert (result.code, json.loads(result.out)["state"]) == (ExitCode.STATUS_NOT_ARMED, "not-armed")


def test_the_device_zipapp_runs_status_without_the_compiler(tmp_path: Path) -> None:
    """The device zipapp on a bare interpreter (-S: no site-packages, so no installed layoutc, no jsonschema)."""
    import subprocess
    import sys

    from layoutc.dump import zipapp

    pyz = tmp_path / "layoutc-device.pyz"
    zipapp.build(str(pyz))
    root = tmp_path / "root"
    Device(root).cmdline("recovery").armed(loaded=0).pmem()
    proc = subprocess.run([sys.executable, "-S", "-m", "layoutc.status", "--root", str(root), "--format", "json"],
                          env={"PYTHONPATH": str(pyz)}, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip
    assert proc.returncode == ExitCode.STATUS_DUMP_PENDING, proc.stderr
    assert json.loads(proc.stdout)["dump"] == "pending"
