"""``layoutc status``: the device's crash-dump state against its installed layout.

Runs as ``layoutc status``, as ``python3 -m layoutc.status`` and, on a device without layoutc installed,
from the device zipapp: ``PYTHONPATH=/usr/lib/layoutc/dump.pyz python3 -m layoutc.status``. Standard
library only; it imports nothing of the compiler. Exit codes: docs/status.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from layoutc.dump.exit_codes import ExitCode
from layoutc.status import expected as exp
from layoutc.status.assess import assess
from layoutc.status.facts import read_facts
from layoutc.status.report import as_json, as_text

EPILOG = """\
exit codes: 0 armed and matching the layout; 10 no crash kernel loaded; 11 the reservation, crash CMA,
cmdline or window differs from the layout; 12 a dump is pending (in the window, or stored and not
uploaded); 13 the window is not returned (pmem, devdax or offline); 14 the layout or a needed device
fact cannot be read; 2 usage. When several hold, the first of 12, 14, 13, 10, 11 wins (docs/status.md).
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="layoutc status", allow_abbrev=False, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Report the crash-dump state of this device: crash kernel loaded, reservation or crash CMA, "
        "the dump window's state, a pending dump, the last recovery; each against the installed layout.",
    )  # fmt: skip
    p.add_argument("--root", metavar="DIR", default="/", help="read /proc, /sys, /dev and /var under DIR (default /)")
    p.add_argument("--layout", metavar="PATH",
                   help=f"the installed layout.json (default: {exp.DEFAULT_LAYOUT} under --root)")  # fmt: skip
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        ns = parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:
        return int(exc.code or 0) and int(ExitCode.USAGE)
    root = Path(ns.root)
    layout = Path(ns.layout) if ns.layout else root / exp.DEFAULT_LAYOUT.lstrip("/")
    e, problem = None, ""
    try:
        e = exp.load(layout)
    except exp.LayoutError as exc:
        problem = str(exc)
    window = (e.window.start, e.window.end) if e is not None and e.window is not None else None
    status = assess(read_facts(root, window), e, problem)
    try:
        sys.stdout.write(as_json(status, str(layout)) if ns.format == "json" else as_text(status, str(layout)))
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    return status.exit_code


if __name__ == "__main__":
    sys.exit(main())
