"""lsmem output (util-linux sys-utils/lsmem.c), as JSON (``-J``, with or without ``-b``) or text.

RANGE is ``0x%016x-0x%016x`` with an *inclusive* end and is block-granular. SIZE is bytes with
``-b`` and human-readable (``2.9G``) without; RANGE is authoritative, SIZE is only checked when
exact. REMOVABLE is empty unless the block is online. The text form ends with summary lines
(``Memory block size:`` ...). Text pasted into mail loses its alignment, so rows are split on
white space; a missing REMOVABLE cell (offline rows) is the one ambiguity resolved by column
count.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.importer import parse_report as report
from layoutc.importer.sysinfo_types import Lsmem, LsmemRow

_RANGE_RE = re.compile(r"^0x([0-9a-fA-F]+)-0x([0-9a-fA-F]+)$")
_BLOCK_RE = re.compile(r"^([0-9]+)(?:-([0-9]+))?$")
_HUMAN_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([BKMGTPE]?)$")
_SUMMARY_RE = re.compile(
    r"^(Memory block size|Total online memory|Total offline memory|"
    r"Memmap on memory parameter):\s+(\S+)$"
)
_STATES = ("online", "offline", "on->off", "going-offline")
_SHIFTS = {"B": 0, "": 0, "K": 10, "M": 20, "G": 30, "T": 40, "P": 50, "E": 60}
KNOWN_COLUMNS = (
    "RANGE",
    "SIZE",
    "STATE",
    "REMOVABLE",
    "BLOCK",
    "NODE",
    "ZONES",
    "CONFIGURED",
    "MEMMAP-ON-MEMORY",
)


def parse_lsmem_json(text: str, display: str, diags: Diagnostics) -> Lsmem | None:
    """Parse ``lsmem -J`` output (the object named "memory")."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        report.error(
            diags,
            "LC403",
            f"not JSON: {exc.msg}",
            file=display,
            line=exc.lineno,
            col=exc.colno,
            hint="capture with: lsmem -J -b -o RANGE,SIZE,STATE,REMOVABLE,BLOCK,NODE,ZONES",
        )
        return None
    except RecursionError:
        report.error(
            diags,
            "LC403",
            "JSON nested too deeply",
            file=display,
            hint="capture with: lsmem -J -b -o RANGE,SIZE,STATE,REMOVABLE,BLOCK,NODE,ZONES",
        )
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("memory"), list):
        report.error(
            diags,
            "LC403",
            "expected an object with a 'memory' list",
            file=display,
            hint="capture with: lsmem -J -b -o RANGE,SIZE,STATE,REMOVABLE,BLOCK,NODE,ZONES",
        )
        return None
    rows: list[LsmemRow] = []
    ok = True
    for index, item in enumerate(doc["memory"]):
        row = _json_row(item, index, text, display, diags)
        ok = ok and row is not None
        if row is not None:
            rows.append(row)
    return Lsmem(tuple(rows), "lsmem.json", None) if ok and _check_rows(rows, display, diags) else None


def _json_row(item: Any, index: int, text: str, display: str, diags: Diagnostics) -> LsmemRow | None:
    path = f"memory[{index}]"
    if not isinstance(item, dict) or not isinstance(item.get("range"), str):
        report.error(
            diags,
            "LC403",
            f"{path}: expected an object with a 'range' string",
            file=display,
            path=path,
            value=json.dumps(item)[:120],
            hint="lsmem -J rows always carry 'range'",
        )
        return None
    line = _line_of(text, item["range"])
    bounds = _range(item["range"], display, line, diags)
    if bounds is None:
        return None
    start, end = bounds
    bad = _json_field_problem(item, end - start)
    if bad is not None:
        key, expected = bad
        report.error(
            diags,
            "LC403",
            f"{json.dumps(item.get(key))} is not {expected}",
            file=display,
            line=line,
            path=f"{path}.{key}",
            value=json.dumps(item.get(key)),
            hint="capture with lsmem -J -b (util-linux 2.33 or newer)",
        )
        return None
    node = item.get("node")
    removable = item.get("removable")
    first, last = _blocks(item.get("block"))
    return LsmemRow(
        start,
        end,
        str(item.get("state", "online")),
        removable if isinstance(removable, bool) else _yes_no(removable),
        first,
        last,
        None if node is None else int(node),
        _zones(item.get("zones")),
    )


