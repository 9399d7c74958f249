"""The status as text (one line per check: level, name, expected and observed) and as JSON
(``schemas/cli/v1/status.schema.json``)."""

from __future__ import annotations

import json
from typing import Any

from layoutc.status.checks import Status

SCHEMA_VERSION = 1


def as_dict(s: Status, layout: str) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "state": s.state,
        "exit_code": s.exit_code,
        "board": s.board,
        "layout": layout,
        "boot": s.boot,
        "window": s.window,
        "dump": s.dump,
        "pending_uploads": list(s.pending_uploads),
        "last_recovery": dict(s.last_recovery),
        "checks": [
            {"name": k.name, "level": k.level.label, "expected": k.expected, "observed": k.observed, "detail": k.detail}
            for k in s.checks
        ],
    }


def as_json(s: Status, layout: str) -> str:
    return json.dumps(as_dict(s, layout), indent=1, sort_keys=True) + "\n"


def as_text(s: Status, layout: str) -> str:
    head = [f"layoutc status: {s.state} (exit {s.exit_code})",
            f"board {s.board or '?'}, {s.boot} boot, layout {layout}"]  # fmt: skip
    lines = []
    for k in s.checks:
        line = f"{k.level.label:<12} {k.name}: expected {k.expected}, observed {k.observed}"
        lines.append(f"{line} ({k.detail})" if k.detail else line)
    return "\n".join(head + lines) + "\n"
