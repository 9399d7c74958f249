"""Time the compiler stages on a generated fleet without the writer: load, solve, render.

    PYTHONPATH=src python bench/fleet/inprocess.py PROFILE_DIR
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.frontend.load import load_profile
from layoutc.render import render_all
from layoutc.solve import solve


def main(argv: list[str]) -> int:
    paths = sorted(Path(argv[1]).glob("*.yaml"))
    t0 = time.perf_counter()
    profiles = [load_profile(p, p.name, Diagnostics()) for p in paths]
    t1 = time.perf_counter()
    layouts = [solve(p, Diagnostics()) for p in profiles if p is not None]
    t2 = time.perf_counter()
    files = sum(len(render_all(layout)) for layout in layouts if layout is not None)
    t3 = time.perf_counter()
    print(f"{len(paths)} profiles: load {t1 - t0:.2f} s, solve {t2 - t1:.2f} s, render {t3 - t2:.2f} s "
          f"({files} files), total {t3 - t0:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
