"""``layoutc codes``: the Markdown reference and ``--format json`` come from one registry and list one set."""

from __future__ import annotations

import json
import re

from layoutc.diagnostics import catalogue
from layoutc.diagnostics.frontend_codes import FRONTEND_CODES
from layoutc.diagnostics.review_codes import REVIEW_CODES
from layoutc.importer.import_codes import IMPORT_CODES
from layoutc.initramfs.codes import INITRAMFS_CODES
from layoutc.install.install_codes import INSTALL_CODES
from layoutc.solve.solver_codes import CODES as SOLVER_CODES

ROW = re.compile(r"^\| (LC\d{3}) \|", re.MULTILINE)


def test_markdown_and_json_list_the_same_codes(run_cli) -> None:  # type: ignore[no-untyped-def]
    markdown = run_cli("codes")
    as_json = run_cli("codes", "--format", "json")
    assert markdown.code == as_json.code == 0
    listed = ROW.findall(markdown.out)
    entries = json.loads(as_json.out)["codes"]
    assert len(listed) == len(set(listed)), "a code is listed twice"
    assert [e["code"] for e in entries] == listed


def test_every_room_table_is_listed_once_with_its_group() -> None:
    tables = {"frontend": set(FRONTEND_CODES), "solver": {c.code for c in SOLVER_CODES}, "import": set(IMPORT_CODES),
              "initramfs": set(INITRAMFS_CODES), "review": set(REVIEW_CODES), "install": set(INSTALL_CODES)}
    grouped: dict[str, set[str]] = {}
    for code in catalogue.codes():
        grouped.setdefault(code.group, set()).add(code.code)
    assert grouped == tables
    assert {"LC501", "LC530", "LC534", "LC540"} <= {c.code for c in catalogue.codes()}


def test_json_carries_the_initramfs_rule(run_cli) -> None:  # type: ignore[no-untyped-def]
    entries = {e["code"]: e for e in json.loads(run_cli("codes", "--format", "json").out)["codes"]}
    assert entries["LC530"]["group"] == "initramfs"
    assert entries["LC530"]["title"] == "the crash initramfs does not fit the crash kernel's memory"
    assert "do_populate_rootfs" in entries["LC530"]["rule"]
