"""Linters as tests: ruff, mypy --strict, yamllint, and the house limits on module and function size."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60  # a def's own lines, from `def` to its last line (decorators not counted)


def _tool(name: str) -> str:
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; run sh scripts/bootstrap.sh --all")
    return found


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600)


def test_ruff() -> None:
    result = _run(_tool("ruff"), "check", "src", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict() -> None:
    result = _run(_tool("mypy"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint() -> None:
    result = _run(_tool("yamllint"), "--strict", "schemas", "profiles")
    assert result.returncode == 0, result.stdout + result.stderr


def test_modules_stay_small() -> None:
    big = {str(p.relative_to(REPO)): n for p in (REPO / "src").rglob("*.py")
           if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not big, f"split these modules (over {MAX_MODULE_LINES} lines): {big}"


def _long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    rel = path.relative_to(REPO)
    return [f"{rel}:{node.lineno} {node.name} ({length} lines)"
            for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            if (length := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_FUNCTION_LINES]  # fmt: skip


def test_functions_stay_short() -> None:
    long = [entry for p in sorted((REPO / "src" / "layoutc").rglob("*.py")) for entry in _long_functions(p)]
    assert not long, f"split these functions (over {MAX_FUNCTION_LINES} lines):\n" + "\n".join(long)


def test_no_utils_module() -> None:
    assert not [p for p in (REPO / "src").rglob("*.py") if p.stem in ("utils", "util", "helpers", "misc")]
