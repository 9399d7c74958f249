"""The wheel carries schemas/ and templates/, and the installed package finds them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from .conftest import REPO


def test_wheel_carries_schemas_and_templates(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q", "-w",
         str(tmp_path), str(REPO)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("layoutc-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for schema in (REPO / "schemas").rglob("*"):
        if schema.is_file():
            assert f"layoutc/schemas/{schema.relative_to(REPO / 'schemas')}" in names
    for template in (REPO / "templates").rglob("*"):
        if template.is_file():
            assert f"layoutc/templates/{template.relative_to(REPO / 'templates')}" in names
    for installed in ("share/bash-completion/completions/layoutc", "share/zsh/site-functions/_layoutc",
                      "share/fish/vendor_completions.d/layoutc.fish", "share/man/man1/layoutc.1"):
        assert any(n.endswith(f".data/data/{installed}") for n in names), installed
    assert any(n.endswith("entry_points.txt") for n in names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "layoutc = layoutc.cli.main:main" in zipfile.ZipFile(wheel).read(entry).decode()
