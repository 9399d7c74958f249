"""Exact diagnostic text for every front-end code (one case file per code in errors/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from layoutc.diagnostics.frontend_codes import FRONTEND_CODES

from ..conftest import assert_golden

CASES = Path(__file__).parent / "errors"
CASE_FILES = sorted(p for p in CASES.glob("*.yaml") if p.name != "LC222-cycle-b.yaml")
# Codes whose cases need bytes or file-system states; they are tested in test_hostile_input.py and
# test_hostile_files.py.
INLINE_CODES = {"LC001", "LC002", "LC003", "LC004", "LC005", "LC006", "LC007", "LC230", "LC231", "LC232"}


@pytest.mark.parametrize("case", CASE_FILES, ids=lambda p: p.stem)
def test_exact_error_text(case: Path, run_cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(CASES)
    result = run_cli("check", case.name)
    code = case.name.split("-")[0]
    assert f"[{code}]" in result.err, result.err
    assert_golden(case.with_suffix(".expected"), result.err)
    severity_error = "error[" in result.err
    assert result.code == (1 if severity_error else 0)


@pytest.mark.parametrize("case", CASE_FILES, ids=lambda p: p.stem)
def test_json_format_carries_the_same_data(case: Path, run_cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(CASES)
    result = run_cli("check", "--format", "json", case.name)
    data = json.loads(result.out)
    code = case.name.split("-")[0]
    found = [d for d in data["diagnostics"] if d["code"] == code]
    assert found, data
    first = found[0]
    assert first["file"] and first["line"] >= 1 and first["col"] >= 1
    assert first["message"] and first["hint"]
    assert data["errors"] == sum(1 for d in data["diagnostics"] if d["severity"] == "error")


def test_every_code_has_an_exact_text_case() -> None:
    covered = {p.name.split("-")[0] for p in CASE_FILES} | INLINE_CODES
    assert set(FRONTEND_CODES) <= covered, sorted(set(FRONTEND_CODES) - covered)


def test_several_errors_are_reported_at_once(run_cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(CASES)
    result = run_cli("check", "LC101-unknown-key.yaml")
    assert result.err.count("error[LC101]") == 2
