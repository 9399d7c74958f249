"""A small JSON Schema (2020-12) validator for the subset the filter-spec schema uses.

The dumper runs in a crash kernel with the standard library only, so it cannot import
``jsonschema``.  Supported keywords: type, const, enum, properties, required,
additionalProperties, items, minimum, maximum, minLength, pattern, anyOf, oneOf, $ref (local
``#/$defs/...``), and the annotations ($schema, $id, title, description, $defs).  Any other
keyword is rejected, so the schema cannot silently outgrow this validator.
"""

from __future__ import annotations

import os

from layoutc.dump import json_scan

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

SCHEMA_ID = "https://schemas.layoutc.invalid/filter-spec/v1/filter-spec.schema.json"
SCHEMA_RELPATH = ("filter-spec", "v1", "filter-spec.schema.json")

ANNOTATIONS = {"$schema", "$id", "title", "description", "$defs"}
KEYWORDS = ANNOTATIONS | {
    "type",
    "const",
    "enum",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minimum",
    "maximum",
    "minLength",
    "pattern",
    "anyOf",
    "oneOf",
    "$ref",
}
TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def load_schema() -> dict[str, Any]:
    """The filter-spec schema: bundled in the zipapp or wheel, else from the source checkout."""
    loader = globals().get("__loader__")
    here = os.path.dirname(__file__)  # not pathlib: it costs the dumper's start-up about 3 ms (measured)
    if loader is not None and hasattr(loader, "get_data"):
        # In the zipapp: read through the zip importer (importlib.resources would pull in zipfile,
        # and with it bz2 and lzma, which a minimal interpreter may lack).
        try:
            data = loader.get_data(os.path.join(here, "filter-spec.schema.json"))
            return dict(json_scan.loads(data.decode("utf-8")))
        except OSError:
            pass
    from importlib import resources

    candidates = []
    try:
        base = resources.files("layoutc")
        candidates.append(base.joinpath("dump", "filter-spec.schema.json"))  # zipapp
        candidates.append(base.joinpath("schemas", *SCHEMA_RELPATH))  # wheel force-include
    except (ModuleNotFoundError, TypeError):
        pass
    for cand in candidates:
        if cand.is_file():
            return dict(json_scan.loads(cand.read_text(encoding="utf-8")))
    from pathlib import Path

    repo = Path(__file__).resolve().parents[3] / "schemas"
    return dict(json_scan.loads(repo.joinpath(*SCHEMA_RELPATH).read_text(encoding="utf-8")))


def check_schema(schema: dict[str, Any]) -> list[str]:
    """Keywords the validator does not implement, as JSON pointers (empty when fully supported)."""
    return [f"{path}: unsupported keyword {key!r}" for path, key in _keywords(schema, "#") if key not in KEYWORDS]


