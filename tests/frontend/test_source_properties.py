"""Property tests for the strict YAML reader: plain data round-trips, and every value has a position."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.frontend.yaml_source import loads

keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(1 << 60), max_value=1 << 60),
    # Leading-zero digit strings are refused on purpose (LC017: YAML 1.1 and 1.2 read them differently),
    # and PyYAML writes them unquoted, so they are not plain data for this round trip.
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=20).filter(
        lambda t: not re.match(r"^[-+]?0[0-9_]+$", t)),
)
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)), max_leaves=20)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(keys, documents, min_size=1, max_size=5))
def test_safe_dump_round_trips_with_positions(data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data, default_flow_style=False, sort_keys=True)
    diags = Diagnostics()
    doc = loads(text.encode(), "p.yaml", diags)
    assert not diags.has_errors, [d.message for d in diags.items]
    assert doc is not None
    assert doc.data == data
    for path in _paths(data):
        span = doc.span(path)
        assert span.file == "p.yaml" and span.line >= 1 and span.col >= 1


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    diags = Diagnostics()
    doc = loads(raw, "junk.yaml", diags)
    assert (doc is None) == diags.has_errors or doc is not None


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="{}[]:,-&*!|>'\"#% \n\tabc01", max_size=200))
def test_yaml_punctuation_soup_never_raises(text: str) -> None:
    diags = Diagnostics()
    loads(text.encode(), "soup.yaml", diags)


@pytest.mark.parametrize(
    ("word", "boolean"),
    [("yes", True), ("No", True), ("OFF", True), ("On", True), ("nO", False), ("oFF", False), ("yEs", False)],
)
def test_yaml11_booleans_are_exactly_the_spec_spellings(word: str, boolean: bool) -> None:
    diags = Diagnostics()
    doc = loads(f"key: {word}\n".encode(), "p.yaml", diags)
    codes = [d.code for d in diags.items]
    assert codes == (["LC016"] if boolean else []), codes
    if not boolean:
        assert doc is not None and doc.data == {"key": word}
