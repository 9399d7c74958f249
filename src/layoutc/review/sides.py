"""The two sides of ``layoutc diff``: one board, or a fleet of boards, each solved or failed.

A side is what a command-line PATH names: a profile, a compiled ``layout.json`` (or the output
folder ``OUT/BOARD`` that holds one), a folder of profiles (every concrete ``*.yaml``/``*.yml``
below it) or a compiled output tree (every ``OUT/*/layout.json``). With ``--rev`` a folder of
profiles is first copied out of git (``revisions``). Compiled output is read through the one
layout.json reader; profiles are loaded and solved in-process (``pipeline``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layoutc.diagnostics.diagnostic import Diagnostic, Diagnostics, Severity
from layoutc.frontend import yaml_source
from layoutc.frontend.load import load_profile
from layoutc.model.layout_json import LAYOUT_FILE, LayoutJsonError
from layoutc.review import doc as layout_doc
from layoutc.review.pipeline import compile_document, solve_document
from layoutc.review.revisions import PROFILE_SUFFIXES

RULE_LC540 = "diff reads compiled output through the one layout.json reader (docs/layout-json.md)"


@dataclass(frozen=True, slots=True)
class Outcome:
    """One board of a side: its layout.json document, or the diagnostics that stopped it."""

    board: str
    source: str  # the profile or layout.json, as reports name it
    doc: Mapping[str, Any] | None
    errors: tuple[Diagnostic, ...] = ()

    @property
    def first_error(self) -> Diagnostic | None:
        return self.errors[0] if self.errors else None


@dataclass(frozen=True, slots=True)
class Side:
    label: str
    fleet: bool  # a folder of boards (else one board)
    outcomes: tuple[Outcome, ...]


def is_fleet_path(path: Path) -> bool:
    """Whether PATH names a fleet: a folder that is not one board's output folder."""
    return path.is_dir() and not (path / LAYOUT_FILE).is_file()


def open_side(path: Path, display: str, label: str, *, base: str | None = None, tree: Path | None = None) -> Side:
    """The side PATH names. ``base`` is how a fleet's profiles are named (default: relative to the
    folder); ``tree`` bounds where their ``extends`` may lead (a revision's copy)."""
    if path.is_dir() and (path / LAYOUT_FILE).is_file():
        return Side(label, False, (layout_outcome(path / LAYOUT_FILE, os.path.join(display, LAYOUT_FILE)),))
    if not path.is_dir():
        if path.suffix == ".json":
            return Side(label, False, (layout_outcome(path, display),))
        return Side(label, False, (profile_outcome(path, display, tree),))
    outputs = sorted(p for p in path.iterdir() if (p / LAYOUT_FILE).is_file() and not p.is_symlink())
    if outputs:
        found = [layout_outcome(p / LAYOUT_FILE, os.path.join(display, p.name, LAYOUT_FILE)) for p in outputs]
    else:
        shown = "" if base is None else base  # two folders: each profile named relative to its folder
        boards = [fleet_profile_outcome(p, os.path.normpath(os.path.join(shown, p.relative_to(path))), tree or path)
                  for p in _profiles(path)]
        found = [o for o in boards if o is not None]
    return Side(label, True, _unique(found))


def layout_outcome(path: Path, display: str) -> Outcome:
    try:
        file = layout_doc.load(path, display)
    except LayoutJsonError as exc:
        diags = Diagnostics()
        for problem in exc.problems[:5]:
            diags.error("LC540", f"{display}: {problem.pointer or '/'}: {problem.rule}", path=problem.pointer,
                        value=problem.value, rule=RULE_LC540,
                        hint="compile the profile again with this layoutc, or diff the profiles instead")
        return Outcome(path.parent.name, display, None, tuple(diags.items))
    return Outcome(file.layout.board, display, file.document)


def profile_outcome(path: Path, display: str, tree: Path | None) -> Outcome:
    """One profile solved into its layout.json document (a family base alone is an error, LC230)."""
    diags = Diagnostics()
    compiled = compile_document(path, display, diags, tree=tree)
    board = str(compiled.doc["board"]) if compiled else _raw_board(path, display)
    return Outcome(board, display, compiled.doc if compiled else None, _errors(diags))


def fleet_profile_outcome(path: Path, display: str, tree: Path | None) -> Outcome | None:
    """A profile of a folder solved into its layout.json document; None for a family base."""
    diags = Diagnostics()
    profile = load_profile(path, display, diags, tree=tree)
    if profile is not None and profile.abstract:
        return None
    if profile is None or diags.has_errors:
        if _raw(path, display).get("abstract") is True:
            return None  # a broken family base breaks the boards that extend it: they report it
        return Outcome(_raw_board(path, display), display, None, _errors(diags))
    doc = solve_document(profile, diags)
    return Outcome(profile.board, display, doc, () if doc is not None else _errors(diags))


def _errors(diags: Diagnostics) -> tuple[Diagnostic, ...]:
    return tuple(d for d in diags if d.severity is Severity.ERROR)


def _raw(path: Path, display: str) -> Mapping[str, Any]:
    document = yaml_source.load(path, display, Diagnostics())
    data = None if document is None else document.data
    return data if isinstance(data, Mapping) else {}


def _raw_board(path: Path, display: str) -> str:
    board = _raw(path, display).get("board")
    return board if isinstance(board, str) and board else display


def _profiles(folder: Path) -> list[Path]:
    """Every ``*.yaml``/``*.yml`` below ``folder`` (never through a link to a folder), sorted."""
    found: list[Path] = []
    for where, subdirs, names in os.walk(folder, followlinks=False):
        subdirs.sort()
        found.extend(Path(where, name) for name in names if Path(name).suffix in PROFILE_SUFFIXES)
    return sorted(found)


def _unique(outcomes: list[Outcome]) -> tuple[Outcome, ...]:
    """One outcome per board: a second profile of a board is an error of its own (LC542)."""
    seen: dict[str, Outcome] = {}
    out: list[Outcome] = []
    for item in outcomes:
        first = seen.get(item.board)
        if first is None:
            seen[item.board] = item
            out.append(item)
            continue
        diags = Diagnostics()
        diags.error("LC542", f"{item.source} is board '{item.board}' too (first: {first.source})",
                    path="board", value=item.board, rule="a fleet has one profile per board name",
                    hint="give each profile its own board name")
        out.append(Outcome(item.source, item.source, None, tuple(diags.items)))
    return tuple(sorted(out, key=lambda o: o.board))
