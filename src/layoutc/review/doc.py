"""A layout.json as the review tools read it: the typed ``Layout`` (``model.layout_json``) and its document.

The review room works on compiled output, on two revisions of it, and on hand-written fixtures alike;
every one is read by the one layout.json reader, so a document that is not a v1 layout is refused with
the JSON path, value and rule. The document itself is kept only for what is about JSON Pointers
(explain's leaves, diff's walk over every value).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layoutc.model import layout_json
from layoutc.model.layout import Input, Layout, Provenance


@dataclass(frozen=True, slots=True)
class LayoutFile:
    """One layout.json: the typed layout, and the document it was read from (for JSON Pointers)."""

    layout: Layout
    document: Mapping[str, Any]

    @property
    def provenance(self) -> dict[str, Provenance]:
        """The provenance table: JSON Pointer -> why the value there is what it is."""
        return {p.pointer: p for p in self.layout.provenance}

    @property
    def strategy_name(self) -> str:
        s = self.layout.strategy
        return "/".join(str(p) for p in (s.crash_memory, s.target, s.window_mode) if p)


def read(doc: Mapping[str, Any]) -> LayoutFile:
    """The typed layout of a parsed layout.json (``LayoutJsonError`` when it is not a v1 layout)."""
    return LayoutFile(layout_json.read(doc), doc)


def position(inp: Input) -> str:
    return f"{inp.file}:{inp.line}:{inp.col}" if inp.file else "(no position)"


def leaves(value: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    """Every scalar of a JSON value with its JSON Pointer (RFC 6901), in document order."""
    if isinstance(value, Mapping):
        for key in value:
            yield from leaves(value[key], f"{pointer}/{escape(str(key))}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, f"{pointer}/{index}")
    else:
        yield pointer, value


def resolve(doc: Mapping[str, Any], pointer: str) -> Any:
    """The value at ``pointer``; KeyError when it does not exist."""
    value: Any = doc
    for part in pointer.split("/")[1:]:
        token = part.replace("~1", "/").replace("~0", "~")
        if isinstance(value, Mapping) and token in value:
            value = value[token]
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            raise KeyError(pointer)
    return value


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def load(path: Path, display: str) -> LayoutFile:
    """A compiled layout.json file, read by the one layout.json reader (``LayoutJsonError`` when refused)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise layout_json.LayoutJsonError(display, (layout_json.Problem("", "(file)", f"cannot read: {reason}"),)) \
            from None
    layout = layout_json.read_text(text, display)
    loaded: Mapping[str, Any] = json.loads(text)
    return LayoutFile(layout, loaded)
