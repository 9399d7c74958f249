"""How the sysinfo parsers report a problem: at ``file:line:col``, with the bad text and the rule."""

from __future__ import annotations

from layoutc.diagnostics.diagnostic import Diagnostic, Diagnostics, Severity, Span
from layoutc.importer.import_codes import RULES

MAX_SHOWN = 120  # long lines are cut in messages; the span still points at them
MAX_LINE_ERRORS = 20  # per file: after this many bad lines a parser stops (10 MB of junk is one report)


def shown(text: str) -> str:
    """The offending text as a message quotes it (cut at MAX_SHOWN characters)."""
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "..."


def error(
    diags: Diagnostics,
    code: str,
    message: str,
    *,
    file: str | None,
    line: int = 1,
    col: int = 1,
    value: str | None = None,
    hint: str = "",
    path: str = "",
) -> None:
    """Record an LC4xx error; ``file`` None means the problem has no position (a missing file)."""
    _add(diags, Severity.ERROR, code, message, file, line, col, value, hint, path)


def warning(
    diags: Diagnostics,
    code: str,
    message: str,
    *,
    file: str | None,
    line: int = 1,
    col: int = 1,
    value: str | None = None,
    hint: str = "",
    path: str = "",
) -> None:
    """Record an LC4xx warning (the import goes on)."""
    _add(diags, Severity.WARNING, code, message, file, line, col, value, hint, path)


def note(diags: Diagnostics, code: str, message: str, *, file: str | None = None, hint: str = "") -> None:
    """Record an LC4xx note (information about the capture's fidelity)."""
    _add(diags, Severity.NOTE, code, message, file, 1, 1, None, hint, "")


def _add(
    diags: Diagnostics,
    severity: Severity,
    code: str,
    message: str,
    file: str | None,
    line: int,
    col: int,
    value: str | None,
    hint: str,
    path: str,
) -> None:
    span = Span(file, line, col) if file is not None else None
    diags.add(
        Diagnostic(
            code, severity, message, span=span, path=path, value=value, rule=RULES.get(code, ""), hint=hint
        )
    )


def error_count(diags: Diagnostics) -> int:
    """How many errors the collector holds (stages compare before and after)."""
    return sum(1 for d in diags.items if d.severity is Severity.ERROR)


def too_many(diags: Diagnostics, code: str, file: str, line: int) -> None:
    """Record that a parser stopped at ``line`` after MAX_LINE_ERRORS bad lines."""
    error(
        diags,
        code,
        f"more than {MAX_LINE_ERRORS} malformed lines; stopped reading at line {line}",
        file=file,
        line=line,
        hint="is this the right file?",
    )
