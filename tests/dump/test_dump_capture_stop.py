"""capture.sh stopping a real (slowed) dumper: on its own timeout, or when systemd stops the unit.

Either way the dumper gets SIGTERM, never SIGKILL first, so the vmcore ends up marked INCOMPLETE
(kdump header flag), checksummed, with the INCOMPLETE marker file, and capture.sh exits 43.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import kdump_layout
import vmcore_fixtures as fixtures
from test_dump_faults import INCOMPLETE
from test_dump_signals import SLOW
from tests.artifacts.helpers import stub
from tests.artifacts.test_capture import CrashKernel, verify

from conftest import SRC


def crash_kernel(tmp_path: Path) -> CrashKernel:
    ck = CrashKernel(tmp_path, "qemu-4g")
    fixtures.standard().write(str(ck.root / "proc/vmcore"))
    (ck.root / "etc/layoutc").mkdir(parents=True, exist_ok=True)
    shutil.copy(ck.device / "filter.json", ck.root / "etc/layoutc/filter.json")
    (tmp_path / "slow.py").write_text(SLOW)
    stub(ck.bin, "layoutc", f'[ "$1" = dump ] && shift\nexec {sys.executable} {tmp_path / "slow.py"} "$@"')
    return ck


def start(ck: CrashKernel, tmp_path: Path, **env: str) -> subprocess.Popen[str]:
    full = {
        "PATH": f"{ck.bin}:/usr/sbin:/usr/bin:/sbin:/bin",
        "LAYOUTC_ROOT": str(ck.root),
        "STUB_LOG": str(tmp_path / "stub.log"),
        "LAYOUTC_WAIT_SECONDS": "0",
        "LC_ALL": "C",
        "PYTHONPATH": str(SRC),
        "READY": str(tmp_path / "ready"),
        **env,
    }
    cmd = ["sh", str(ck.device / "capture.sh")]
    return subprocess.Popen(cmd, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def check_incomplete(ck: CrashKernel, proc: subprocess.Popen[str]) -> str:
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 43, err
    assert "Traceback" not in err
    assert "dumper exited with 4" in (ck.mnt / "INCOMPLETE").read_text()
    assert not (ck.mnt / "COMPLETE").exists()
    assert kdump_layout.read(str(ck.mnt / "vmcore")).status & INCOMPLETE
    verify(ck.mnt)
    return err


def test_sigterm_to_capture_reaches_the_dumper(tmp_path: Path) -> None:
    """systemd's stop or start timeout with KillMode=mixed: SIGTERM to capture.sh alone."""
    ck = crash_kernel(tmp_path)
    proc = start(ck, tmp_path)
    deadline = time.monotonic() + 20
    while not (tmp_path / "ready").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (tmp_path / "ready").exists(), proc.communicate(timeout=5)
    proc.send_signal(signal.SIGTERM)
    assert "stop requested: stopping the dumper (SIGTERM)" in check_incomplete(ck, proc)


def test_capture_timeout_stops_the_dumper_with_sigterm(tmp_path: Path) -> None:
    ck = crash_kernel(tmp_path)
    proc = start(ck, tmp_path, LAYOUTC_DUMP_TIMEOUT="1", LAYOUTC_DUMP_GRACE="20")
    err = check_incomplete(ck, proc)
    assert "the dump did not finish in 1s: stopping the dumper (SIGTERM)" in err
    assert "interrupted by SIGTERM; the dump is INCOMPLETE" in err