def _json_field_problem(item: dict[str, Any], length: int) -> tuple[str, str] | None:
    """The first field with a value lsmem never prints, as (key, what was expected)."""
    size = item.get("size")
    if size is not None and not (
        isinstance(size, int) and size == length or isinstance(size, str) and _HUMAN_RE.match(size)
    ):
        return "size", f"the range's length ({length}) or a human size"
    if "state" in item and item["state"] not in _STATES:
        return "state", "one of " + ", ".join(_STATES)
    removable = item.get("removable")
    if removable is not None and not isinstance(removable, bool) and removable not in ("yes", "no", ""):
        return "removable", "true, false, yes or no"
    block = item.get("block")
    if block is not None and not (
        isinstance(block, str) and _BLOCK_RE.match(block) or isinstance(block, int)
    ):
        return "block", "a block number or N-M"
    node = item.get("node")
    if node is not None and not (
        isinstance(node, int)
        and not isinstance(node, bool)
        and node >= 0
        or isinstance(node, str)
        and node.isdigit()
    ):
        return "node", "a node number"
    zones = item.get("zones")
    if zones is not None and not isinstance(zones, str):
        return "zones", "a string such as Normal or DMA32/Normal"
    return None


def parse_lsmem_text(text: str, display: str, diags: Diagnostics) -> Lsmem | None:
    """Parse lsmem's table output (aligned, or with the alignment lost in a paste)."""
    lines = text.splitlines()
    header_at = next((i for i, line in enumerate(lines) if line.split()[:1] == ["RANGE"]), None)
    if header_at is None:
        report.error(
            diags,
            "LC403",
            "no header line starting with RANGE",
            file=display,
            hint="capture with: lsmem -o RANGE,SIZE,STATE,REMOVABLE,BLOCK,NODE,ZONES --split NODE,ZONES",
        )
        return None
    columns = lines[header_at].split()
    unknown = [c for c in columns if c not in KNOWN_COLUMNS]
    if unknown:
        report.error(
            diags,
            "LC403",
            f"unknown column '{unknown[0]}' in the header",
            file=display,
            line=header_at + 1,
            col=lines[header_at].index(unknown[0]) + 1,
            value=unknown[0],
            hint="known columns: " + ", ".join(KNOWN_COLUMNS),
        )
        return None
    rows: list[LsmemRow] = []
    block_size: int | None = None
    ok = True
    bad = 0
    for index in range(header_at + 1, len(lines)):
        line = lines[index]
        if not line.strip():
            continue
        if bad >= report.MAX_LINE_ERRORS:
            report.too_many(diags, "LC403", display, index + 1)
            break
        summary = _SUMMARY_RE.match(line.strip())
        if summary is not None:
            if summary.group(1) == "Memory block size":
                block_size = _human(summary.group(2))
            continue
        row = _text_row(line, columns, display, index + 1, diags)
        ok = ok and row is not None
        bad += row is None
        if row is not None:
            rows.append(row)
    if not ok or not _check_rows(rows, display, diags):
        return None
    return Lsmem(tuple(rows), "lsmem.txt", block_size)


def _text_row(
    line: str, columns: list[str], display: str, lineno: int, diags: Diagnostics
) -> LsmemRow | None:
    cells = line.split()
    if len(cells) == len(columns) - 1 and "REMOVABLE" in columns:
        cells.insert(columns.index("REMOVABLE"), "")  # REMOVABLE is empty unless the block is online
    if len(cells) != len(columns):
        report.error(
            diags,
            "LC403",
            f"{len(cells)} cells for {len(columns)} columns: '{report.shown(line)}'",
            file=display,
            line=lineno,
            value=line,
            hint="columns: " + " ".join(columns),
        )
        return None
    cell = dict(zip(columns, cells, strict=True))
    bounds = _range(cell["RANGE"], display, lineno, diags)
    if bounds is None:
        return None
    problem = _text_cell_problem(cell)
    if problem is not None:
        report.error(
            diags,
            "LC403",
            f"{problem}: '{cell[problem]}' in '{report.shown(line)}'",
            file=display,
            line=lineno,
            col=line.find(cell[problem]) + 1,
            value=cell[problem],
            hint=f"see the {problem} column of lsmem(1)",
        )
        return None
    first, last = _blocks(cell.get("BLOCK"))
    node = cell.get("NODE")
    return LsmemRow(
        bounds[0],
        bounds[1],
        cell.get("STATE", "online"),
        _yes_no(cell.get("REMOVABLE")),
        first,
        last,
        int(node) if node is not None else None,
        _zones(cell.get("ZONES")),
    )


