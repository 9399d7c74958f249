"""The lab's ``layoutc status`` facts: the guest's JSON and exit code against the cycle stage's prediction."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

from layoutc.lab.boot.serial import parse_serial
from layoutc.lab.facts.status_facts import status_fact
from layoutc.lab.layout_dir import parse_layout

from .device import layout_doc


def serial(at: str, rc: int, doc: Mapping[str, object]) -> bytes:
    body = base64.encodebytes(json.dumps(doc).encode()).decode()
    return (f'LAYOUTC-OBS {{"kind":"status","at":"{at}","rc":{rc}}}\n'
            f"LAYOUTC-BEGIN status-{at}\n{body}LAYOUTC-END status-{at}\n").encode()  # fmt: skip


def test_a_pending_dump_at_the_start_of_the_recovery_boot_passes() -> None:
    layout = parse_layout(layout_doc("qemu-4g"))
    doc = {"state": "dump-pending", "window": "pmem", "dump": "pending", "checks": []}
    fact = status_fact(layout, parse_serial(serial("recovery-start", 12, doc)), "recovery-start")
    assert fact is not None and fact.status == "pass", fact


def test_a_wrong_window_state_fails_and_names_the_check() -> None:
    layout = parse_layout(layout_doc("qemu-4g"))
    check = {"name": "window", "level": "mismatch", "observed": "ram", "expected": "movable-ram", "detail": ""}
    doc = {"state": "mismatch", "window": "ram", "dump": "none", "checks": [check]}
    fact = status_fact(layout, parse_serial(serial("armed", 11, doc)), "armed")
    assert fact is not None and fact.status == "fail"
    assert fact.predicted == "state armed, exit 0, window movable-ram, dump none"
    assert fact.detail == "window: ram (mismatch)"


def test_no_output_fails() -> None:
    layout = parse_layout(layout_doc("qemu-4g"))
    fact = status_fact(layout, parse_serial(b""), "recovered")
    assert fact is not None and (fact.status, fact.detail) == ("fail", "no status output")


def test_disk_targets_have_no_prediction() -> None:
    layout = parse_layout(layout_doc("qemu-4g-cma-disk"))
    assert status_fact(layout, parse_serial(b""), "armed") is None
