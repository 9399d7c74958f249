"""The bundled schemas are valid and self-consistent; every bundled profile passes check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from layoutc.frontend.schema_docs import profile_reference

from .conftest import REPO

SCHEMA_FILES = sorted(p for p in (REPO / "schemas").rglob("*") if p.suffix in (".yaml", ".json") and p.is_file())
PROFILES = sorted((REPO / "profiles").rglob("*.yaml"))


def _load(path: Path) -> dict:  # type: ignore[type-arg]
    text = path.read_text()
    return yaml.safe_load(text) if path.suffix == ".yaml" else json.loads(text)  # type: ignore[no-any-return]


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_schema_is_valid_2020_12_and_id_matches_path(path: Path) -> None:
    schema = _load(path)
    Draft202012Validator.check_schema(schema)
    rel = path.relative_to(REPO / "schemas")
    expected_tail = str(rel.with_suffix(".json")) if path.suffix == ".yaml" else str(rel)
    assert schema["$id"] == f"https://schemas.layoutc.invalid/{expected_tail}"


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_property_has_a_description(path: Path) -> None:
    missing: list[str] = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            for key, sub in node.get("properties", {}).items():
                if isinstance(sub, dict) and "description" not in sub:
                    missing.append(f"{where}.{key}")
                walk(sub, f"{where}.{key}")
            for key in ("items", "additionalProperties"):
                if isinstance(node.get(key), dict):
                    walk(node[key], where + "[]")
            for name, sub in node.get("$defs", {}).items():
                walk(sub, f"$defs.{name}")
            for sub in node.get("patternProperties", {}).values():
                walk(sub, where + ".*")

    walk(_load(path), "")
    assert not missing, missing


def test_schema_ids_are_unique() -> None:
    ids = [_load(p)["$id"] for p in SCHEMA_FILES]
    assert len(ids) == len(set(ids))


# bundled boards whose check prints one expected warning, by path: qemu-4g-debian-kdump-k7 states Debian 12's
# makedumpfile 1.7.2 on kernel 7.2, so its collector is diverted (LC261) -- the case its lab test runs
EXPECTED_WARNINGS = {"profiles/qemu/qemu-4g-debian-kdump-k7.yaml": "LC261"}


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_bundled_profile_passes_check(path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("check", str(path))
    assert result.code == 0, result.err
    expected = EXPECTED_WARNINGS.get(str(path.relative_to(REPO)))
    if expected is not None:  # a board that exists to exercise a warning: that warning and no other
        assert [line for line in result.err.splitlines() if not line.startswith("  = ")] == [
            line for line in result.err.splitlines() if f"warning[{expected}]" in line
        ] != [], result.err
    elif path.relative_to(REPO).parts[1] == "qemu":  # the lab's Debian kernels: kernel.config stated
        assert result.err == ""
    else:  # kernels without a documented config: only the warning that says what was assumed
        assert [line for line in result.err.splitlines() if not line.startswith("  = ")] == [
            line for line in result.err.splitlines() if "warning[LC244]" in line
        ], result.err


def test_profile_reference_is_current() -> None:
    committed = (REPO / "docs" / "profile-reference.md").read_text()
    assert committed == profile_reference(), "docs/profile-reference.md is stale: run " \
        "`layoutc schema profile --format markdown > docs/profile-reference.md`"


def test_bundled_profiles_cover_every_strategy() -> None:
    from layoutc.diagnostics.diagnostic import Diagnostics
    from layoutc.frontend.load import load_profile

    strategies = set()
    for path in PROFILES:
        profile = load_profile(path, str(path), Diagnostics())
        assert profile is not None
        if not profile.abstract:
            strategies.add(str(profile.strategy))
    assert {"pmem-movable", "pmem-hotplug", "cma", "cma-disk", "classic-disk"} <= strategies


def test_diagnostics_reference_is_current() -> None:
    from layoutc.diagnostics.catalogue import diagnostics_reference

    committed = (REPO / "docs" / "diagnostics.md").read_text()
    assert committed == diagnostics_reference(), "stale: run `layoutc codes > docs/diagnostics.md`"
