"""Compile a profile in-process into its layout.json document (for explain, diff, map, estimate).

Uses the front end (``load_profile``), the solver (``solve``) and the layout.json writer
(``layoutc.model.layout_json``); ``--rev`` reads old revisions with ``git show``.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.frontend.load import load_profile
from layoutc.model import layout_json
from layoutc.model.layout import Layout
from layoutc.model.profile import Profile


class RevisionError(Exception):
    """A ``--rev`` revision or path that git cannot show."""


@dataclass(frozen=True, slots=True)
class Compiled:
    profile: Profile
    doc: Mapping[str, Any]


def compile_document(path: Path, display: str, diags: Diagnostics, *, tree: Path | None = None) -> Compiled | None:
    """Load and solve one profile; None (with diagnostics) when it is invalid or infeasible.

    ``tree`` bounds where ``extends`` may lead (a revision's copy; default: the profile's git tree).
    """
    profile = load_profile(path, display, diags, tree=tree)
    if profile is None or diags.has_errors:
        return None
    if profile.abstract:
        diags.error("LC230", f"{display} is abstract (a family base) and is never compiled alone",
                    span=profile.span("abstract"), path="abstract", value="true",
                    rule="abstract profiles are bases for boards that extend them",
                    hint="pass a board that extends it")
        return None
    from layoutc.solve import solve

    layout = solve(profile, diags)
    if layout is None or diags.has_errors:
        return None
    return Compiled(profile, document(layout))


def document(layout: Layout) -> Mapping[str, Any]:
    """layout.json of ``layout`` as a parsed JSON document (render's serializer, round-tripped
    through JSON so the review tools see exactly what layout.json holds)."""
    loaded: Mapping[str, Any] = json.loads(layout_json.write(layout))
    return loaded


def checkout_revision(profile: Path, rev: str, into: Path) -> Path:
    """Write ``profile`` and its ``extends`` chain as of git revision ``rev`` below ``into``.

    Returns the path of the profile copy; the relative layout of the chain is kept, so
    relative ``extends`` paths resolve as they did in that revision.
    """
    repo = _git(profile.parent, "rev-parse", "--show-toplevel").strip()
    top = Path(repo).resolve()
    current = profile.resolve()
    first: Path | None = None
    seen: set[Path] = set()
    while current not in seen:
        seen.add(current)
        try:
            rel = current.relative_to(top)
        except ValueError as exc:
            raise RevisionError(f"{current} is outside the git repository {top}") from exc
        text = _git(top, "show", f"{rev}:{rel.as_posix()}")
        target = into / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        if first is None:
            first = target
        base = _extends(text)
        if base is None:
            break
        current = Path(os.path.normpath(current.parent / base))
    assert first is not None
    return first


def _extends(text: str) -> str | None:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    value = data.get("extends") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _git(cwd: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise RevisionError(f"cannot run git: {exc}") from exc
    if done.returncode != 0:
        raise RevisionError(f"git {' '.join(args)}: {done.stderr.strip() or 'failed'}")
    return done.stdout


def temp_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="layoutc-rev-")