def _keywords(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        yield path, key
        if key in ("properties", "$defs"):
            for name, sub in value.items():
                yield from _keywords(sub, f"{path}/{key}/{name}")
        elif key in ("items", "additionalProperties"):
            yield from _keywords(value, f"{path}/{key}")
        elif key in ("anyOf", "oneOf"):
            for i, sub in enumerate(value):
                yield from _keywords(sub, f"{path}/{key}/{i}")


def validate(instance: Any, schema: dict[str, Any]) -> list[str]:
    """Every violation as ``<json path>: <problem>``; an empty list means valid."""
    return list(_validate(instance, schema, schema, "$"))


def _validate(inst: Any, node: dict[str, Any], root: dict[str, Any], path: str) -> Iterator[str]:
    if "$ref" in node:
        node = _resolve(root, node["$ref"])
    if "type" in node and not _type_ok(inst, node["type"]):
        yield f"{path}: {_show(inst)} is not of type {node['type']!r}"
        return
    if "const" in node and not _equal(inst, node["const"]):
        yield f"{path}: {_show(inst)} must be {node['const']!r}"
    if "enum" in node and not any(_equal(inst, v) for v in node["enum"]):
        hint = ""
        if isinstance(inst, str):
            import difflib  # only on errors: keeps the dumper's start-up small

            close = difflib.get_close_matches(inst, [v for v in node["enum"] if isinstance(v, str)], 1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
        yield f"{path}: {_show(inst)} is not one of {node['enum']!r}{hint}"
    if _is_number(inst):
        if "minimum" in node and inst < node["minimum"]:
            yield f"{path}: {inst} is less than the minimum {node['minimum']}"
        if "maximum" in node and inst > node["maximum"]:
            yield f"{path}: {inst} is greater than the maximum {node['maximum']}"
    if isinstance(inst, str):
        if "minLength" in node and len(inst) < node["minLength"]:
            yield f"{path}: {inst!r} is shorter than {node['minLength']}"
        if "pattern" in node and not _matches(node["pattern"], inst):
            yield f"{path}: {inst!r} does not match {node['pattern']!r}"
    if isinstance(inst, dict):
        yield from _object(inst, node, root, path)
    if isinstance(inst, list) and "items" in node:
        for i, item in enumerate(inst):
            yield from _validate(item, node["items"], root, f"{path}[{i}]")
    for key in ("anyOf", "oneOf"):
        if key in node:
            matches = [not list(_validate(inst, sub, root, path)) for sub in node[key]]
            if key == "anyOf" and not any(matches):
                yield f"{path}: {_show(inst)} matches none of the allowed forms: " + "; ".join(
                    _describe(_resolve_maybe(root, s)) for s in node[key]
                )
            if key == "oneOf" and sum(matches) != 1:
                yield f"{path}: {_show(inst)} must match exactly one of {len(node[key])} forms"


def _object(inst: dict[str, Any], node: dict[str, Any], root: dict[str, Any], path: str) -> Iterator[str]:
    props: dict[str, Any] = node.get("properties", {})
    for name in node.get("required", []):
        if name not in inst:
            yield f"{path}: missing required property {name!r}"
    for name, value in inst.items():
        if name in props:
            yield from _validate(value, props[name], root, f"{path}.{name}")
        elif node.get("additionalProperties") is False:
            import difflib

            close = difflib.get_close_matches(name, list(props), 1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            yield f"{path}: unknown property {name!r}{hint}"
        elif isinstance(node.get("additionalProperties"), dict):
            yield from _validate(value, node["additionalProperties"], root, f"{path}.{name}")


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any]:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $ref is supported, got {ref!r}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part]
    return dict(node)


def _resolve_maybe(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    return _resolve(root, node["$ref"]) if "$ref" in node else node


def _describe(node: dict[str, Any]) -> str:
    if "enum" in node:
        return f"one of {node['enum']!r}"
    if node.get("type") == "object":
        return f"an object with {sorted(node.get('required', []))!r}"
    return str(node.get("type", "a value"))


def _type_ok(inst: Any, types: str | list[str]) -> bool:
    names = [types] if isinstance(types, str) else types
    for name in names:
        if isinstance(inst, bool) and name in ("integer", "number"):
            continue  # JSON true/false are not numbers
        if isinstance(inst, TYPES[name]):
            return True
    return False


def _is_number(inst: Any) -> bool:
    return isinstance(inst, (int, float)) and not isinstance(inst, bool)


def _equal(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b or (_is_number(a) and _is_number(b) and a == b)


def _show(inst: Any) -> str:
    import json  # only for a message

    text = json.dumps(inst)
    return text if len(text) <= 60 else text[:57] + "..."


def _matches(pattern: str, text: str) -> bool:
    """``re.search(pattern, text)`` is not None; without ``re`` (and the ``enum``, ``functools`` and
    ``collections`` it imports: part of the 3.5 ms of json_scan's docstring) for an anchored run of character
    classes, the last one repeated: ``^[a-z][a-z0-9_]*$``, the filter spec's only pattern."""
    classes = _class_run(pattern)
    if classes is None:
        import re

        return re.search(pattern, text) is not None
    fixed, repeated = classes
    # re's $ also matches before a final newline
    for candidate in (text, text[:-1]) if text.endswith("\n") else (text,):
        if len(candidate) >= len(fixed) and all(c in chars for c, chars in zip(candidate, fixed, strict=False)):
            rest = candidate[len(fixed) :]
            if not rest or (repeated is not None and all(c in repeated for c in rest)):
                return True
    return False


def _class_run(pattern: str) -> tuple[list[frozenset[str]], frozenset[str] | None] | None:
    """``^[..][..]...[..]*$`` as (the fixed classes, the repeated last one or None); None for any other form."""
    if not (pattern.startswith("^") and pattern.endswith("$")):
        return None
    body = pattern[1:-1]
    classes: list[frozenset[str]] = []
    repeated: frozenset[str] | None = None
    i = 0
    while i < len(body):
        end = body.find("]", i + 1)
        spec = body[i + 1 : end] if body[i] == "[" and end > i + 1 else ""
        if not spec or repeated is not None or spec[0] == "^" or any(c in spec for c in "\\[]"):
            return None
        chars: set[str] = set()
        k = 0
        while k < len(spec):
            if k + 2 < len(spec) and spec[k + 1] == "-":
                if spec[k] > spec[k + 2]:
                    return None
                chars.update(map(chr, range(ord(spec[k]), ord(spec[k + 2]) + 1)))
                k += 3
            else:
                chars.add(spec[k])
                k += 1
        if end + 1 < len(body) and body[end + 1] in "*+?{":
            if body[end + 1] != "*" or end + 2 != len(body):
                return None
            repeated = frozenset(chars)
            i = end + 2
        else:
            classes.append(frozenset(chars))
            i = end + 1
    return classes, repeated
