"""The verb registry (cli/registry.py) and the one exit-code table (layoutc.dump.exit_codes)."""

from __future__ import annotations

import re
import subprocess
import sys

from layoutc.cli.registry import VERBS, Calling, build_parser, verb_named
from layoutc.dump.exit_codes import ExitCode, all_codes

from .conftest import REPO


def test_exit_codes_are_the_documented_ones() -> None:
    table = (REPO / "docs" / "cli.md").read_text(encoding="utf-8").split("## Diagnostics")[0]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", table, re.MULTILINE)}
    assert documented == {0, 1, 2, 3, 4, 10, 11, 12, 13, 14, 70}  # 10-14: layoutc status (docs/status.md)
    assert all_codes() - {ExitCode.INTERRUPTED} == documented
    assert (ExitCode.OK, ExitCode.INVALID_INPUT, ExitCode.USAGE, ExitCode.CHANGED) == (0, 1, 2, 3)
    assert ExitCode.FAILED == ExitCode.DUMP_FAILED == 4 and ExitCode.INTERNAL == 70


def test_every_documented_verb_is_registered_once() -> None:
    names = [v.name for v in VERBS]
    assert len(names) == len(set(names))
    doc = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    assert set(re.findall(r"^\| `([a-z]+)` \|", doc, re.MULTILINE)) == set(names)


def test_every_entry_resolves_and_parsed_verbs_have_arguments() -> None:
    for verb in VERBS:
        assert callable(verb.load_entry()), verb.name
        assert (verb.add_arguments is not None) == (verb.calling is Calling.NAMESPACE), verb.name
    parser = build_parser("0")
    ns = parser.parse_args(["compile", "p.yaml", "-o", "out"])
    assert ns.registered_verb is verb_named("compile") and ns.output == "out"


def test_standalone_verbs_start_without_the_compiler() -> None:
    code = ("import sys; from layoutc.cli.main import main; main(['dump', '--help']); "
            "print(sorted(m for m in sys.modules if m.startswith('layoutc') and not m.startswith('layoutc.dump')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "['layoutc', 'layoutc.cli', 'layoutc.cli.arguments', " \
        "'layoutc.cli.main', 'layoutc.cli.registry']"
