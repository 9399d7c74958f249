"""Diagnostics are data: a stable code, a source position, the value, the rule and a fix.

Library code never prints or exits; it appends to a ``Diagnostics`` collector, and the CLI
renders the collected list as text or JSON.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field


class Severity(enum.IntEnum):
    NOTE = 0
    WARNING = 1
    ERROR = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """A position in a source file (1-based line and column)."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    def as_json(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "col": self.col}


@dataclass(frozen=True, slots=True)
class Related:
    """Another place that takes part in a diagnostic (the other side of an overlap, say)."""

    span: Span | None
    message: str


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding. ``code`` is stable (tests and tools match on it); ``message`` is for people."""

    code: str
    severity: Severity
    message: str
    span: Span | None = None
    path: str = ""
    value: str | None = None
    rule: str = ""
    hint: str = ""
    related: tuple[Related, ...] = ()

    def as_json(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity.label,
            "message": self.message,
            "file": self.span.file if self.span else None,
            "line": self.span.line if self.span else None,
            "col": self.span.col if self.span else None,
            "path": self.path,
            "value": self.value,
            "rule": self.rule,
            "hint": self.hint,
            "related": [
                {"message": r.message, **(r.span.as_json() if r.span else {})} for r in self.related
            ],
        }


@dataclass
class Diagnostics:
    """A collector. Stages append; the pipeline stops between stages when ``has_errors``."""

    items: list[Diagnostic] = field(default_factory=list)

    def add(self, diagnostic: Diagnostic) -> None:
        self.items.append(diagnostic)

    def error(self, code: str, message: str, **kwargs: object) -> None:
        self.items.append(Diagnostic(code, Severity.ERROR, message, **kwargs))  # type: ignore[arg-type]

    def warning(self, code: str, message: str, **kwargs: object) -> None:
        self.items.append(Diagnostic(code, Severity.WARNING, message, **kwargs))  # type: ignore[arg-type]

    def extend(self, other: Iterable[Diagnostic]) -> None:
        self.items.extend(other)

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.items)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.sorted())

    def __len__(self) -> int:
        return len(self.items)

    def sorted(self) -> list[Diagnostic]:
        """Errors in file order, so several errors read top to bottom."""

        def key(d: Diagnostic) -> tuple[str, int, int, str]:
            if d.span is None:
                return ("~", 0, 0, d.code)
            return (d.span.file, d.span.line, d.span.col, d.code)

        return sorted(self.items, key=key)


def render_text(diagnostics: Iterable[Diagnostic]) -> str:
    """Render diagnostics the compiler way::

        profiles/x.yaml:12:9: error[LC104]: crash.reserve: '12Q' is not a kernel size ...
          = rule: ...
          = hint: ...
    """
    lines: list[str] = []
    for d in diagnostics:
        where = f"{d.span}: " if d.span else ""
        path = f"{d.path}: " if d.path else ""
        lines.append(f"{where}{d.severity.label}[{d.code}]: {path}{d.message}")
        for related in d.related:
            rwhere = f" ({related.span})" if related.span else ""
            lines.append(f"  = note: {related.message}{rwhere}")
        if d.rule:
            lines.append(f"  = rule: {d.rule}")
        if d.hint:
            lines.append(f"  = hint: {d.hint}")
    return "\n".join(lines) + ("\n" if lines else "")


def render_json(diagnostics: Iterable[Diagnostic]) -> str:
    """The same data as ``render_text``, as a JSON document."""
    items = [d.as_json() for d in diagnostics]
    errors = sum(1 for d in items if d["severity"] == "error")
    return json.dumps({"diagnostics": items, "errors": errors}, indent=2, sort_keys=True) + "\n"
