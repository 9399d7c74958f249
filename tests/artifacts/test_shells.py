"""The main flows again under bash --posix (dash runs every other test as /bin/sh).

busybox sh is not run here: it prefers its own applets (mount, logger, ...) to the stubs on PATH,
so a test would touch the real system; the scripts use only POSIX sh and busybox-available tools.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import tool
from .test_arm import Board, refused
from .test_capture import CrashKernel, grubenv, hung_selection, hung_selection_and_sync, verify
from .test_recover import NextBoot, window_fs

SHELLS = {"bash": ["bash", "--posix"]}


@pytest.fixture(params=sorted(SHELLS))
def shell(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    name: str = request.param
    tool(SHELLS[name][0])
    monkeypatch.setenv("LAYOUTC_TEST_SHELL", " ".join(SHELLS[name]))
    return name


def test_arm(tmp_path: Path, shell: str) -> None:
    b = Board(tmp_path, "qemu-4g")
    run = b.arm("production")
    assert run.code == 0 and run.called("kexec"), run.err
    b.block(37, "online", "Normal")
    refused(b.arm("production"), 12, "memory block 37")


def test_capture(tmp_path: Path, shell: str) -> None:
    ck = CrashKernel(tmp_path, "qemu-4g")
    env = grubenv(ck.root)
    run = ck.capture()
    assert run.code == 0, run.err
    verify(ck.mnt)
    assert len(env.read_bytes()) == 1024 and b"next_entry=layoutc-recovery-qemu-4g" in env.read_bytes()


def test_capture_gives_up_a_hung_boot_selection(tmp_path: Path, shell: str) -> None:
    ck = CrashKernel(tmp_path, "qemu-4g")
    run = hung_selection(ck)
    assert run.code == 44 and (ck.mnt / "COMPLETE").exists(), run.err
    ck = CrashKernel(tmp_path / "both", "qemu-4g")
    run = hung_selection_and_sync(ck)
    assert run.code == 44 and run.err.splitlines()[-1] == "layoutc-capture: the last sync did not finish in 1s"


def test_recover(tmp_path: Path, shell: str) -> None:
    nb = NextBoot(tmp_path, "qemu-4g")
    window_fs(nb.fs)
    run = nb.recover()
    assert run.code == 0 and run.called("daxctl") and (nb.stored() / "vmcore").exists(), run.err
    assert nb.recover().code == 0
