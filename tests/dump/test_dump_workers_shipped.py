"""``--workers`` in the crash initramfs: a real dump under the interpreter with only the stdlib shipped there."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import run_dump
from layoutc.dump.zipapp import RUNNER
from layoutc.lab.image import crashrd, pyrt


@pytest.mark.skipif(not pyrt.PYTHON.is_file(), reason="needs /usr/bin/python3.11")
def test_two_workers_dump_on_the_shipped_modules_alone(tmp_path: Path, make_vmcore: Any) -> None:
    _, src = make_vmcore()
    pyz = crashrd.build_zipapp(tmp_path / "dump.pyz")
    root = tmp_path / "root"
    for rel, data in pyrt.python_files(crashrd.imported_modules(pyz)).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "usr/bin/python3").chmod(0o755)
    out = tmp_path / "two"
    proc = subprocess.run([str(root / "usr/bin/python3"), str(pyz), "--quiet", "--workers", "2", src, str(out)],
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, cwd="/", timeout=120,
                          check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    one = tmp_path / "one"
    assert run_dump(src, str(one)).returncode == 0
    assert out.read_bytes()[4096:] == one.read_bytes()[4096:]  # block 0 holds the dump time
    # and as capture.sh runs it (zipapp.RUNNER: -I -S -c, a filter spec read by json_scan's _json)
    spec = tmp_path / "filter.json"
    spec.write_text('{"schema_version": 1, "dump_level": 1, "compression": "zlib"}')
    device = tmp_path / "device"
    proc = subprocess.run([str(root / "usr/bin/python3"), *RUNNER[1:], str(pyz), "--quiet", "--workers", "2", "--spec",
                           str(spec), src, str(device)], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"},
                          cwd="/", timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert device.read_bytes()[4096:] == one.read_bytes()[4096:]
