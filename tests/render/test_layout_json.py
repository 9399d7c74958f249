"""layout.json's one reader and writer (model.layout_json): round trips and clear errors.

read(write(L)) == L for every layout the solver builds from a bundled profile, write(read(doc)) is
byte-for-byte the compiled file, and every hand-written layout.json the review and lab tests use reads
back to the document it came from. Invalid input names the JSON Pointer, the value and the rule.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.frontend.load import load_profile
from layoutc.model import layout_json
from layoutc.model.layout import KaslrGuard, Layout, RegionKind
from layoutc.model.profile import CrashMemory, Target
from layoutc.solve import solve

REPO = Path(__file__).resolve().parents[2]
SOURCES = sorted((REPO / "profiles").rglob("*.yaml")) + sorted((REPO / "tests/solver/fixtures").glob("*.yaml"))
FIXTURES = sorted((REPO / "tests/review/fixtures").glob("*.json")) + sorted(
    (REPO / "tests/lab/fixtures").glob("*/layout.json"))


def _solved(path: Path) -> Layout | None:
    diags = Diagnostics()
    profile = load_profile(path, str(path.relative_to(REPO)), diags)
    assert profile is not None, [d.message for d in diags.items]
    return None if profile.abstract else solve(profile, diags)


SOLVED = {p.stem: layout for p in SOURCES if (layout := _solved(p)) is not None}


@pytest.mark.parametrize("name", sorted(SOLVED))
def test_read_of_write_is_the_layout(name: str) -> None:
    layout = SOLVED[name]
    text = layout_json.write(layout)
    assert layout_json.read(json.loads(text)) == layout
    assert layout_json.write(layout_json.read(json.loads(text))) == text


@pytest.mark.parametrize("name", sorted(SOLVED))
def test_write_of_read_is_the_golden_file(name: str) -> None:
    golden = REPO / "tests/render/golden" / SOLVED[name].board / "layout.json"
    assert layout_json.write(layout_json.load(golden)) == golden.read_bytes()


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(REPO)))
def test_hand_written_fixtures_read_back_to_their_document(path: Path) -> None:
    doc = json.loads(path.read_text())
    layout = layout_json.load(path)
    assert layout_json.document(layout) == doc
    assert layout_json.read(layout_json.document(layout)) == layout


def test_closed_vocabularies_are_enums() -> None:
    layout = SOLVED["qemu-4g-cma"]
    assert layout.strategy.crash_memory is CrashMemory.CMA and layout.strategy.target is Target.PMEM_WINDOW
    assert isinstance(layout.kaslr_guard, KaslrGuard)
    assert {r.kind for r in layout.regions} <= set(RegionKind)
    assert all(type(r.kind) is RegionKind for r in layout_json.read(layout_json.document(layout)).regions)


def _doc() -> dict[str, Any]:
    return copy.deepcopy(layout_json.document(SOLVED["qemu-4g"]))


def _error(doc: object) -> str:
    with pytest.raises(layoutc_error) as caught:
        layout_json.read(doc, "fixture.json")
    return str(caught.value)


layoutc_error = layout_json.LayoutJsonError


def test_a_bad_enum_names_path_value_and_rule() -> None:
    doc = _doc()
    doc["regions"][0]["kind"] = "crash_kernel"
    text = _error(doc)
    assert text.startswith("fixture.json: not a valid layout")
    assert "/regions/0/kind: \"crash_kernel\": 'crash_kernel' is not one of" in text
    assert "(schema: /properties/regions/items/properties/kind/enum)" in text


def test_missing_and_ill_typed_fields_are_each_named() -> None:
    doc = _doc()
    del doc["crashkernel"]["needed"]
    doc["memory"]["block_size"] = 1.5
    problems = pytest.raises(layoutc_error, layout_json.read, doc).value.problems
    pointers = {p.pointer for p in problems}
    assert pointers == {"/crashkernel", "/memory/block_size"}


def test_a_repeated_value_that_disagrees_is_refused() -> None:
    doc = _doc()
    doc["dump_window"]["end"] += 4096
    assert "/dump_window/end" in _error(doc) and "start + size" in _error(doc)


def test_another_schema_version_is_refused() -> None:
    assert "/schema_version: 2: this reader knows layout schema v1 only" in _error({**_doc(), "schema_version": 2})


def test_not_json_and_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(layoutc_error, match="not JSON"):
        layout_json.read_text("{", "x.json")
    with pytest.raises(layoutc_error, match="cannot read"):
        layout_json.load(tmp_path / "absent.json")
    assert "/: []: [] is not of type 'object'" in _error([])
