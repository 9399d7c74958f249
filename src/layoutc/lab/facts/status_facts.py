"""``layoutc status`` in the guest, against what the cycle stage predicts (docs/status.md).

The guest runs the status from the device zipapp after arming (``armed``), at the start of the recovery boot
before recover.sh (``recovery-start``: the dump is in the window) and after recover.sh's last run
(``recovered``); each run is an observation ``status`` (``at``, ``rc``) and its JSON (``status-AT``).
"""

from __future__ import annotations

import json
from typing import Any

from layoutc.dump.exit_codes import ExitCode
from layoutc.lab.boot.serial import GuestOutput
from layoutc.lab.facts.boot_facts import Fact
from layoutc.model.layout import Layout


def predicted(layout: Layout, at: str) -> tuple[str, int, str, str] | None:
    """(state, exit code, window, dump) the status must report at ``at``; None: no prediction (disk targets)."""
    w = layout.dump_window
    if w is None:
        return None
    returned = ("armed", int(ExitCode.OK), "system-ram", "none")
    if at == "recovery-start":
        return "dump-pending", int(ExitCode.STATUS_DUMP_PENDING), "pmem", "pending"
    if at == "recovered":
        return returned if str(w.release) == "kmem" else None
    if layout.strategy.window_mode == "hotplug":
        return returned  # recover.sh returned the window before arm.sh armed
    return "armed", int(ExitCode.OK), "movable-ram", "none"


def _observed(out: GuestOutput, at: str) -> tuple[dict[str, Any], int | None]:
    runs = [o for o in out.of_kind("status") if o.get("at") == at]
    rc = runs[-1].get("rc") if runs else None
    try:
        doc = json.loads(out.text(f"status-{at}") or "")
    except ValueError:
        doc = {}
    return (doc if isinstance(doc, dict) else {}), (rc if isinstance(rc, int) else None)


def status_fact(layout: Layout, out: GuestOutput, at: str) -> Fact | None:
    """The status at ``at``: its state, exit code, window and dump against the prediction."""
    want = predicted(layout, at)
    if want is None:
        return None
    doc, rc = _observed(out, at)
    seen = (doc.get("state"), rc, doc.get("window"), doc.get("dump"))
    found = doc.get("checks")
    checks: list[Any] = found if isinstance(found, list) else []
    off = [f"{c.get('name')}: {c.get('observed')} ({c.get('level')})" for c in checks
           if isinstance(c, dict) and c.get("level") not in ("ok", "info")]  # fmt: skip
    detail = "; ".join(off) or ("no status output" if not doc else "every check ok")
    fmt = "state {}, exit {}, window {}, dump {}"
    return Fact(f"layoutc status ({at})", "pass" if seen == want else "fail", fmt.format(*want), fmt.format(*seen),
                detail)  # fmt: skip
