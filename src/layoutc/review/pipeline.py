"""Compile a profile in-process into its layout.json document (for explain, diff, map, estimate).

Uses the front end (``load_profile``), the solver (``solve``) and the layout.json writer
(``layoutc.model.layout_json``); ``--rev`` reads old revisions with ``git show`` (``revisions``).
"""

from __future__ import annotations

import json
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
    doc = solve_document(profile, diags)
    return None if doc is None else Compiled(profile, doc)


def solve_document(profile: Profile, diags: Diagnostics) -> Mapping[str, Any] | None:
    """The layout.json document of a loaded concrete profile; None (with diagnostics) when infeasible."""
    from layoutc.solve import solve

    layout = solve(profile, diags)
    if layout is None or diags.has_errors:
        return None
    return document(layout)


def document(layout: Layout) -> Mapping[str, Any]:
    """layout.json of ``layout`` as a parsed JSON document (render's serializer, round-tripped
    through JSON so the review tools see exactly what layout.json holds)."""
    loaded: Mapping[str, Any] = json.loads(layout_json.write(layout))
    return loaded


def temp_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="layoutc-rev-")
