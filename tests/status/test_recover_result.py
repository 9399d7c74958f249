"""The generated recover.sh leaves its outcome in /var/lib/layoutc/last-recovery, and status reads it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from layoutc.dump.exit_codes import ExitCode
from layoutc.status.__main__ import main

from ..artifacts.test_recover import BOOT_ID, DUMP_ID, NextBoot, window_fs


def status(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(["--root", str(root), "--layout", str(root / "layout.json"), "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def test_a_failed_upload_then_a_good_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nb = NextBoot(tmp_path, "qemu-4g")
    (nb.root / "layout.json").write_text(json.dumps(nb.doc))
    window_fs(nb.fs)
    assert nb.recover(STUB_UPLOAD_RC="1").code == 34
    record = (nb.root / "var/lib/layoutc/last-recovery").read_text().splitlines()
    assert record[:2] == ["rc=34", f"boot={BOOT_ID}"] and record[3:] == [f"dump={DUMP_ID}", "capture=COMPLETE"]
    assert not (nb.root / "var/lib/layoutc/last-recovery.tmp").exists()
    code, doc = status(nb.root, capsys)
    assert (code, doc["pending_uploads"], doc["last_recovery"]["rc"]) == (
        ExitCode.STATUS_DUMP_PENDING, [DUMP_ID], "34")  # fmt: skip
    assert nb.recover().code == 0
    _, doc = status(nb.root, capsys)
    assert (doc["pending_uploads"], doc["last_recovery"]["rc"]) == ([], "0")


def test_a_run_that_finds_no_dump_records_none(tmp_path: Path) -> None:
    nb = NextBoot(tmp_path, "qemu-4g")
    nb.filesystem(False)
    assert nb.recover().code == 0
    record = (nb.root / "var/lib/layoutc/last-recovery").read_text().splitlines()
    assert (record[0], record[3:]) == ("rc=0", ["dump=", "capture="])
