"""``extends:``: layer a board on its family base, keeping every value's own position.

Mappings merge key by key (the extending file wins); lists and scalars replace the base's.
``extends`` and ``abstract`` are never inherited, and every concrete file names its own board.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from layoutc.diagnostics.diagnostic import Diagnostics, Related
from layoutc.frontend.yaml_source import Document, Key, loads, read_profile_bytes

MAX_LAYERS = 8
NOT_INHERITED = ("extends", "abstract", "board")
# The schema's pattern for extends, with \Z so a trailing newline cannot pass.
EXTENDS_RE = re.compile(r"^[A-Za-z0-9._-][A-Za-z0-9._/-]*\.ya?ml\Z")
# A file is taken for a profile when a top-level line starts with schema_version; anything else
# that extends names is reported as "not a profile" without a word of its content.
_PROFILE_MARK_RE = re.compile(rb"^[\"']?schema_version[\"']?[ \t]*:", re.MULTILINE)
RULE_EXTENDS = ("extends is a relative path, ending in .yaml or .yml, to a profile inside the profile tree "
                "(the git work tree that holds the profile, else the directory named on the command line)")


@dataclass(frozen=True, slots=True)
class Layer:
    """A file of an ``extends`` chain: where it is, and how diagnostics name it."""

    path: Path
    display: str


def profile_tree(path: Path, tree: Path | None = None) -> Path:
    """The directory no ``extends`` may leave (symbolic links resolved).

    The top of the git work tree that holds the profile; outside a work tree, ``tree`` (the
    directory named on the command line) or else the directory of the profile itself.
    """
    start = Path(os.path.realpath(tree if tree is not None else path.parent))
    for folder in (start, *start.parents):
        if os.path.lexists(folder / ".git"):
            return folder
    return start


def load_layered(path: Path, display: str, diags: Diagnostics,
                 *, tree: Path | None = None) -> tuple[Document, tuple[str, ...]] | None:
    """Load ``path`` and its ``extends`` chain; returns the merged document and the layer files.

    Each ``extends`` value is checked (``RULE_EXTENDS``) before the file it names is opened, in
    every layer; a base that is not a profile is reported by name only.
    """
    root = profile_tree(path, tree)
    if tree is not None and not _inside(os.path.realpath(path), root):
        diags.error("LC225", f"{display} leads outside the profile tree {_shown_root(root)}",
                    value=display, rule=RULE_EXTENDS,
                    hint="replace the symbolic link by the profile file, or compile the file it points to")
        return None
    raw = read_profile_bytes(path, display, diags)
    first = None if raw is None else loads(raw, display, diags)
    if first is None:
        return None
    chain = [first]
    seen = [os.path.realpath(path)]
    layer = Layer(path, display)
    while isinstance(chain[-1].data, dict) and "extends" in chain[-1].data:
        base = _base_layer(chain[-1], layer, root, diags)
        if base is None or not _may_follow(chain, seen, base, diags):
            return None
        doc = _load_base(base, chain[-1], diags)
        if doc is None:
            return None
        chain.append(doc)
        seen.append(os.path.realpath(base.path))
        layer = base
    merged = chain[-1]
    for upper in reversed(chain[:-1]):
        merged = _merge_documents(merged, upper)
    return merged, tuple(d.file for d in chain)


def _base_layer(doc: Document, layer: Layer, root: Path, diags: Diagnostics) -> Layer | None:
    """The file ``doc``'s ``extends`` names, once the value passed every rule; None (reported) if not."""
    value = doc.data["extends"]
    span = doc.span(("extends",))
    problem = _extends_problem(value)
    if problem is None:
        target = layer.path.parent / value
        if not _inside(os.path.realpath(target), root):
            problem = f"leads outside the profile tree {_shown_root(root)}"
    if problem is None:
        return Layer(target, os.path.normpath(str(Path(layer.display).parent / value)))
    shown = _shown_value(value)
    diags.error("LC225", f"{shown} {problem}", span=span, path="extends", value=shown, rule=RULE_EXTENDS,
                hint="write the path of the base relative to this file, e.g. extends: family.yaml")
    return None


def _shown_value(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    text = json.dumps(value)
    if isinstance(value, str):
        text = "'" + text[1:-1].replace('\\"', '"') + "'"
    return text if len(text) <= 80 else text[:76] + "...'"


def _extends_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return "is not a path (extends is one string)"
    if value.startswith("/"):
        return "is an absolute path"
    if not value.endswith((".yaml", ".yml")):
        return "does not end in .yaml or .yml"
    if not EXTENDS_RE.match(value):
        return "holds characters other than letters, digits, '.', '_', '-' and '/'"
    return None


def _inside(real: str, root: Path) -> bool:
    return os.path.commonpath([real, str(root)]) == str(root)


def _shown_root(root: Path) -> str:
    """The tree as diagnostics show it: relative to the working directory when it lies below it."""
    here = os.path.relpath(root)
    return here if not here.startswith("..") else str(root)


def _may_follow(chain: list[Document], seen: list[str], base: Layer, diags: Diagnostics) -> bool:
    if os.path.realpath(base.path) in seen:
        diags.error("LC222", f"extends cycle: {base.display} is already in the chain",
                    span=chain[-1].key_span(("extends",)), path="extends", value=base.display,
                    rule="extends chains must end at a base that extends nothing",
                    related=tuple(Related(d.key_span(("extends",)), f"{d.file} extends") for d in chain),
                    hint=f"remove 'extends' from one file in the chain starting at {chain[0].file}")
        return False
    if len(chain) >= MAX_LAYERS:
        diags.error("LC222", f"extends chain longer than {MAX_LAYERS} files",
                    span=chain[-1].key_span(("extends",)), path="extends",
                    rule="extends chains are short: board -> family -> (vendor)", hint="flatten the chain")
        return False
    return True


def _load_base(base: Layer, parent: Document, diags: Diagnostics) -> Document | None:
    """Load a base profile. A file that is not a profile gets one diagnostic that names it and
    never quotes it (a secret file must not leak through error messages)."""
    span = parent.span(("extends",))
    value = str(parent.data.get("extends"))
    own = Diagnostics()
    raw = read_profile_bytes(base.path, base.display, own)
    if raw is None:
        if [d.message for d in own.items] == [f"no such file: {base.display}"]:
            diags.error("LC221", f"base profile not found: {base.display}", span=span, path="extends",
                        value=value, rule="extends is a path relative to the extending file",
                        hint="check the relative path; bases usually live next to their boards")
        else:  # a FIFO, a directory, a link loop: point at the extends that names it
            diags.extend(replace(d, span=d.span or span, path=d.path or "extends") for d in own.items)
        return None
    doc = loads(raw, base.display, own) if _PROFILE_MARK_RE.search(raw) else None
    if doc is None and own.items:
        diags.extend(own.items)  # the file says it is a profile: its own diagnostics help
        return None
    if doc is not None and isinstance(doc.data, dict) and "schema_version" in doc.data:
        diags.extend(own.items)
        return doc
    diags.error("LC226", f"base {base.display} is not a profile", span=span, path="extends", value=value,
                rule="a base is a profile: a YAML mapping with schema_version (its content is not shown)",
                hint="point extends at the family base profile")
    return None


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
