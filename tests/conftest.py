"""Shared test helpers: golden files and running the CLI in-process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from layoutc.cli.main import main

REPO = Path(__file__).resolve().parents[1]
UPDATE_GOLDEN = os.environ.get("LAYOUTC_UPDATE_GOLDEN") == "1"


def pytest_report_header(config: pytest.Config) -> str:
    """Free disk where the suite writes (temporary files; the lab cache in the clone): a lab run needs about
    7 GB at its peak, and a full disk shows up as failures far from their cause."""
    import tempfile

    spots = {"temporary files": Path(tempfile.gettempdir()), "the repository": REPO}
    return "disk free: " + ", ".join(f"{os.statvfs(p).f_bavail * os.statvfs(p).f_frsize / 1e9:.1f} GB for {name}"
                                     for name, p in spots.items())  # fmt: skip


def assert_golden(path: Path, actual: str | bytes) -> None:
    """Compare with a golden file; LAYOUTC_UPDATE_GOLDEN=1 rewrites it (review the diff!)."""
    data = actual.encode() if isinstance(actual, str) else actual
    if UPDATE_GOLDEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return
    assert path.exists(), f"golden file {path} is missing; run with LAYOUTC_UPDATE_GOLDEN=1 and review it"
    expected = path.read_bytes()
    if isinstance(actual, str):
        assert actual == expected.decode(), f"output differs from {path}"
    else:
        assert data == expected, f"output differs from {path}"


class CliRun:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    def run(*argv: str) -> CliRun:
        code = main(list(argv))
        captured = capsys.readouterr()
        return CliRun(code, captured.out, captured.err)

    return run
