"""Every verb that prints JSON prints what its schema in schemas/cli/v1/ describes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from .conftest import REPO

SCHEMAS = REPO / "schemas" / "cli" / "v1"
QEMU = str(REPO / "profiles" / "qemu" / "qemu-4g.yaml")
CMA = str(REPO / "profiles" / "qemu" / "qemu-4g-cma.yaml")


def _validate(schema: str, text: str) -> None:
    validator = Draft202012Validator(json.loads((SCHEMAS / f"{schema}.schema.json").read_text()))
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(json.loads(text))]
    assert not errors, errors[:5]


CASES = {
    "check": ("diagnostics", ("check", QEMU, "--format", "json"), 0),
    "compile": ("diagnostics", ("compile", QEMU, "-o", "{tmp}/out", "--format", "json"), 0),
    "import": ("diagnostics", ("import", "{tmp}/missing", "--board", "b", "--format", "json"), 1),
    "explain": ("explain", ("explain", QEMU, "--format", "json"), 0),
    "diff": ("diff", ("diff", QEMU, CMA, "--format", "json"), 3),
    "map": ("map", ("map", QEMU, "--format", "json"), 0),
    "estimate": ("estimate", ("estimate", QEMU, "--format", "json"), 0),
    "codes": ("codes", ("codes", "--format", "json"), 0),
}


@pytest.mark.parametrize("verb", sorted(CASES))
def test_verb_json_matches_its_schema(run_cli, tmp_path: Path, verb: str) -> None:  # type: ignore[no-untyped-def]
    schema, argv, code = CASES[verb]
    result = run_cli(*(a.replace("{tmp}", str(tmp_path)) for a in argv))
    assert result.code == code, result.err
    _validate(schema, result.out)


def test_check_json_with_errors_matches_the_schema(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema_version: 1\nboard: b\nwindw: {}\n")
    result = run_cli("check", str(bad), "--format", "json")
    assert result.code == 1 and json.loads(result.out)["errors"] > 0
    _validate("diagnostics", result.out)


def test_an_unchanged_diff_in_json(run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("diff", QEMU, QEMU, "--format", "json")
    assert result.code == 0 and json.loads(result.out)["changes"] == []
    _validate("diff", result.out)


def test_lab_report_json_matches_its_schema() -> None:
    from layoutc.lab.facts.boot_facts import Fact
    from layoutc.lab.report import BootRecord, Report

    report = Report("qemu-4g", "6.1.0-1-amd64", True, "tcg", "boot", "fail",
                    facts=(Fact("movable", "pass", "1", "1"), Fact("guard", "fail", "2", "3", "moved")),
                    boots=(BootRecord("production", 1.5, None, "serial.log", ("qemu",), ("last line",)),),
                    notes=("n",))  # fmt: skip
    _validate("lab", report.to_json())


def test_a_boot_that_timed_out_shows_where_its_serial_output_stopped() -> None:
    from layoutc.lab.report import TAIL_LINES, BootRecord, Report, timeout_tail

    serial = b"".join(b"line %d\r\n" % i for i in range(100)) + b"\x1b[0mlast\r\n\r\n"
    assert timeout_tail(0, serial) == ()
    tail = timeout_tail(None, serial)
    assert len(tail) == TAIL_LINES and tail[0] == f"line {101 - TAIL_LINES}" and tail[-1] == "?[0mlast"
    report = Report("qemu-4g", "6.1.0-1-amd64", True, "tcg", "full", "error",
                    boots=(BootRecord("production", 900.1, None, "serial.log", ("qemu",), tail),))  # fmt: skip
    text = report.to_text()
    assert f"  boot production: 900.1 s, timeout, serial log serial.log\n    its last {TAIL_LINES} lines:\n" in text
    assert "\n    | line 99\n    | ?[0mlast\n" in text


def test_the_report_ends_with_its_mismatched_facts() -> None:
    """A log cut in the middle (CI keeps the head and the tail of what pytest printed) still names them."""
    from layoutc.lab.facts.boot_facts import Fact
    from layoutc.lab.report import Report

    report = Report("qemu-4g", "6.1.0-1-amd64", True, "tcg", "full", "fail",
                    facts=(Fact("movable", "pass", "1", "1"), Fact("guard", "fail", "2", "3", "moved")))  # fmt: skip
    assert report.to_text().endswith(
        "verdict: FAIL (2 facts, 1 mismatched)\n  mismatched: guard: predicted 2; observed 3\n"
    )


@pytest.mark.parametrize("flags", [["--json"], ["--format", "json"]])
def test_lab_takes_format_json_and_the_old_json_flag(flags: list[str]) -> None:
    from layoutc.lab.verb import build_parser

    assert build_parser().parse_args(["p.yaml", *flags]).format == "json"
    assert build_parser().parse_args(["p.yaml"]).format == "text"
