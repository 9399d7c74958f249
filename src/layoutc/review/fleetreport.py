"""The fleet diff as Markdown (the one report of a pull request), terminal text and JSON."""

from __future__ import annotations

import json

from layoutc.review.diff import as_json, render_markdown
from layoutc.review.diff import render_text as board_text
from layoutc.review.fleetdiff import COLUMNS, UNCHANGED, BoardDiff, FleetDiff, failure_text, headline, summary_rows


def render_markdown_report(fleet: FleetDiff) -> str:
    """A summary table of every board that changed, then a section per board."""
    lines = [f"## layoutc diff: {fleet.old_label} -> {fleet.new_label}", "", headline(fleet)]
    rows = summary_rows(fleet)
    if rows:
        lines += ["", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    same = [b.board for b in fleet.boards if b.status == UNCHANGED]
    if same:
        lines += ["", f"Unchanged: {', '.join(same)}."]
    text = "\n".join(lines) + "\n"
    for board in fleet.boards:
        section = _section(board)
        if section:
            text += "\n" + section
    return text


def _section(board: BoardDiff) -> str:
    if board.result is not None and board.result.changed:
        return render_markdown(board.result)
    errors = failure_text(board) if board.changed or board.status_text != board.status else ""
    if not errors:
        return ""
    side = board.new if board.new is not None and board.new.doc is None else board.old
    where = "" if side is None else f" ({side.source})"
    return f"### {board.board}: {board.status_text}{where}\n\n```text\n{errors}```\n"


def render_text_report(fleet: FleetDiff) -> str:
    """An aligned summary table, then each changed board as ``diff`` prints one."""
    lines = [f"{fleet.old_label} -> {fleet.new_label}: {headline(fleet)}"]
    rows = summary_rows(fleet)
    if rows:
        widths = [max(len(c) for c in col) for col in zip(COLUMNS, *rows, strict=True)]
        lines.append("  ".join(h.ljust(w) for h, w in zip(COLUMNS, widths, strict=True)).rstrip())
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    text = "\n".join(lines) + "\n"
    for board in fleet.boards:
        if board.result is not None and board.result.changed:
            text += "\n" + board_text(board.result)
        elif board.changed and failure_text(board):
            text += f"\n{board.board}: {board.status_text}\n{failure_text(board)}"
    return text


def render_json_report(fleet: FleetDiff) -> str:
    """``diff --format json`` of fleets (schemas/cli/v1/diff.schema.json, the fleet form)."""
    boards = []
    for board in fleet.boards:
        failed = board.new if board.new is not None and board.new.doc is None else board.old
        error = failed.first_error if failed is not None and failed.doc is None else None
        boards.append({
            "board": board.board, "status": board.status, "changed": board.changed,
            "old": None if board.old is None else {"board": board.old.board, "source": board.old.source},
            "new": None if board.new is None else {"board": board.new.board, "source": board.new.source},
            "error": None if error is None else {"code": error.code, "message": error.message},
            "diff": None if board.result is None else as_json(board.result),
        })
    data = {"old": {"label": fleet.old_label}, "new": {"label": fleet.new_label}, "changed": fleet.changed,
            "boards": boards}
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")
