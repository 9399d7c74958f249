"""Shared helpers of the device tree tests: the QEMU-made DTBs (data/README.md) and external tools."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
QEMU_DTBS = ("virt-4G", "virt-8G-numa2")


def qemu_dtb(name: str) -> bytes:
    """A DTB dumped by QEMU's arm64 virt machine, as QEMU wrote it (1 MiB with free space)."""
    return gzip.decompress((DATA / f"{name}.dtb.gz").read_bytes())


def tool(name: str) -> str:
    """Path of an external tool; missing fails under CI=true and skips otherwise."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (requirements/apt-test.txt, under # devicetree)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def dts_of(path: Path) -> str:
    """``dtc -I dtb -O dts`` of a file: dtc's own reading, the independent check."""
    result = run(tool("dtc"), "-I", "dtb", "-O", "dts", str(path))
    assert result.returncode == 0, result.stderr
    return result.stdout
