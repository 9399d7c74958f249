"""``extends:``: layer a board on its family base, keeping every value's own position.

Mappings merge key by key (the extending file wins); lists and scalars replace the base's.
``extends`` and ``abstract`` are never inherited, and every concrete file names its own board.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .diagnostics import Diagnostics, Related
from .source import Document, Key, load

MAX_LAYERS = 8
NOT_INHERITED = ("extends", "abstract", "board")


def load_layered(path: Path, display: str, diags: Diagnostics) -> tuple[Document, tuple[str, ...]] | None:
    """Load ``path`` and its ``extends`` chain; returns the merged document and the layer files."""
    chain: list[Document] = []
    seen: list[Path] = []
    current_path, current_display = path, display
    while True:
        resolved = current_path.resolve()
        if resolved in seen:
            first = chain[0]
            diags.error("LC222", f"extends cycle: {current_display} is already in the chain",
                        span=chain[-1].key_span(("extends",)), path="extends", value=current_display,
                        rule="extends chains must end at a base that extends nothing",
                        related=tuple(Related(d.key_span(("extends",)), f"{d.file} extends") for d in chain),
                        hint=f"remove 'extends' from one file in the chain starting at {first.file}")
            return None
        if len(chain) >= MAX_LAYERS:
            diags.error("LC222", f"extends chain longer than {MAX_LAYERS} files",
                        span=chain[-1].key_span(("extends",)), path="extends",
                        rule="extends chains are short: board -> family -> (vendor)", hint="flatten the chain")
            return None
        seen.append(resolved)
        before = len(diags)
        doc = load(current_path, current_display, diags)
        if doc is None:
            if chain and len(diags) > before and diags.items[-1].code == "LC001":
                diags.items.pop()
                parent = chain[-1]
                diags.error("LC221", f"base profile not found: {current_display}",
                            span=parent.span(("extends",)), path="extends",
                            value=str(parent.data.get("extends")),
                            rule="extends is a path relative to the extending file",
                            hint="check the relative path; bases usually live next to their boards")
            return None
        chain.append(doc)
        base = doc.data.get("extends") if isinstance(doc.data, dict) else None
        if not isinstance(base, str):
            break
        current_path = current_path.parent / base
        current_display = os.path.normpath(str(Path(current_display).parent / base))
    merged = chain[-1]
    for upper in reversed(chain[:-1]):
        merged = _merge_documents(merged, upper)
    return merged, tuple(d.file for d in chain)


def _merge_documents(base: Document, upper: Document) -> Document:
    if not isinstance(base.data, dict) or not isinstance(upper.data, dict):
        return upper
    inherited = {k: v for k, v in base.data.items() if k not in NOT_INHERITED}
    data = _merge(inherited, upper.data)
    replaced = _replaced_paths(inherited, upper.data, ())
    value_spans = {p: s for p, s in base.value_spans.items() if p and p[0] not in NOT_INHERITED}
    key_spans = {p: s for p, s in base.key_spans.items() if p and p[0] not in NOT_INHERITED}
    for prefix in replaced:
        value_spans = {p: s for p, s in value_spans.items() if p[: len(prefix)] != prefix}
        key_spans = {p: s for p, s in key_spans.items() if p[: len(prefix)] != prefix}
    value_spans.update(upper.value_spans)
    key_spans.update(upper.key_spans)
    return Document(upper.file, data, value_spans, key_spans)


def _merge(base: dict[str, Any], upper: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in upper.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _replaced_paths(base: dict[str, Any], upper: dict[str, Any], prefix: Key) -> list[Key]:
    paths: list[Key] = []
    for key, value in upper.items():
        if key not in base:
            continue
        if isinstance(value, dict) and isinstance(base[key], dict):
            paths.extend(_replaced_paths(base[key], value, (*prefix, key)))
        else:
            paths.append((*prefix, key))
    return paths
