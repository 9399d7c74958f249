"""JSON text to Python values with the json package's C scanner, without importing the package.

``import json`` costs the dumper's start-up about 3.5 ms (measured: ``json.decoder`` and ``json.encoder``
import ``re``, and ``re`` imports ``enum``, ``functools`` and ``collections``); the filter spec and its schema
are read on every dump that capture.sh runs. ``_json.make_scanner`` is the scanner ``json.loads`` itself uses
(CPython's ``Modules/_json.c``), driven here as ``json.JSONDecoder.decode`` drives it: leading and trailing
JSON whitespace skipped, the same hooks. A document it accepts gives what ``json.loads`` gives; anything else
(an error, a byte-order mark, an interpreter without ``_json``) goes to ``json.loads``, which raises its own
error, with its position, as before.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

WHITESPACE = " \t\n\r"  # json.decoder.WHITESPACE
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}  # as json.decoder's


class _Context:
    """The attributes ``_json.make_scanner`` reads from a ``json.JSONDecoder``."""

    def __init__(self, object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None) -> None:
        self.strict = True
        self.object_hook = None
        self.object_pairs_hook = object_pairs_hook
        self.parse_float = float
        self.parse_int = int
        self.parse_constant = _CONSTANTS.__getitem__
        self.memo: dict[str, str] = {}


def loads(text: str, object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None) -> Any:
    """``json.loads(text, object_pairs_hook=...)``, the same values and the same errors."""
    scanned = _scan(text, object_pairs_hook)
    if scanned is not None:
        return scanned[0]
    import json  # an error to report, or no C scanner: json's own words

    return json.loads(text, object_pairs_hook=object_pairs_hook)


def _scan(text: str, hook: Callable[[list[tuple[str, Any]]], Any] | None) -> tuple[Any] | None:
    """``(value,)`` when the C scanner takes the whole text, else None."""
    try:
        from _json import make_scanner  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    start = len(text) - len(text.lstrip(WHITESPACE))
    try:
        context: Any = _Context(hook)  # duck-typed as the decoder the scanner expects
        value, end = make_scanner(context)(text, start)
    except (StopIteration, ValueError):  # no value there, or a malformed one (JSONDecodeError, a hook's ValueError)
        return None
    if text[end:].strip(WHITESPACE):  # "Extra data"
        return None
    return (value,)
