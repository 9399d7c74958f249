"""The README's examples run as written: every non-device ``layoutc`` command of its code blocks."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import REPO

RUNNABLE = ("check", "compile", "install", "explain", "map", "estimate", "codes")


def readme_commands() -> list[list[str]]:
    """The ``layoutc VERB ...`` lines of the README's shell blocks whose verb runs without a device."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    found: list[list[str]] = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if len(words) > 1 and words[0] == "layoutc" and words[1] in RUNNABLE and ">" not in words:
                found.append(words)
    return found


def test_the_readme_shows_each_runnable_verb() -> None:
    assert {words[1] for words in readme_commands()} == set(RUNNABLE)


def test_the_bootstrap_message_is_the_readme_path_line() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert 'export PATH="$PWD/.venv/bin:$PATH"' in readme
    assert 'export PATH=\\"$PWD/.venv/bin:\\$PATH\\"' in (REPO / "scripts" / "bootstrap.sh").read_text()


def test_readme_commands_run_in_a_fresh_directory(tmp_path: Path) -> None:
    shutil.copytree(REPO / "profiles", tmp_path / "profiles")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    for words in readme_commands():  # in order: the --check gate follows the compile it checks
        argv = [sys.executable, "-m", "layoutc.cli.main", *words[1:]]
        result = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, env=env, check=False)
        assert result.returncode == 0, (" ".join(words), result.stdout[-500:], result.stderr[-2000:])
