"""The dumper's start-up: the common command lines skip argparse, the dump path imports neither argparse nor
dataclasses nor typing, and every text of the command line is what it was before."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SRC
from layoutc.dump.__main__ import Args, _fast_args, main, parser

TEXTS = Path(__file__).parent / "cli_texts" / "usage.json"
"""Exit code, stdout and stderr of each command line, written by the dumper before the fast path (Python 3.11,
``COLUMNS=100``, in an empty directory)."""

WORDS = [
    "--spec", "--dump-level", "--compress", "--format", "--budget", "--workers", "--mmap", "--no-mmap", "--iomem",
    "--progress", "--quiet", "--build-zipapp", "--help", "-h", "--", "-", "--compress=zlib", "--dump-lev",
    "a", "b", "", "0", "1", "07", "31", "32", "-1", "+3", "1_0", "٣", "x", "zlib", "zstd", "lz4", "elf", "flat",
    "4K", "0x10", "512m", "12Q", "-5M",
]  # fmt: skip


def _argparse(argv: list[str]) -> Args | None:
    """What argparse makes of ``argv``: None where it refuses it."""
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            return Args(**vars(parser().parse_args(argv)))
    except SystemExit:
        return None


def _same(fast: Args, slow: Args | None) -> None:
    assert slow is not None
    assert {n: getattr(fast, n) for n in Args.__slots__} == {n: getattr(slow, n) for n in Args.__slots__}


@pytest.mark.parametrize(
    "argv",
    [
        ["src", "out"],
        ["--spec", "filter.json", "/proc/vmcore", "out"],
        ["--workers", "2", "--spec", "filter.json", "/proc/vmcore", "-"],
        ["--quiet", "--dump-level", "31", "--compress", "zstd", "--format", "flat", "--budget", "64M", "a", "b"],
        ["--mmap", "--progress", "--iomem", "iomem.txt", "a", "b"],
    ],
)
def test_common_command_lines_take_the_fast_path(argv: list[str]) -> None:
    fast = _fast_args(argv)
    assert fast is not None
    _same(fast, _argparse(argv))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=8))
def test_fast_path_parses_as_argparse_does(argv: list[str]) -> None:
    fast = _fast_args(argv)
    if fast is not None:
        _same(fast, _argparse(argv))


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="argparse's texts as Python 3.11 writes them")
@pytest.mark.parametrize("case", json.loads(TEXTS.read_text()), ids=lambda c: " ".join(c["argv"]) or "none")
def test_help_and_usage_errors_are_unchanged(
    case: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.chdir(tmp_path)
    rc = main(case["argv"])
    out, err = capsys.readouterr()
    assert (rc, out, err) == (case["rc"], case["stdout"], case["stderr"])


def test_dump_path_imports_no_argparse_dataclasses_or_typing(tmp_path: Path, make_vmcore: Any) -> None:
    _, src = make_vmcore()
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "layoutc.dump", "--quiet", "--dump-level", "31", src,
         str(tmp_path / "out")],
        capture_output=True,
        env=dict(os.environ, PYTHONPATH=str(SRC)),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    modules = {line.split("|")[-1].strip() for line in proc.stderr.decode().splitlines() if "|" in line}
    assert not modules & {"argparse", "dataclasses", "inspect", "typing", "shutil", "json"}
