"""The arm unit skips only the recovery boot: ``ConditionKernelCommandLine=!<the recovery word>``.

systemd matches a condition with an assignment against whole ``KEY=VALUE`` words of the kernel cmdline, a bare
``KEY`` against any ``KEY=...`` word (systemd.unit(5); systemd src/shared/condition.c
condition_test_kernel_command_line). A bare ``!memmap`` or ``!mem`` kept the crash kernel unarmed on every board
whose own cmdline carries a ``memmap=`` (firmware carve-outs) or ``mem=``. The word is ``recovery_mark``, the
one rule arm.sh's and recover.sh's ``is_recovery_boot`` and ``layoutc status`` (``recovery_marks``) follow.
``systemd-analyze condition`` reads ``$SYSTEMD_PROC_CMDLINE`` in place of /proc/cmdline (systemd
src/basic/proc-cmdline.c proc_cmdline), so each line is evaluated against a given cmdline.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from layoutc.model import layout_json
from layoutc.model.profile import Profile
from layoutc.render.device_view import build_view, recovery_mark
from layoutc.status.checks import recovery_marks
from layoutc.status.expected import expected

from .helpers import CASES, TEST_BOARDS, artifacts, board, tool

UNIT = "device/systemd/layoutc-arm.service"
CONDITION = "ConditionKernelCommandLine="
# a board's own words the layout does not own: a firmware carve-out, another memmap=SIZE!BASE, a RAM limit
BOARD_WORDS = ("memmap=64K$0x9f000", "memmap=1G!0x240000000", "mem=15G")


@pytest.fixture(scope="module", params=sorted(CASES) + list(TEST_BOARDS))
def case(request: pytest.FixtureRequest) -> tuple[Profile, dict[str, Any]]:
    return board(request.param)


def _condition(unit: str) -> str | None:
    lines = [line for line in unit.splitlines() if line.startswith(CONDITION)]
    assert len(lines) <= 1, lines
    return lines[0] if lines else None


def _holds(condition: str, cmdline: str) -> bool:
    """Whether systemd-analyze says the condition holds (the unit runs) on a boot with this cmdline."""
    env = {**os.environ, "SYSTEMD_PROC_CMDLINE": cmdline}
    result = subprocess.run([tool("systemd-analyze"), "condition", condition], capture_output=True, text=True, env=env)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return result.returncode == 0


def test_one_recovery_word_for_units_scripts_and_status(case: tuple[Profile, dict[str, Any]]) -> None:
    """The unit's word, arm.sh's and recover.sh's word and the status room's marks are the same word."""
    prof, doc = case
    layout = layout_json.read(doc)
    mark = recovery_mark(layout)
    assert recovery_marks(expected(doc)) == ((mark,) if mark else ())
    view = build_view(prof, layout)
    files = artifacts(prof, doc)
    condition = _condition(files[UNIT].decode()) if UNIT in files else None
    if not mark:
        assert condition is None
        return
    assert mark in layout.cmdline.recovery.split() and mark not in layout.cmdline.production.split()
    assert view.recovery_mark == mark and view.recovery_mark_unit == mark.replace("%", "%%")
    if UNIT in files:
        assert condition == f"{CONDITION}!{view.recovery_mark_unit}"
    script = files["device/arm.sh"].decode()
    assert f"RECOVERY_MEM='{mark}'\n" in script if view.dt else f"WINDOW_MEMMAP='{mark}'\n" in script


def test_a_board_memmap_word_arms_and_only_the_recovery_word_skips(case: tuple[Profile, dict[str, Any]]) -> None:
    prof, doc = case
    files = artifacts(prof, doc)
    condition = _condition(files[UNIT].decode()) if UNIT in files else None
    if condition is None:
        # no recovery boot: nothing to skip, so the arm unit (where there is one) runs on every boot
        assert UNIT not in files or CONDITION not in files[UNIT].decode()
        return
    board_words = " ".join(BOARD_WORDS)
    production = f"{doc['board_cmdline']} {board_words} {doc['cmdline']['production']}"
    recovery = f"{doc['board_cmdline']} {board_words} {doc['cmdline']['recovery']}"
    assert _holds(condition, production), production
    assert not _holds(condition, recovery), recovery
    # the words the old bare conditions matched on a production boot with a board's own memmap=/mem=
    broad = "!mem" if "mem=" in condition and "memmap=" not in condition else "!memmap"
    assert not _holds(CONDITION + broad, production)


def test_the_unit_verifies(tmp_path: Path) -> None:
    """systemd-analyze verify accepts the condition with its '!' and '=' inside the value, x86 and arm64."""
    analyze = tool("systemd-analyze")
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    for name in ("qemu-4g", "arm64-chromebook-4g"):
        files = artifacts(*board(name))
        script = root / "usr/lib/layoutc/arm.sh"
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_bytes(files["device/arm.sh"])
        script.chmod(0o755)
        unit = units / "layoutc-arm.service"
        unit.write_bytes(files[UNIT])
        assert _condition(unit.read_text()) is not None
        result = subprocess.run(
            [analyze, "verify", "--man=no", f"--root={root}", str(unit)], capture_output=True, text=True
        )
        assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr
