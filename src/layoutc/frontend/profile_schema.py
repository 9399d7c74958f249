"""Shape checks: validate a loaded document against the bundled JSON Schema (2020-12).

The schema checks shape only; meaning (overlaps, kernel rules) is Python's job. Each
jsonschema error becomes a Diagnostic at the offending key's ``file:line:col``, with the
schema's ``description`` as the hint and "did you mean" for unknown keys.
"""

from __future__ import annotations

import difflib
import json
import re
from functools import cache
from typing import Any

import yaml
from jsonschema import Draft202012Validator, TypeChecker
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.validators import extend

from layoutc.diagnostics.diagnostic import Diagnostics, Span
from layoutc.frontend.yaml_source import RULE_PLAIN_TEXT, Document, Key, describe_character, dotted, hidden_character
from layoutc.model.units import UnitError, parse_size
from layoutc.resources import schema_path

SUPPORTED_VERSIONS = (1,)


@cache
def load_schema(family: str, version: int) -> dict[str, Any]:
    """The schema document (YAML or JSON) for ``family`` at ``version``."""
    path = schema_path(family, version)
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    assert isinstance(data, dict)
    return data


def _whole_integer(checker: TypeChecker, instance: Any) -> bool:
    """JSON Schema counts 1.0 as an integer; a profile does not (YAML 1.0 is a float)."""
    return isinstance(instance, int) and not isinstance(instance, bool)


# Draft 2020-12 with "integer" meaning a Python int: 1.0 and 1.0e+3 fail the type check
# instead of reaching the size parser as floats.
_StrictValidator = extend(Draft202012Validator,
                          type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _whole_integer))


@cache
def _validator(family: str, version: int) -> Draft202012Validator:
    schema = load_schema(family, version)
    Draft202012Validator.check_schema(schema)
    validator: Draft202012Validator = _StrictValidator(schema)
    return validator


def validate_profile(doc: Document, diags: Diagnostics) -> bool:
    """Check ``doc`` against the profile schema. Returns True when the shape is right."""
    data = doc.data
    if not isinstance(data, dict):
        diags.error("LC103", "a profile is a mapping of keys to values", span=doc.span(()),
                    hint="start from a bundled profile, e.g. profiles/qemu/qemu-4g.yaml")
        return False
    version = data.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version not in SUPPORTED_VERSIONS:
        newest = max(SUPPORTED_VERSIONS)
        diags.error("LC106", f"version {version} is not supported by this layoutc "
                    f"(it reads version {newest})", span=doc.span(("schema_version",)),
                    path="schema_version", value=str(version),
                    hint="upgrade layoutc, or write the profile for version 1" if version > newest
                    else f"write schema_version: {newest}")
        return False
    before = len(diags)
    _control_characters(doc, data, (), diags)
    validator = _validator("profile", 1)
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        specific = _specific(error)
        if specific.validator == "pattern" and isinstance(specific.instance, str) and (
                _CONTROL_RE.search(specific.instance) or hidden_character(specific.instance) is not None):
            continue  # already reported by _control_characters
        _report(doc, specific, diags)
    return len(diags) == before


_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _control_characters(doc: Document, node: Any, path: Key, diags: Diagnostics) -> None:
    """No profile string (or key) may hold a control character (a newline from a "\\n" escape, say)
    or an invisible or layout character (from an escape such as "\\u202e", "\\N" or "\\_").

    JSON Schema patterns cannot say this reliably: Python's ``$`` also matches before a final
    newline, so ``^[a-z]+$`` accepts "x\\n". Every string reaches a cmdline, a unit or a shell.
    """
    if isinstance(node, dict):
        for key, value in node.items():
            _check_text(doc, str(key), (*path, key), doc.key_span((*path, key)), diags)
            _control_characters(doc, value, (*path, key), diags)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _control_characters(doc, value, (*path, index), diags)
    elif isinstance(node, str):
        _check_text(doc, node, path, doc.span(path), diags)


