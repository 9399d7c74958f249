"""``layoutc probe`` in the production guest (probezip, pyrt, probe_main) and the host side of its round trip.

Fast: no QEMU. The boots themselves are checked by test_lab_boot.py ("probe ran in the guest").
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest

from layoutc.lab.boot.serial import parse_serial
from layoutc.lab.image import probezip, pyrt
from layoutc.lab.layout_dir import load_layout
from layoutc.lab.run import probe_fact, write_probe_files

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CAPTURE_4G = Path(__file__).resolve().parents[1] / "captures" / "qemu-k7-pc-4G"
needs_python311 = pytest.mark.skipif(not pyrt.PYTHON.is_file(), reason="no /usr/bin/python3.11")


def _frame(name: str, data: bytes) -> str:
    return f"LAYOUTC-BEGIN {name}\n{base64.b64encode(data).decode()}\nLAYOUTC-END {name}\n"


def _fake_root(root: Path) -> Path:
    """A device tree under ``root`` from the 4 GiB capture (no lsmem sysfs, no kmsg: probe notes them)."""
    for rel, name in (
        ("proc/iomem", "iomem"),
        ("proc/zoneinfo", "zoneinfo"),
        ("proc/cmdline", "cmdline"),
        ("proc/sys/kernel/osrelease", "uname-r"),
        ("sys/devices/system/memory/block_size_bytes", "block_size_bytes"),
    ):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CAPTURE_4G / name, root / rel)
    return root


@needs_python311
def test_probe_zipapp_runs_on_a_bare_interpreter_without_site_packages(tmp_path: Path) -> None:
    # -I -S: no site-packages (no PyYAML, jsonschema, jinja2) and no host layoutc: only the zipapp's modules
    pyz = probezip.build(tmp_path / "probe.pyz")
    root, raw = _fake_root(tmp_path / "root"), tmp_path / "raw"
    argv = [str(pyrt.PYTHON), "-I", "-S", str(pyz), "--root", str(root), "--raw", str(raw)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in raw.iterdir()} >= {"block_size_bytes", "cmdline", "iomem", "zoneinfo", "uname-r"}
    assert (raw / "block_size_bytes").read_text().strip() == (CAPTURE_4G / "block_size_bytes").read_text().strip()
    assert "LC418" in proc.stderr  # lsmem and dmesg are missing in the fake tree: noted, not fatal


@needs_python311
def test_probe_zipapp_exit_code_when_iomem_is_unreadable(tmp_path: Path) -> None:
    pyz = probezip.build(tmp_path / "probe.pyz")
    argv = [str(pyrt.PYTHON), "-I", "-S", str(pyz), "--root", str(tmp_path / "none"), "--raw", str(tmp_path / "r")]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1 and "LC401" in proc.stderr
    assert not (tmp_path / "r").exists()


@needs_python311
def test_guest_files_ship_the_interpreter_the_zipapp_and_probe_s_stdlib(tmp_path: Path) -> None:
    files = probezip.guest_files(tmp_path)
    lib = pyrt.PY_LIB[1:]
    assert probezip.PYZ in files and "usr/bin/python3" in files
    for module in ("subprocess", "shutil", "json/__init__", "argparse", "dataclasses", "pathlib", "os"):
        assert f"{lib}/{module}.pyc" in files, module
    assert not any(name.endswith(".py") for name in files)  # sourceless stdlib
    assert not any("site-packages" in name or "yaml" in name for name in files)


@pytest.mark.skipif(shutil.which("sh") is None, reason="no sh")
def test_probe_stage_parses_with_sh() -> None:
    subprocess.run(["sh", "-n"], input=probezip.STAGE.encode(), check=True)


def test_probe_fact_names_the_exit_code_and_what_was_written(tmp_path: Path) -> None:
    ok = parse_serial(
        b'LAYOUTC-OBS {"kind":"probe","rc":0,"start":"4.03","end":"5.92"}\n'
        + _frame("probe/iomem", b"00000000-00000fff : Reserved\n").encode()
        + _frame("probe/../evil", b"x").encode()
    )
    fact = probe_fact(ok)
    assert (fact.name, fact.status, fact.observed) == ("probe ran in the guest", "pass", "exit 0")
    assert "1.89 s" in fact.detail and "iomem" in fact.detail
    dest = write_probe_files(ok, tmp_path / "probe")
    assert [p.name for p in dest.iterdir()] == ["iomem"] and not (tmp_path / "evil").exists()

    failed = parse_serial(b'LAYOUTC-OBS {"kind":"probe","rc":1,"start":"4","end":"5"}\n'
                          + _frame("probe-output", b"error[LC401]: cannot read /proc/iomem\n").encode())  # fmt: skip
    fact = probe_fact(failed)
    assert (fact.status, fact.observed) == ("fail", "exit 1") and "LC401" in fact.detail
    assert probe_fact(parse_serial(b"LAYOUTC-DONE\n")).status == "fail"


def test_probe_round_trip_imports_compiles_and_compares(tmp_path: Path) -> None:
    from layoutc.lab.facts.roundtrip import probe_roundtrip

    same = probe_roundtrip(load_layout(FIXTURES / "qemu-4g"), CAPTURE_4G, tmp_path / "a")
    assert [(f.name, f.status) for f in same] == [
        ("round trip: RAM map", "pass"), ("round trip: block size", "pass"), ("round trip: SRAT", "pass"),
    ], same  # fmt: skip
    assert (tmp_path / "a" / "probed-compiled" / "layout.json").is_file()
    other = probe_roundtrip(load_layout(FIXTURES / "qemu-8g-numa2"), CAPTURE_4G, tmp_path / "b")
    assert other[0].status == "fail" and "node 1" in other[0].predicted and "node 1" not in other[0].observed
