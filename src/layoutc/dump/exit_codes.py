"""The exit codes of every ``layoutc`` verb (docs/cli.md, "Exit codes"): the one table.

It lives in the dumper's package because the dumper ships alone in a standard-library zipapp and may
import nothing outside ``layoutc.dump``; the compiler's CLI, the review verbs and the lab import it
from here. Standard library only, and not even ``enum``: an ``IntEnum`` would cost every dump's start-up the
``enum`` module and what it imports (about 3 ms, measured; bench/dump/RESULTS.md).
"""

from __future__ import annotations


class ExitCode:
    """Process exit codes (plain ints); the values are a public contract (docs/cli.md)."""

    OK = 0  # success; for --check and diff: nothing changed
    INVALID_INPUT = 1  # a profile, SysInfo, filter spec, layout or vmcore that cannot be used
    USAGE = 2  # unknown verb or flag, missing argument, an option the input cannot use
    CHANGED = 3  # compile --check found stale outputs; diff found a layout change
    FAILED = 4  # a runtime step failed: writing, a dump step, a lab boot or a prediction mismatch
    INTERNAL = 70  # a bug in layoutc (EX_SOFTWARE of sysexits.h); bad input never causes this
    INTERRUPTED = 130  # SIGINT (128 + 2, the shell's convention for a death by signal)
    DUMP_FAILED = 4  # alias of FAILED: the dumper's name for it
    # layoutc status (docs/status.md): what a monitoring system acts on, the most urgent first when several hold
    STATUS_NOT_ARMED = 10  # no crash kernel is loaded
    STATUS_MISMATCH = 11  # the reservation, crash CMA, cmdline or window differs from the installed layout
    STATUS_DUMP_PENDING = 12  # a dump waits in the window or in the store for its upload
    STATUS_WINDOW_HELD = 13  # the window is not returned (pmem, devdax or offline where RAM is expected)
    STATUS_UNREADABLE = 14  # the layout or a device fact the verdict needs cannot be read


def all_codes() -> frozenset[int]:
    """Every exit code of the table."""
    return frozenset(v for k, v in vars(ExitCode).items() if k.isupper() and isinstance(v, int))
