"""``assess(facts, layout)``: the device's crash-dump state against its installed layout (pure, never raises).

Each comparison is a ``Check``; the verdict is the most urgent level among them (docs/status.md): a pending
dump (12), then something unreadable (14), then a window not returned (13), then no crash kernel (10),
then a mismatch with the layout (11); else armed and matching (0).
"""

from __future__ import annotations

from layoutc.status import checks as c
from layoutc.status import window as win
from layoutc.status.checks import Check, DumpState, Level, Status
from layoutc.status.expected import Expected
from layoutc.status.facts import Facts

VERDICT = {Level.OK: "armed", Level.INFO: "armed"}


def _layout_checks(f: Facts, e: Expected) -> tuple[list[Check], str, str, str]:
    boot = c.boot_kind(f, e)
    found = [c.check_cmdline(f, e, boot)]
    found.append(Check("crash cmdline", Level.INFO, e.crash_append or "(empty)", "not exposed by the kernel",
                       "what arm.sh passes to kexec --append"))  # fmt: skip
    if e.reservation:
        found.append(c.check_reservation(f, e))
        found.append(c.check_crash_size(f, e))
    if e.cma_size:
        found.append(c.check_cma(f, e))
    window, dump = "", DumpState.NOT_APPLICABLE.value
    if e.window is not None:
        wcheck, state = win.check_window(f, e, boot)
        dcheck, dstate = win.check_dump(f, e, state)
        found += [wcheck, dcheck]
        window, dump = state.value, dstate.value
    return found, boot, window, dump


def assess(f: Facts, e: Expected | None, layout_problem: str = "") -> Status:
    """The status of the device ``f`` against the layout ``e`` (None: ``layout_problem`` says why)."""
    found = [c.check_loaded(f)]
    boot, window, dump = "unknown", "", DumpState.NOT_APPLICABLE.value
    if e is None:
        found.append(Check("layout", Level.UNREADABLE, "layout.json", "unreadable", layout_problem))
    else:
        more, boot, window, dump = _layout_checks(f, e)
        found += more
    found.append(win.check_uploads(f))
    found += win.check_last(f)
    worst = max((k.level for k in found), key=lambda level: level.rank)
    return Status(
        state=VERDICT.get(worst, worst.label),
        exit_code=int(worst.code),
        board=e.board if e else "",
        boot=boot,
        window=window,
        dump=dump,
        checks=tuple(found),
        pending_uploads=win.pending_uploads(f),
        last_recovery=win.last_recovery(f),
    )
