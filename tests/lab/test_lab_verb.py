"""``layoutc lab``'s own handling: what a run that stops before the guest leaves behind."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from layoutc.lab.verb import main_lab


def test_a_run_that_stops_early_leaves_no_empty_temporary_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    assert main_lab(["--layout-dir", str(tmp_path / "missing")]) == 1
    assert capsys.readouterr().err.startswith("layoutc lab: error: ")
    assert list(temp.iterdir()) == []


def test_a_directory_the_user_named_is_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    assert main_lab(["--layout-dir", str(tmp_path / "missing"), "-o", str(out)]) == 1
    assert capsys.readouterr().err.startswith("layoutc lab: error: ")
    assert out.is_dir()
