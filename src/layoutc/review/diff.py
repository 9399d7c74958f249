"""``layoutc diff``: a semantic diff of two solved layouts (layout.json documents); renderers.

Sections, in reading order: board, strategy, cmdline parameters per boot stage, regions moved or
resized (with byte deltas), ZONE_MOVABLE, the dump window, memory lost or returned while armed,
rule outcomes, and any other value. Positions of inputs (line numbers) are not layout changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from layoutc.review import notation
from layoutc.review.changes import (
    ADDED,
    CHANGED,
    REMOVED,
    STAGES,
    Change,
    armed_changes,
    board_changes,
    cmdline_changes,
    crash_changes,
    other_changes,
    param_key,
    region_changes,
    rule_changes,
    strategy_changes,
    window_changes,
    zone_changes,
)
from layoutc.review.doc import read
from layoutc.review.overhead import ArmedOverhead, armed_overhead

__all__ = ["Change", "LayoutDiff", "armed_json", "as_json", "diff", "param_key", "render_markdown", "render_text"]

@dataclass(frozen=True, slots=True)
class LayoutDiff:
    old_board: str
    new_board: str
    old_label: str
    new_label: str
    changes: tuple[Change, ...]
    old_armed: ArmedOverhead
    new_armed: ArmedOverhead

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def section(self, name: str) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.section == name)


def diff(old_doc: Mapping[str, Any], new_doc: Mapping[str, Any], *, old_label: str = "old",
         new_label: str = "new") -> LayoutDiff:
    """Compare two layout.json documents."""
    old, new = read(old_doc), read(new_doc)
    changes: list[Change] = []
    changes += board_changes(old, new)
    changes += strategy_changes(old, new)
    for stage in STAGES:
        changes += cmdline_changes(f"cmdline:{stage}", getattr(old.layout.cmdline, stage),
                                   getattr(new.layout.cmdline, stage))
    changes += cmdline_changes("cmdline:board", old.layout.board_cmdline, new.layout.board_cmdline)
    changes += cmdline_changes("cmdline:crash-board", old.layout.crash_board_cmdline, new.layout.crash_board_cmdline)
    changes += crash_changes(old, new)
    changes += region_changes(old, new)
    changes += zone_changes(old, new)
    changes += window_changes(old, new)
    old_armed, new_armed = armed_overhead(old), armed_overhead(new)
    changes += armed_changes(old_armed, new_armed)
    changes += rule_changes(old, new)
    changes += other_changes(old, new)
    return LayoutDiff(old.layout.board, new.layout.board, old_label, new_label, tuple(changes), old_armed, new_armed)


SECTION_TITLES = (
    ("board", "Board"),
    ("strategy", "Strategy"),
    ("cmdline:production", "Cmdline: production kernel"),
    ("cmdline:crash", "Cmdline: crash kernel (kexec -p)"),
    ("cmdline:recovery", "Cmdline: recovery boot"),
    ("cmdline:board", "Cmdline: board basics"),
    ("cmdline:crash-board", "Cmdline: board's crash-kernel basics"),
    ("crash", "Crash reservation"),
    ("regions", "Regions"),
    ("movable_zone", "ZONE_MOVABLE"),
    ("dump_window", "Dump window"),
    ("armed", "Armed overhead"),
    ("rules", "Rule outcomes"),
    ("other", "Other values"),
)
_SIGN = {ADDED: "+", REMOVED: "-", CHANGED: "~"}


def _describe(change: Change) -> str:
    if change.section.startswith("cmdline:"):
        if change.kind == CHANGED:
            text = f"{change.old} -> {change.new}"
        else:
            text = change.new or change.old
        return text + (f"  ({change.detail})" if change.detail else "")
    if change.kind == ADDED:
        text = f"{change.subject}: {change.new}"
    elif change.kind == REMOVED:
        text = f"{change.subject}: {change.old}"
    else:
        text = f"{change.subject}: {change.old} -> {change.new}"
    return text + (f"  ({change.detail})" if change.detail else "")


def render_text(result: LayoutDiff) -> str:
    """Terminal text: one block per section, ``+``/``-``/``~`` per change."""
    title = _title(result)
    if not result.changed:
        return f"{title}: no layout change\n"
    lines = [f"{title}: {len(result.changes)} change(s)"]
    for section, heading in SECTION_TITLES:
        items = result.section(section)
        if not items:
            continue
        lines.append(f"{heading}:")
        lines.extend(f"  {_SIGN[c.kind]} {_describe(c)}" for c in items)
    lines.append(_armed_summary(result))
    return "\n".join(lines) + "\n"


def render_markdown(result: LayoutDiff) -> str:
    """Markdown for a pull request: a summary line, then a table per section."""
    title = _title(result)
    lines = [f"### layoutc diff: {title}", ""]
    if not result.changed:
        lines.append("No layout change.")
        return "\n".join(lines) + "\n"
    lines.append(f"**{len(result.changes)} change(s).** {_armed_summary(result)}")
    for section, heading in SECTION_TITLES:
        items = result.section(section)
        if not items:
            continue
        lines += ["", f"#### {heading}", "", "| | what | old | new | delta |", "|---|---|---|---|---|"]
        for c in items:
            lines.append(f"| {_SIGN[c.kind]} | {_md(c.subject)} | {_md_code(c.old)} | {_md_code(c.new)} | "
                         f"{_md(c.detail)} |")
    return "\n".join(lines) + "\n"


def _title(result: LayoutDiff) -> str:
    if result.old_board == result.new_board:
        return f"{result.new_board} ({result.old_label} -> {result.new_label})"
    return f"{result.old_board} ({result.old_label}) -> {result.new_board} ({result.new_label})"


def _armed_summary(result: LayoutDiff) -> str:
    a, b = result.old_armed, result.new_armed
    versus = b.versus_default
    relation = ("the same as layoutc" if versus == 0 else
                f"layoutc takes {notation.human(abs(versus))} {'less' if versus < 0 else 'more'}")
    return (f"Armed overhead {notation.change(a.total, b.total)}; kdump-utils default on the new RAM: "
            f"{notation.human(b.kdump_default.size)} ({relation}).")


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _md_code(text: str) -> str:
    return f"`{text}`" if text else ""


def as_json(result: LayoutDiff) -> dict[str, object]:
    """The JSON value of one diff: every change and both armed overheads (schemas/cli/v1/diff.schema.json)."""
    return {"old": {"label": result.old_label, "board": result.old_board, "armed": armed_json(result.old_armed)},
            "new": {"label": result.new_label, "board": result.new_board, "armed": armed_json(result.new_armed)},
            "changed": result.changed,
            "changes": [{"section": c.section, "kind": c.kind, "subject": c.subject, "old": c.old, "new": c.new,
                         "detail": c.detail} for c in result.changes]}


def armed_json(armed: ArmedOverhead) -> dict[str, object]:
    return {"ram": armed.ram, "crash": armed.crash, "low": armed.low, "cma_lent": armed.cma_lent,
            "guard": armed.guard, "window_lost": armed.window_lost, "total": armed.total,
            "kdump_default": armed.kdump_default.size, "versus_default": armed.versus_default}