def _text_cell_problem(cell: dict[str, str]) -> str | None:
    checks: dict[str, Callable[[str], bool]] = {
        "SIZE": lambda v: _human(v) is not None,
        "STATE": lambda v: v in _STATES,
        "REMOVABLE": lambda v: v in ("yes", "no", ""),
        "BLOCK": lambda v: _BLOCK_RE.match(v) is not None,
        "NODE": lambda v: v.isdigit(),
    }
    for name, check in checks.items():
        if name in cell and not check(cell[name]):
            return name
    return None


def _range(text: str, display: str, line: int, diags: Diagnostics) -> tuple[int, int] | None:
    match = _RANGE_RE.match(text)
    if match is None or int(match.group(2), 16) < int(match.group(1), 16):
        report.error(
            diags,
            "LC403",
            f"RANGE '{text}' is not 0xSTART-0xEND with END >= START",
            file=display,
            line=line,
            value=text,
            hint="lsmem prints 0x%016x-0x%016x, inclusive end",
        )
        return None
    return int(match.group(1), 16), int(match.group(2), 16) + 1


def _check_rows(rows: list[LsmemRow], display: str, diags: Diagnostics) -> bool:
    for a, b in zip(rows, rows[1:], strict=False):
        if b.start < a.end:
            report.error(
                diags,
                "LC403",
                f"rows overlap: 0x{b.start:x} starts before 0x{a.end:x}",
                file=display,
                value=f"0x{b.start:x}",
                hint="lsmem lists blocks in address order",
            )
            return False
    return True


def _human(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    match = _HUMAN_RE.match(text)
    if match is None:
        return None
    return int(float(match.group(1)) * (1 << _SHIFTS[match.group(2)]))


def _blocks(value: object) -> tuple[int | None, int | None]:
    if isinstance(value, int):
        return value, value
    match = _BLOCK_RE.match(value) if isinstance(value, str) else None
    if match is None:
        return None, None
    first = int(match.group(1))
    return first, int(match.group(2)) if match.group(2) else first


def _yes_no(value: object) -> bool | None:
    return {"yes": True, "no": False}.get(value) if isinstance(value, str) else None


def _zones(value: object) -> tuple[str, ...]:
    return tuple(value.split("/")) if isinstance(value, str) and value else ()


def _line_of(text: str, needle: str) -> int:
    at = text.find(f'"{needle}"')
    return text.count("\n", 0, at) + 1 if at >= 0 else 1


def render_lsmem_json(lsmem: Lsmem) -> str:
    """Print rows as ``lsmem -J -b -o RANGE,SIZE,STATE,REMOVABLE,BLOCK,NODE,ZONES`` would."""
    items = []
    for row in lsmem.rows:
        item: dict[str, object] = {
            "range": f"0x{row.start:016x}-0x{row.end - 1:016x}",
            "size": row.end - row.start,
            "state": row.state,
            "removable": row.removable,
        }
        if row.first_block is not None:
            item["block"] = (
                str(row.first_block)
                if row.first_block == row.last_block
                else f"{row.first_block}-{row.last_block}"
            )
        if row.node is not None:
            item["node"] = row.node
        item["zones"] = "/".join(row.zones) if row.zones else None
        items.append(item)
    return json.dumps({"memory": items}, indent=3) + "\n"


def render_lsmem_text(lsmem: Lsmem, block_size: int) -> str:
    """Print rows as lsmem's table with byte sizes (``lsmem -b``) and the block-size summary."""
    header = ["RANGE", "SIZE", "STATE", "REMOVABLE", "BLOCK", "NODE", "ZONES"]
    body = []
    for row in lsmem.rows:
        removable = "" if row.removable is None else ("yes" if row.removable else "no")
        block = (
            ""
            if row.first_block is None
            else (
                str(row.first_block)
                if row.first_block == row.last_block
                else f"{row.first_block}-{row.last_block}"
            )
        )
        body.append(
            [
                f"0x{row.start:016x}-0x{row.end - 1:016x}",
                str(row.end - row.start),
                row.state,
                removable,
                block,
                "" if row.node is None else str(row.node),
                "/".join(row.zones) or "None",
            ]
        )
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    out = [
        " ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)).rstrip()
        for r in [header, *body]
    ]
    return "\n".join(out) + f"\n\nMemory block size: {block_size:>12}\n"
