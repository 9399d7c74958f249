"""``layoutc install`` on the command line: PROFILE or --from, text and JSON reports, exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from jsonschema import Draft202012Validator

from ..conftest import REPO
from .conftest import QEMU, snapshot

SCHEMA = json.loads((REPO / "schemas" / "cli" / "v1" / "install.schema.json").read_text())


def _valid(text: str) -> dict[str, object]:
    doc: dict[str, object] = json.loads(text)
    errors = [e.message for e in Draft202012Validator(SCHEMA).iter_errors(doc)]
    assert not errors, errors[:3]
    return doc


def test_install_then_again_then_uninstall(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = run_cli("install", str(QEMU), "--root", str(tmp_path))
    assert first.code == 0, first.err
    written = [line for line in first.out.splitlines() if line.startswith("written: ")]
    assert first.out.splitlines()[-1] == (f"install of board qemu-4g into {tmp_path}: {len(written)} written, "
                                          "0 removed, 0 unchanged")
    assert "written: /etc/systemd/system/multi-user.target.wants/layoutc-arm.service (link)" in written
    assert "written: /usr/lib/layoutc/dump.pyz" in written
    assert "written: /etc/kernel/install.d/91-layoutc-recovery.install" in written
    again = run_cli("install", str(QEMU), "--root", str(tmp_path))
    assert again.out == f"install of board qemu-4g into {tmp_path}: nothing to do ({len(written)} unchanged)\n"
    gone = run_cli("install", "--uninstall", "--root", str(tmp_path))
    assert gone.code == 0 and snapshot(tmp_path) == {}
    none = run_cli("install", "--uninstall", "--root", str(tmp_path))
    assert none.code == 0 and "note[LC509]: nothing to uninstall" in none.err


def test_json_reports_match_the_schema(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dry = _valid(run_cli("install", str(QEMU), "--root", str(tmp_path), "--dry-run", "--format", "json").out)
    assert dry["dry_run"] and dry["changed"] and snapshot(tmp_path) == {}
    done = _valid(run_cli("install", str(QEMU), "--root", str(tmp_path), "--format", "json").out)
    assert done["ok"] and done["board"] == "qemu-4g"
    (tmp_path / "usr" / "lib" / "layoutc" / "arm.sh").write_text("edited\n")
    refused = run_cli("install", "--uninstall", "--root", str(tmp_path), "--format", "json")
    doc = _valid(refused.out)
    assert refused.code == 4 and not doc["ok"]
    assert [d["code"] for d in doc["diagnostics"]] == ["LC503"]  # type: ignore[index, union-attr]


def test_an_escaping_link_exits_4_with_lc501(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "etc").symlink_to("/etc")
    result = run_cli("install", str(QEMU), "--root", str(tmp_path))
    assert result.code == 4 and "error[LC501]: /etc/default/grub.d/layoutc.cfg: /etc is a symbolic link" in result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["etc"]


def test_usage(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run_cli("install", "--root", str(tmp_path)).code == 2
    assert run_cli("install", str(QEMU), "--from", str(tmp_path), "--root", str(tmp_path)).code == 2
    assert run_cli("install", str(QEMU), "--uninstall", "--root", str(tmp_path)).code == 2


def _compiled(run_cli, tmp_path: Path) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    out, root = tmp_path / "out", tmp_path / "root"
    root.mkdir()
    assert run_cli("compile", str(QEMU), "-o", str(out)).code == 0
    return out, root


def test_from_a_compiled_board(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out, root = _compiled(run_cli, tmp_path)
    from_dir = run_cli("install", "--from", str(out), "--root", str(root))
    assert from_dir.code == 0, from_dir.err
    written = sum(1 for line in from_dir.out.splitlines() if line.startswith("written: "))
    same = run_cli("install", str(QEMU), "--root", str(root))
    assert same.out.endswith(f"nothing to do ({written} unchanged)\n")  # --from lays exactly what PROFILE lays


def test_from_a_tampered_board_is_refused(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out, root = _compiled(run_cli, tmp_path)
    (out / "device" / "arm.sh").write_text("#!/bin/sh\nexit 0\n")
    result = run_cli("install", "--from", str(out), "--root", str(root))
    assert result.code == 1 and "error[LC504]:" in result.err and "device/arm.sh: its sha256" in result.err
    assert snapshot(root) == {}


def test_from_a_stale_board_is_refused(run_cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    board = tmp_path / "src"
    board.mkdir()
    (tmp_path / ".git").mkdir()  # the top of a work tree: layout.json names the profile from here
    shutil.copy(QEMU, board / "b.yaml")
    monkeypatch.chdir(tmp_path)
    out, root = tmp_path / "out", tmp_path / "root"
    root.mkdir()
    assert run_cli("compile", "src/b.yaml", "-o", "out").code == 0
    text = (board / "b.yaml").read_text()
    (board / "b.yaml").write_text(text.replace("description:", "description: changed", 1) if "description:" in text
                                  else text + "description: changed\n")
    result = run_cli("install", "--from", str(out), "--root", str(root))
    assert result.code == 3 and "error[LC505]:" in result.err and "layout.json" in result.err
    assert snapshot(root) == {}


def test_from_a_directory_that_is_no_board(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("install", "--from", str(tmp_path), "--root", str(tmp_path))
    assert result.code == 1 and "error[LC506]:" in result.err


def test_install_lays_the_device_zipapp(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The dumper the device scripts run (capture.sh: python3 /usr/lib/layoutc/dump.pyz) and the running
    system's tools (layoutc-device.pyz: layoutc status, the device tree tool), executable, in the manifest,
    and gone with --uninstall."""
    assert run_cli("install", str(QEMU), "--root", str(tmp_path)).code == 0
    pyz = tmp_path / "usr" / "lib" / "layoutc" / "dump.pyz"
    assert pyz.stat().st_mode & 0o7777 == 0o755
    capture = (tmp_path / "usr" / "lib" / "layoutc" / "capture.sh").read_text()
    assert "'/usr/lib/layoutc/dump.pyz'" in capture
    ran = subprocess.run([sys.executable, str(pyz), "--help"], capture_output=True, text=True, check=True)
    assert ran.stdout.startswith("usage: layoutc dump")
    with zipfile.ZipFile(pyz) as crash:
        assert not {n for n in crash.namelist() if n.startswith(("layoutc/status/", "layoutc/devicetree/"))}
    tools = tmp_path / "usr" / "lib" / "layoutc" / "layoutc-device.pyz"
    status = subprocess.run([sys.executable, "-m", "layoutc.status", "--help"], capture_output=True, text=True,
                            check=True, env={"PYTHONPATH": str(tools)}, cwd="/")
    assert "usage:" in status.stdout and tools.stat().st_mode & 0o7777 == 0o755
    manifest = (tmp_path / "var" / "lib" / "layoutc" / "manifest.json").read_text()
    assert '"/usr/lib/layoutc/dump.pyz"' in manifest and '"/usr/lib/layoutc/layoutc-device.pyz"' in manifest
    assert run_cli("install", "--uninstall", "--root", str(tmp_path)).code == 0
    assert snapshot(tmp_path) == {}
