"""``layoutc diff`` over fleets: two folders of profiles or compiled output, or two git revisions of one.

Boards are paired by name; a board whose profile file kept its path but whose name changed is a
rename. Each pair is one ``LayoutDiff`` (``diff.diff``); a board that no longer compiles is reported
with its first error. ``render_markdown`` is the one report a pull request gets: a summary table
(window start and size, crash reservation, CMA, cmdlines per stage, strategy), then a section per
board that changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from layoutc.diagnostics.diagnostic import render_text as diagnostics_text
from layoutc.review import notation
from layoutc.review.diff import LayoutDiff, diff
from layoutc.review.doc import LayoutFile, read
from layoutc.review.sides import Outcome, Side

CHANGED, UNCHANGED, ADDED, REMOVED, RENAMED = "changed", "unchanged", "added", "removed", "renamed"
BROKEN, FIXED, STILL_BROKEN = "stopped compiling", "compiles again", "still broken"
STATUSES = (CHANGED, RENAMED, ADDED, REMOVED, BROKEN, FIXED, STILL_BROKEN, UNCHANGED)
COLUMNS = ("board", "status", "window start", "window size", "crash reservation", "CMA", "cmdlines", "strategy",
           "changes")
STAGES = ("production", "crash", "recovery")
# Where a profile file lives: compared between two revisions of one tree, not between two folders.
PATH_SUBJECTS = ("profile", "extends chain")


@dataclass(frozen=True, slots=True)
class BoardDiff:
    board: str  # the new name (the old one for a removed board)
    status: str
    old: Outcome | None
    new: Outcome | None
    result: LayoutDiff | None = None  # when both sides compiled

    @property
    def changed(self) -> bool:
        return self.status not in (UNCHANGED, STILL_BROKEN)

    @property
    def status_text(self) -> str:
        if self.status == RENAMED and self.old is not None:
            return f"renamed from {self.old.board}"
        failed = self.new if self.status in (BROKEN, STILL_BROKEN, ADDED) else None
        error = failed.first_error if failed is not None else None
        if error is None and self.status == REMOVED and self.old is not None:
            error = self.old.first_error
        return self.status + (f": {error.code}" if error is not None else "")


@dataclass(frozen=True, slots=True)
class FleetDiff:
    old_label: str
    new_label: str
    boards: tuple[BoardDiff, ...]

    @property
    def changed(self) -> bool:
        return any(b.changed for b in self.boards)

    def count(self, status: str) -> int:
        return sum(1 for b in self.boards if b.status == status)


def fleet_diff(old: Side, new: Side, *, compare_paths: bool = True) -> FleetDiff:
    """Pair the boards of two sides by name (a kept profile path with a new name is a rename).

    ``compare_paths=False`` (two folders): where each profile file lives is not a change."""
    before = {o.board: o for o in old.outcomes}
    after = {o.board: o for o in new.outcomes}
    pairs: list[tuple[Outcome | None, Outcome | None]] = [(before[b], after[b]) for b in before if b in after]
    gone = [o for b, o in before.items() if b not in after]
    came = {o.source: o for b, o in after.items() if b not in before}
    for item in gone:
        match = came.pop(item.source, None)
        pairs.append((item, match))
    pairs += [(None, o) for o in came.values()]
    boards = [_pair(a, b, old.label, new.label, compare_paths) for a, b in pairs]
    return FleetDiff(old.label, new.label, tuple(sorted(boards, key=lambda d: d.board)))


def _pair(a: Outcome | None, b: Outcome | None, old_label: str, new_label: str, compare_paths: bool) -> BoardDiff:
    if a is None or b is None:
        present = b if a is None else a
        assert present is not None
        return BoardDiff(present.board, ADDED if a is None else REMOVED, a, b)
    if a.doc is None or b.doc is None:
        status = STILL_BROKEN if a.doc is None and b.doc is None else BROKEN if b.doc is None else FIXED
        return BoardDiff(b.board, status, a, b)
    result = diff(a.doc, b.doc, old_label=old_label, new_label=new_label)
    if not compare_paths:
        kept = tuple(c for c in result.changes if not (c.section == "board" and c.subject in PATH_SUBJECTS))
        result = replace(result, changes=kept)
    status = RENAMED if a.board != b.board else CHANGED if result.changed else UNCHANGED
    return BoardDiff(b.board, status, a, b, result)


def summary_rows(fleet: FleetDiff) -> tuple[tuple[str, ...], ...]:
    """One row of ``COLUMNS`` per board that changed; a cell is empty where nothing changed."""
    rows = []
    for board in fleet.boards:
        if not board.changed:
            continue
        broken = board.status in (BROKEN, FIXED, STILL_BROKEN)  # one side has no layout to show
        a, b = (None, None) if broken else (_file(board.old), _file(board.new))
        cells = tuple(_cell(a, b, measure, shown) for measure, shown in _MEASURES)
        count = "" if board.result is None else str(len(board.result.changes))
        rows.append((board.board, board.status_text, *cells[:4], _cmdlines(a, b), cells[4], count))
    return tuple(rows)


def _file(outcome: Outcome | None) -> LayoutFile | None:
    return None if outcome is None or outcome.doc is None else read(outcome.doc)


def _window_start(f: LayoutFile) -> int | None:
    return None if f.layout.dump_window is None else f.layout.dump_window.start


def _window_size(f: LayoutFile) -> int | None:
    return None if f.layout.dump_window is None else f.layout.dump_window.size


def _crash(key: str) -> Callable[[LayoutFile], int | None]:
    def measure(f: LayoutFile) -> int | None:
        raw = f.document.get("crashkernel")
        value = raw.get(key) if isinstance(raw, Mapping) else None
        return value if isinstance(value, int) and not isinstance(value, bool) and value else None

    return measure


def _strategy(f: LayoutFile) -> str:
    return f.strategy_name


_MEASURES: tuple[tuple[Callable[[LayoutFile], Any], str], ...] = (
    (_window_start, "addr"), (_window_size, "size"), (_crash("size"), "size"), (_crash("cma_size"), "size"),
    (_strategy, "text"))


def _shown(value: Any, shown: str) -> str:
    if value is None:
        return "none"
    return notation.addr(value) if shown == "addr" else notation.human(value) if shown == "size" else str(value)


def _cell(a: LayoutFile | None, b: LayoutFile | None, measure: Callable[[LayoutFile], Any], shown: str) -> str:
    if a is None or b is None:
        only = a or b
        return "" if only is None else _shown(measure(only), shown)
    x, y = measure(a), measure(b)
    if x == y:
        return ""
    if shown == "size" and x is not None and y is not None:
        return notation.change(x, y)
    return f"{_shown(x, shown)} -> {_shown(y, shown)}"


def _cmdlines(a: LayoutFile | None, b: LayoutFile | None) -> str:
    if a is None or b is None:
        return ""
    return ", ".join(s for s in STAGES if getattr(a.layout.cmdline, s) != getattr(b.layout.cmdline, s))


def headline(fleet: FleetDiff) -> str:
    """``5 board(s): 1 changed, 1 added, ... 2 unchanged.``"""
    counts = [f"{fleet.count(s)} {s}" for s in STATUSES if fleet.count(s)]
    return f"{len(fleet.boards)} board(s): {', '.join(counts) or 'none'}."


def failure_text(board: BoardDiff) -> str:
    """The diagnostics of the side of ``board`` that does not compile (the new one first)."""
    side = board.new if board.new is not None and board.new.doc is None else board.old
    return "" if side is None else diagnostics_text(side.errors)
