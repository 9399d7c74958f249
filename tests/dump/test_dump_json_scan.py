"""json_scan.loads against json.loads, and the schema's pattern check against re.search (hypothesis)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layoutc.dump import json_scan, spec_schema
from layoutc.dump.errors import SpecError
from layoutc.dump.filter_spec import loads

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


def outcome(load: Any, text: str, **kw: Any) -> tuple[str, Any]:
    try:
        return "value", repr(load(text, **kw))  # repr: NaN equals itself there
    except ValueError as exc:
        return type(exc).__name__, str(exc)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, st.sampled_from([None, 1, "\t"]), st.sampled_from(["", " ", "\n\r\t "]))
def test_documents_read_as_json_reads_them(value: Any, indent: Any, pad: str) -> None:
    text = pad + json.dumps(value, indent=indent) + pad
    assert outcome(json_scan.loads, text) == outcome(json.loads, text)
    hook = list  # pairs, as filter_spec's duplicate check sees them
    assert outcome(json_scan.loads, text, object_pairs_hook=hook) == outcome(json.loads, text, object_pairs_hook=hook)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet='{}[]",:0123456789.eE+-truefalsnIiyNa \t\n\r\\/u\ufeff\x00x', max_size=40))
def test_any_text_gives_what_json_gives_or_its_error(text: str) -> None:
    assert outcome(json_scan.loads, text) == outcome(json.loads, text)


def test_the_scanner_is_used_for_a_valid_document_and_json_for_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    assert json_scan._scan('{"a": [1, 2.5, null]} ', None) == ({"a": [1, 2.5, None]},)
    assert json_scan._scan('{"a": 1} x', None) is None  # extra data: json reports it
    assert json_scan._scan("\ufeff{}", None) is None  # a byte-order mark: json reports it
    with pytest.raises(json.JSONDecodeError, match="Extra data: line 1 column 10"):
        json_scan.loads('{"a": 1} x')


def test_a_duplicate_key_is_still_refused() -> None:
    with pytest.raises(SpecError, match="duplicate"):
        loads('{"schema_version": 1, "dump_level": 1, "dump_level": 31}')


PATTERNS = ["^[a-z][a-z0-9_]*$", "^[a-z]$", "^[0-9a-f][0-9a-f]*$", "^[a-c_][x-z]$", "^$", "^[ab]*$"]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(PATTERNS), st.text(alphabet="abcxyz019_-\nA ", max_size=8))
def test_class_runs_match_as_re_matches(pattern: str, text: str) -> None:
    assert spec_schema._class_run(pattern) is not None
    assert spec_schema._matches(pattern, text) == (re.search(pattern, text) is not None)


@pytest.mark.parametrize("pattern", ["^[a-z]+$", "[a-z]*", "^[a-z]*[0-9]$", "^[^a]$", "^a$", "^[a\\-z]$", "^[z-a]$"])
def test_other_patterns_go_to_re(pattern: str) -> None:
    assert spec_schema._class_run(pattern) is None
    for text in ("a", "az", "a1", "-", "", "b"):
        try:
            expected = re.search(pattern, text) is not None
        except re.error:
            continue
        assert spec_schema._matches(pattern, text) == expected


def test_the_filter_spec_schema_needs_no_regular_expression_module() -> None:
    patterns = [v for k, v in _walk(spec_schema.load_schema()) if k == "pattern"]
    assert patterns and all(spec_schema._class_run(p) is not None for p in patterns)


def _walk(node: Any) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((key, value))
            out += _walk(value)
    elif isinstance(node, list):
        for value in node:
            out += _walk(value)
    return out
