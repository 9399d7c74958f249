"""Shared helpers of the review tests: bundled profiles compiled in-process, fixtures, goldens."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from layoutc.diagnostics.diagnostic import Diagnostics, render_text
from layoutc.review.pipeline import Compiled, compile_document

from ..conftest import REPO

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
GOLDEN = HERE / "golden"


def bundled_profiles() -> tuple[str, ...]:
    """Every concrete bundled profile, as a repository-relative path."""
    out = []
    for path in sorted((REPO / "profiles").rglob("*.yaml")):
        text = path.read_text()
        if "\nabstract: true" not in text:
            out.append(path.relative_to(REPO).as_posix())
    return tuple(out)


@cache
def compiled(relpath: str) -> Compiled:
    diags = Diagnostics()
    import os

    cwd = os.getcwd()
    os.chdir(REPO)  # display paths (and so provenance) are repository-relative
    try:
        result = compile_document(Path(relpath), relpath, diags)
    finally:
        os.chdir(cwd)
    assert result is not None, render_text(diags)
    return result


def fixture(name: str) -> Mapping[str, Any]:
    loaded: Mapping[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


def board_of(relpath: str) -> str:
    return str(compiled(relpath).doc["board"])
