"""Shared helpers of the dumper tests: fixture files, tool gating, independent readers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
SRC = Path(__file__).resolve().parents[2] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

import vmcore_fixtures as fixtures  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(ok: bool, what: str) -> None:
    """Skip locally when an external tool is missing; fail in CI, where bootstrap installs it."""
    if ok:
        return
    if IN_CI:
        pytest.fail(f"{what} is missing in CI: scripts/bootstrap.sh --all should install it")
    pytest.skip(f"{what} is not installed (scripts/bootstrap.sh --all installs it)")


def need_tool(name: str) -> str:
    """Path of an external program, or skip/fail."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None)
    need(path is not None, name)
    assert path is not None
    return path


def need_module(name: str) -> object:
    """An importable Python module, or skip/fail."""
    try:
        return __import__(name)
    except ImportError:
        need(False, f"Python module {name}")
        raise


def run_dump(
    *args: str, env: dict[str, str] | None = None, stdin: int | None = None
) -> subprocess.CompletedProcess[bytes]:
    """``python -m layoutc.dump ARGS`` in a subprocess."""
    full_env = dict(os.environ, PYTHONPATH=str(SRC))
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "layoutc.dump", "--quiet", *args],
        capture_output=True,
        env=full_env,
        stdin=stdin,
    )


@pytest.fixture
def make_vmcore(tmp_path: Path) -> Callable[..., tuple[fixtures.Fixture, str]]:
    """Build a fixture file: ``make_vmcore()`` is the standard one; keyword args override fields."""

    def build(fx: fixtures.Fixture | None = None, name: str = "vmcore") -> tuple[fixtures.Fixture, str]:
        fx = fx or fixtures.standard()
        return fx, fx.write(str(tmp_path / name))

    return build
