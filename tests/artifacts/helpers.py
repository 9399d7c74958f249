"""Shared helpers of the device-artifact tests: bundled cases, rendering, tools, fake roots, stubs."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.frontend.load import load_profile
from layoutc.model import layout_json
from layoutc.model.profile import Profile
from layoutc.render.device import device_artifacts
from layoutc.solve import solve

from ..conftest import REPO

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"

# every concrete bundled profile, by board name (family bases are abstract and never compiled)
CASES = {
    "arm64-8g": "profiles/arm64/arm64-8g.yaml",
    "arm64-chromebook-4g": "profiles/arm64/chromebook-4g.yaml",
    "arm64-chromebook-8g": "profiles/arm64/chromebook-8g.yaml",
    "arm64-server-8g-2node": "profiles/arm64/server-8g-2node.yaml",
    "chromebook-4g": "profiles/chromebook/board-4g.yaml",
    "chromebook-8g": "profiles/chromebook/board-8g.yaml",
    "origin-thread-4g": "profiles/origin-thread-4g.yaml",
    "qemu-2g-cma": "profiles/qemu/qemu-2g-cma.yaml",
    "qemu-4g": "profiles/qemu/qemu-4g.yaml",
    "qemu-4g-cma": "profiles/qemu/qemu-4g-cma.yaml",
    "qemu-4g-cma-disk": "profiles/qemu/qemu-4g-cma-disk.yaml",
    "qemu-4g-debian": "profiles/qemu/qemu-4g-debian.yaml",
    "qemu-4g-debian-k7": "profiles/qemu/qemu-4g-debian-k7.yaml",
    "qemu-4g-debian-kdump": "profiles/qemu/qemu-4g-debian-kdump.yaml",
    "qemu-4g-debian-kdump-k7": "profiles/qemu/qemu-4g-debian-kdump-k7.yaml",
    "qemu-8g-numa2": "profiles/qemu/qemu-8g-numa2.yaml",
    "qemu-q35-8g-k61": "profiles/qemu/qemu-q35-8g-k61.yaml",
    "server-64g-2node": "profiles/server/server-64g-2node.yaml",
}

# boards built in the tests (arm64_board.py): arm64 pmem windows with the lab's measured numbers
TEST_BOARDS = ("arm64-virt-4g", "arm64-virt-4g-reboot")


def tool(name: str) -> str:
    """Path of an external tool; missing fails under CI=true and skips otherwise."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (requirements/apt-test.txt; sh scripts/bootstrap.sh --all)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def profile(name: str) -> Profile:
    diags = Diagnostics()
    loaded = load_profile(REPO / CASES[name], CASES[name], diags)
    assert loaded is not None, diags
    return loaded


def layout(name: str, prof: Profile | None = None) -> dict[str, Any]:
    """The real compiler's layout.json document for a bundled profile (solve, then serialize)."""
    diags = Diagnostics()
    solved = solve(prof or profile(name), diags)
    assert solved is not None, diags
    data: dict[str, Any] = json.loads(layout_json.write(solved))
    return data


def board(name: str) -> tuple[Profile, dict[str, Any]]:
    """(profile, layout.json document) of a bundled profile or of a test board (TEST_BOARDS)."""
    if name in TEST_BOARDS:
        from layoutc.model.layout_json import read

        from .arm64_board import board as arm64_board

        return arm64_board(name, profile("arm64-chromebook-4g"), read(layout("arm64-chromebook-4g")))
    return profile(name), layout(name)


def artifacts(prof: Profile, doc: dict[str, Any]) -> dict[str, bytes]:
    """The device files of a layout.json document (read back into the typed Layout first)."""
    return {a.relpath: a.content for a in device_artifacts(prof, layout_json.read(doc))}


def write_artifacts(prof: Profile, doc: dict[str, Any], out: Path) -> Path:
    for a in device_artifacts(prof, layout_json.read(doc)):
        path = out / a.relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(a.content)
        path.chmod(a.mode)
    return out / "device"


def with_recovery(prof: Profile, **changes: Any) -> Profile:
    return dataclasses.replace(prof, recovery=dataclasses.replace(prof.recovery, **changes))


def with_crash(prof: Profile, **changes: Any) -> Profile:
    return dataclasses.replace(prof, crash=dataclasses.replace(prof.crash, **changes))


def put(root: Path, rel: str, text: str | bytes) -> Path:
    path = root / rel.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def stub(bindir: Path, name: str, body: str) -> Path:
    """An executable sh stub that appends its argv (one line, NUL-free) to $STUB_LOG, then runs body."""
    path = bindir / name
    bindir.mkdir(parents=True, exist_ok=True)
    record = f'{{ printf "%s" {name}; for a in "$@"; do printf " [%s]" "$a"; done; echo; }} >>"$STUB_LOG"'
    path.write_text(f"#!/bin/sh\n{record}\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


class Run:
    def __init__(self, proc: subprocess.CompletedProcess[str], log: Path) -> None:
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.calls = log.read_text().splitlines() if log.exists() else []

    def called(self, name: str) -> list[str]:
        return [c for c in self.calls if c.split(" ", 1)[0] == name]


def run_script(script: Path, root: Path, bindir: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    log = root.parent / "stub.log"
    if log.exists():
        log.unlink()
    full = {"PATH": f"{bindir}:/usr/sbin:/usr/bin:/sbin:/bin", "LAYOUTC_ROOT": str(root),
            "STUB_LOG": str(log), "LAYOUTC_WAIT_SECONDS": "0", "LC_ALL": "C"}
    full.update(env or {})
    shell = os.environ.get("LAYOUTC_TEST_SHELL", "sh").split()
    proc = subprocess.run([*shell, str(script), *args], env=full, capture_output=True, text=True, timeout=60)
    return Run(proc, log)
