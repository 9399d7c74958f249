"""The fleet summary (``layoutc compile profiles/ -o out/ --summary``): one table of every board.

Columns: board, arch, RAM, strategy, crashkernel (what the production cmdline reserves), window,
guard, armed overhead, kdump-utils' default on the same RAM and the difference, warnings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from layoutc.review import notation
from layoutc.review.doc import read
from layoutc.review.overhead import armed_overhead

HEADER = ("board", "arch", "RAM", "strategy", "crashkernel", "window", "guard", "armed", "kdump-utils",
          "vs default", "warnings")


@dataclass(frozen=True, slots=True)
class Row:
    cells: tuple[str, ...]


def fleet_rows(docs: Iterable[Mapping[str, Any]],
               warnings: Mapping[str, Sequence[str]] | None = None) -> tuple[Row, ...]:
    """One row per board; ``warnings`` adds compile diagnostics per board (e.g. "LC313 ...")."""
    rows = []
    for doc in docs:
        file = read(doc)
        layout = file.layout
        report = armed_overhead(layout)
        production = layout.cmdline.production.split()
        crash = " ".join(t for t in production if t.startswith("crashkernel="))
        window = layout.dump_window
        window_text = ("-" if window is None
                       else f"{notation.human(window.size)} @ {notation.addr(window.start)}")
        if window is not None:
            window_text += f" ({window.devdax.blocks_returned} blk back)"
        extra = (warnings or {}).get(layout.board, ())
        notes = [*extra, *(f"unsafe {u.pin}" for u in layout.unsafe)]
        rows.append(Row((
            layout.board, str(layout.arch), notation.human(layout.memory.total_ram), file.strategy_name,
            crash.replace("crashkernel=", "") or "-", window_text,
            notation.human(report.guard) if report.guard else "-", notation.human(report.total),
            notation.human(report.kdump_default.size), notation.delta(report.versus_default),
            str(len(notes)) + (f": {'; '.join(notes)}" if notes else ""),
        )))
    return tuple(sorted(rows, key=lambda r: r.cells[0]))


def fleet_summary(docs: Iterable[Mapping[str, Any]],
                  warnings: Mapping[str, Sequence[str]] | None = None) -> tuple[str, str]:
    """(text, markdown) tables of every board's layout; ``warnings``: board -> diagnostic texts."""
    rows = fleet_rows(docs, warnings)
    widths = [max(len(c) for c in col) for col in zip(HEADER, *(r.cells for r in rows), strict=True)]
    text = ["  ".join(h.ljust(w) for h, w in zip(HEADER, widths, strict=True)).rstrip()]
    text.append("  ".join("-" * w for w in widths))
    text += ["  ".join(c.ljust(w) for c, w in zip(r.cells, widths, strict=True)).rstrip() for r in rows]
    md = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    md += ["| " + " | ".join(c.replace("|", "\\|") for c in r.cells) + " |" for r in rows]
    footer = f"{len(rows)} board(s); armed = memory unusable while a crash kernel is armed"
    return "\n".join(text) + f"\n\n{footer}\n", "\n".join(md) + f"\n\n{footer}\n"
