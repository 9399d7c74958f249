"""explain: every value of layout.json has a chain of rules and inputs; goldens per bundled profile."""

from __future__ import annotations

import json

import pytest

from layoutc.review.doc import leaves
from layoutc.review.explain import explain, render_json, render_text

from ..conftest import assert_golden
from .helpers import GOLDEN, board_of, bundled_profiles, compiled, fixture

PROFILES = bundled_profiles()


@pytest.mark.parametrize("relpath", PROFILES)
def test_every_value_of_layout_json_is_explained(relpath: str) -> None:
    c = compiled(relpath)
    result = explain(c.doc, profile=c.profile)
    pointers = {item.pointer for item in result.items}
    for pointer, _value in leaves(c.doc):
        if pointer.startswith("/provenance"):
            continue
        assert pointer in pointers, f"{pointer} is not walked"
    assert not result.unexplained, [i.key for i in result.unexplained]
    # every cmdline parameter of every stage is an item of its own
    for stage, text in c.doc["cmdline"].items():
        params = [i.param for i in result.items if i.pointer == f"/cmdline/{stage}" and i.param]
        assert params == text.split()


@pytest.mark.parametrize("name", ["qemu-4g.json", "server-64g-2node.json", "qemu-4g-rev2.json"])
def test_fixtures_are_explained_without_the_profile(name: str) -> None:
    result = explain(fixture(name))
    assert not result.unexplained, [i.key for i in result.unexplained]


def test_chain_cites_rule_kernel_source_and_input_positions() -> None:
    c = compiled("profiles/qemu/qemu-4g.yaml")
    result = explain(c.doc, "crashkernel=", profile=c.profile)
    first = result.items[0]
    assert first.pointer == "/cmdline/production" and first.param is not None
    assert first.param.startswith("crashkernel=")
    rules = {link.pointer for link in first.chain}
    assert {"/crashkernel", "/crashkernel/size", "/cmdline/production"} <= rules
    placed = next(link for link in first.chain if link.pointer == "/crashkernel")
    assert placed.rule and ("docs/reference/kernel-rules.md" in placed.source or "LNX:" in placed.source)
    reserve = next(i for i in placed.inputs if i.path == "crash.reserve")
    assert reserve.file == "profiles/qemu/qemu-4g.yaml" and reserve.line > 0 and reserve.col > 0


@pytest.mark.parametrize("key", ["/dump_window/start", "dump_window.start", "dump_window", "guard_node0",
                                 "movablecore", "memmap=", "regions[0].start"])
def test_key_forms(key: str) -> None:
    c = compiled("profiles/qemu/qemu-4g.yaml")
    result = explain(c.doc, key, profile=c.profile)
    assert result.items and not result.error and not result.unexplained


def test_unknown_key_is_an_error_that_lists_choices() -> None:
    result = explain(fixture("qemu-4g.json"), "nosuch")
    assert result.error and "crashkernel" in result.error
    assert render_text(result).startswith("layoutc explain: no value")


def test_json_rendering_is_the_same_data() -> None:
    c = compiled("profiles/qemu/qemu-4g.yaml")
    result = explain(c.doc, profile=c.profile)
    data = json.loads(render_json(result))
    assert data["board"] == "qemu-4g" and data["unexplained"] == []
    assert len(data["values"]) == len(result.items)


@pytest.mark.parametrize("relpath", PROFILES)
def test_explain_golden(relpath: str) -> None:
    c = compiled(relpath)
    assert_golden(GOLDEN / board_of(relpath) / "explain.txt", render_text(explain(c.doc, profile=c.profile)))


def test_explain_json_golden() -> None:
    c = compiled("profiles/qemu/qemu-4g-cma.yaml")
    assert_golden(GOLDEN / "qemu-4g-cma" / "explain.json", render_json(explain(c.doc, profile=c.profile)))
