"""Generated shell scripts pass shellcheck and sh/bash/dash -n; units pass systemd-analyze verify."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from .helpers import CASES, TEST_BOARDS, board, tool, write_artifacts


@pytest.fixture(scope="module", params=sorted(CASES) + list(TEST_BOARDS))
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    name: str = request.param
    return write_artifacts(*board(name), tmp_path_factory.mktemp(name))


def _scripts(device: Path) -> list[Path]:
    scripts = sorted(device.glob("*.sh"))
    assert scripts
    return scripts


def test_shellcheck(rendered: Path) -> None:
    shellcheck = tool("shellcheck")
    result = subprocess.run([shellcheck, "--severity=style", *map(str, _scripts(rendered))],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


INITRAMFS_SCRIPTS = ("initramfs-tools/hooks/layoutc", "initramfs-tools/scripts/init-premount/layoutc",
                     "dracut/99layoutc/module-setup.sh", "dracut/99layoutc/layoutc-capture.sh")


def test_shellcheck_initramfs_integration(rendered: Path) -> None:
    """The initramfs-tools hook and script (sh) and the dracut module (bash; its hook sh), by their directives."""
    scripts = [rendered / "initramfs" / s for s in INITRAMFS_SCRIPTS]
    result = subprocess.run([tool("shellcheck"), "--severity=style", *map(str, scripts)], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    for script in scripts:
        shell = "bash" if script.name == "module-setup.sh" else "sh"
        assert script.read_text().startswith(f"#!/bin/{shell}\n# shellcheck shell={shell}\n"), script
        syntax = subprocess.run([tool("bash" if shell == "bash" else "dash"), "-n", str(script)],
                                capture_output=True, text=True)
        assert syntax.returncode == 0, f"{script}: {syntax.stderr}"


@pytest.mark.parametrize("shell", ["sh", "bash", "dash"])
def test_shell_syntax(rendered: Path, shell: str) -> None:
    binary = tool(shell)
    for script in _scripts(rendered):
        result = subprocess.run([binary, "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, f"{script.name}: {result.stderr}"
        assert script.read_text().startswith("#!/bin/sh\n")


def test_systemd_analyze_verify(rendered: Path, tmp_path: Path) -> None:
    """Verify inside a scratch root that holds the distro's units and the scripts ExecStart names."""
    analyze = tool("systemd-analyze")
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "usr/lib/layoutc").mkdir(parents=True)
    for script in _scripts(rendered):
        shutil.copy2(script, root / "usr/lib/layoutc" / script.name)
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    for unit in sorted((rendered / "systemd").iterdir()):
        shutil.copy2(unit, units / unit.name)
    result = subprocess.run([analyze, "verify", "--man=no", f"--root={root}",
                             *sorted(str(u) for u in units.iterdir())], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr.strip() and not result.stdout.strip(), \
        result.stdout + result.stderr


def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    """The check above is not vacuous: a misplaced key is reported."""
    analyze = tool("systemd-analyze")
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    unit = root / "etc/systemd/system/broken.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Unit]\nDescription=x\n[Service]\nType=oneshot\nSuccessAction=reboot\nExecStart=/bin/true\n")
    result = subprocess.run([analyze, "verify", "--man=no", f"--root={root}", str(unit)],
                            capture_output=True, text=True)
    assert "SuccessAction" in result.stderr
