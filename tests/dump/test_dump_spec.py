"""The filter-spec contract: schema hygiene, the stdlib validator, and its agreement with jsonschema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from layoutc.dump import filter_spec as spec
from layoutc.dump import spec_schema as schema
from layoutc.dump.errors import SpecError

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "filter-spec" / "v1" / "filter-spec.schema.json"


def all_nodes(node: Any, path: str = "#") -> list[tuple[str, dict[str, Any]]]:
    out = []
    if isinstance(node, dict):
        out.append((path, node))
        for key, value in node.items():
            if key in ("properties", "$defs"):
                for name, sub in value.items():
                    out += all_nodes(sub, f"{path}/{key}/{name}")
            elif key in ("items", "additionalProperties") and isinstance(value, dict):
                out += all_nodes(value, f"{path}/{key}")
            elif key in ("anyOf", "oneOf"):
                for i, sub in enumerate(value):
                    out += all_nodes(sub, f"{path}/{key}/{i}")
    return out


def test_schema_file_is_the_loaded_one_and_well_formed() -> None:
    raw = json.loads(SCHEMA_PATH.read_text())
    assert schema.load_schema() == raw
    assert raw["$id"] == schema.SCHEMA_ID
    assert raw["$id"].endswith("/filter-spec/v1/filter-spec.schema.json")
    assert raw["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema.check_schema(raw) == []


def test_every_property_has_a_description() -> None:
    raw = json.loads(SCHEMA_PATH.read_text())
    for path, node in all_nodes(raw):
        for name, sub in node.get("properties", {}).items():
            assert sub.get("description"), f"{path}/properties/{name} has no description"


def test_schema_is_valid_2020_12() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA_PATH.read_text()))


GOOD = [
    {"schema_version": 1},
    {
        "schema_version": 1,
        "dump_level": 31,
        "compression": "zstd",
        "format": "flat",
        "exclude": [{"start": 0, "end": 4096, "reason": "dump_window"}],
        "budget": None,
        "drop_order": ["free", {"start": 0x100000, "end": 0x200000, "reason": "movable"}, "tail"],
        "makedumpfile": {"args": ["-c", "-d", "31"], "note": "ranges cannot be expressed"},
    },
    {"schema_version": 1, "budget": 0, "exclude": []},
]
BAD = [
    ({}, "$: missing required property 'schema_version'"),
    ({"schema_version": 2}, "$.schema_version: 2 must be 1"),
    ({"schema_version": 1, "dump_level": 32}, "$.dump_level: 32 is greater than the maximum 31"),
    ({"schema_version": 1, "dump_level": True}, "$.dump_level: true is not of type 'integer'"),
    ({"schema_version": 1, "compression": "zstandard"}, "is not one of"),
    ({"schema_version": 1, "formt": "elf"}, "$: unknown property 'formt' (did you mean 'format'?)"),
    ({"schema_version": 1, "budget": -1}, "$.budget: -1 is less than the minimum 0"),
    ({"schema_version": 1, "budget": "1G"}, "$.budget: \"1G\" is not of type ['integer', 'null']"),
    (
        {"schema_version": 1, "exclude": [{"start": 0, "end": 1}]},
        "$.exclude[0]: missing required property 'reason'",
    ),
    (
        {"schema_version": 1, "exclude": [{"start": 0, "end": 1, "reason": "Crash Kernel"}]},
        "$.exclude[0].reason: 'Crash Kernel' does not match",
    ),
    ({"schema_version": 1, "drop_order": ["everything"]}, '$.drop_order[0]: "everything" matches none'),
]


@pytest.mark.parametrize("instance", GOOD)
def test_valid_specs(instance: dict[str, Any]) -> None:
    assert schema.validate(instance, schema.load_schema()) == []
    spec.loads(json.dumps(instance))


@pytest.mark.parametrize(("instance", "message"), BAD)
def test_invalid_specs_name_path_and_problem(instance: dict[str, Any], message: str) -> None:
    problems = schema.validate(instance, schema.load_schema())
    assert any(message in p for p in problems), problems
    with pytest.raises(SpecError):
        spec.loads(json.dumps(instance))


@pytest.mark.parametrize("instance", GOOD + [b for b, _ in BAD])
def test_validator_agrees_with_jsonschema(instance: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    raw = schema.load_schema()
    ours = not schema.validate(instance, raw)
    theirs = jsonschema.Draft202012Validator(raw).is_valid(instance)
    assert ours == theirs


def test_semantic_rules_and_defaults() -> None:
    with pytest.raises(SpecError, match=r"\$.exclude\[0\]: end 0x10 must be greater than start 0x20"):
        spec.loads('{"schema_version": 1, "exclude": [{"start": 32, "end": 16, "reason": "x"}]}')
    with pytest.raises(SpecError, match="duplicate key 'budget'"):
        spec.loads('{"schema_version": 1, "budget": 1, "budget": 2}')
    s = spec.loads('{"schema_version": 1}')
    assert (s.dump_level, s.compression, s.format, s.budget) == (1, "zlib", "kdump", None)
    assert s.with_overrides(dump_level=None, format="elf").format == "elf"
    r = spec.SpecRange(0x1800, 0x3001, "ramoops")
    assert r.pfns(4096) == (1, 4)


def test_unsupported_keywords_are_reported() -> None:
    assert schema.check_schema({"type": "object", "properties": {"a": {"multipleOf": 2}}}) == [
        "#/properties/a: unsupported keyword 'multipleOf'"
    ]


def test_generated_filter_specs_load() -> None:
    # The compiler writes filter specs; the dumper must accept every one it generates.
    root = Path(__file__).resolve().parents[1]
    files = sorted(root.glob("**/filter.json"))
    assert len(files) >= 10, "the artifact goldens hold one filter.json per bundled board"
    for path in files:
        loaded = spec.load(str(path))
        assert loaded.schema_version == 1, path
