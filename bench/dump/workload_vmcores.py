#!/usr/bin/env python3
"""Real vmcores of busy guests: boot a Debian 6.1 or 7.x x86 guest, load it, panic, keep ``/proc/vmcore``.

One command per vmcore (or several: ``--kernel`` and ``--workload`` take lists)::

    .venv/bin/python bench/dump/workload_vmcores.py --kernel 6.1 7 --workload mixed

The capture itself, the guest's ``/init`` and the workloads are :mod:`layoutc.lab.workload`; the files land
in the lab cache as ``vmcores/workload/<release>-<workload>.vmcore`` (never committed).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "src")]

from layoutc.lab import workload as busy  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--kernel", nargs="+", default=["6.1", "7"], help="Debian kernel series: 6.1, 7")
    parser.add_argument("--workload", nargs="+", default=["mixed"], choices=busy.WORKLOADS)
    parser.add_argument("--ram-mib", type=int, default=3072)
    parser.add_argument("--timeout", type=float, default=2400.0)
    args = parser.parse_args(argv)
    failed = 0
    for label in args.kernel:
        for workload in args.workload:
            start = time.monotonic()
            got = busy.capture(label, workload, args.ram_mib * busy.MiB, args.timeout)
            for line in got.lines:
                print(f"  {line}")
            if got.vmcore is None:
                print(f"{label} {workload}: no vmcore after {got.seconds:.0f} s (serial log {got.serial_log})")
                failed += 1
            else:
                size = got.vmcore.stat().st_size
                print(f"{got.vmcore}: {size / busy.MiB:.0f} MiB, {got.seconds:.0f} s in QEMU")
            print(f"  ({time.monotonic() - start:.0f} s wall for this vmcore)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