def _check_text(doc: Document, text: str, path: Key, span: Span, diags: Diagnostics) -> None:
    shown = _show(text)
    where = dotted(path) or "(top level)"
    if _CONTROL_RE.search(text):
        diags.error("LC107", f"{shown} contains a control character (newline, tab, escape)", span=span,
                    path=where, value=shown,
                    rule="text that reaches a cmdline, a unit or a shell is one printable line",
                    hint="write it on one line without escapes such as \\n or \\t")
        return
    hidden = hidden_character(text)
    if hidden is not None:
        diags.error("LC008", f"{shown} holds the invisible or layout character {describe_character(text[hidden])} "
                    f"at character {hidden + 1}", span=span, path=where, value=shown, rule=RULE_PLAIN_TEXT,
                    hint="remove the escape; write an ASCII space where a space is meant")


def _specific(error: ValidationError) -> ValidationError:
    if error.context:
        return best_match(error.context)
    return error


def _report(doc: Document, error: ValidationError, diags: Diagnostics) -> None:
    path: Key = tuple(error.absolute_path)
    where = dotted(path) or "(top level)"
    schema = error.schema if isinstance(error.schema, dict) else {}
    hint = str(schema.get("description", ""))
    validator = error.validator
    instance = error.instance
    if validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        for key in sorted(set(instance) - set(allowed)):
            keypath = (*path, key)
            close = difflib.get_close_matches(key, allowed, n=1)
            fix = f"did you mean '{close[0]}'?" if close else f"allowed keys here: {', '.join(allowed)}"
            diags.error("LC101", f"unknown key {_show(key)}", span=doc.key_span(keypath), path=dotted(keypath),
                        value=key, rule=f"keys allowed in {where}: {', '.join(allowed)}", hint=fix)
        return
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        prop = schema.get("properties", {}).get(missing, {})
        diags.error("LC102", f"missing required key '{missing}'", span=doc.span(path),
                    path=where, rule=f"{where} requires '{missing}'",
                    hint=str(prop.get("description", "")) if isinstance(prop, dict) else "")
        return
    shown = _show(instance)
    if validator == "type" and isinstance(instance, float) and "KMGTPE" in str(schema.get("pattern", "")):
        diags.error("LC105", _size_message(instance), span=doc.span(path), path=where, value=shown,
                    rule="sizes use the kernel's memparse() spelling: whole bytes, no fractions", hint=hint)
        return
    if validator == "type":
        expected = schema.get("type")
        wanted = " or ".join(expected) if isinstance(expected, list) else str(expected)
        diags.error("LC103", f"{shown} is a {_json_type(instance)}, expected {wanted}",
                    span=doc.span(path), path=where, value=shown, rule=f"{where} must be {wanted}",
                    hint=hint)
        return
    if validator in ("enum", "const"):
        options = schema.get("enum", [schema.get("const")])
        listed = ", ".join(str(o) for o in options)
        close = difflib.get_close_matches(str(instance), [str(o) for o in options], n=1)
        fix = f"did you mean '{close[0]}'? " if close else ""
        diags.error("LC104", f"{shown} is not one of: {listed}", span=doc.span(path), path=where,
                    value=shown, rule=f"{where} is one of: {listed}", hint=f"{fix}{hint}".strip())
        return
    if validator == "pattern" and "KMGTPE" in str(schema.get("pattern", "")):
        message = _size_message(instance)
        diags.error("LC105", message, span=doc.span(path), path=where, value=shown,
                    rule="sizes use the kernel's memparse() spelling", hint=hint)
        return
    diags.error("LC107", f"{shown}: {error.message}", span=doc.span(path), path=where, value=shown,
                rule=f"schema keyword '{validator}'", hint=hint)


def _size_message(instance: Any) -> str:
    try:
        parse_size(instance)
    except UnitError as exc:
        return str(exc)
    return f"'{instance}' is not accepted here"


def _show(instance: Any) -> str:
    if isinstance(instance, str):
        text = json.dumps(instance)[1:-1].replace("\\\"", '"')
        return f"'{text}'" if len(text) <= 60 else f"'{text[:57]}...'"
    if isinstance(instance, (dict, list)):
        return "a mapping" if isinstance(instance, dict) else "a list"
    return json.dumps(instance)


def _json_type(instance: Any) -> str:
    if instance is None:
        return "null"
    if isinstance(instance, bool):
        return "boolean"
    if isinstance(instance, int):
        return "integer"
    if isinstance(instance, float):
        return "number"
    if isinstance(instance, str):
        return "string"
    return "mapping" if isinstance(instance, dict) else "list"
