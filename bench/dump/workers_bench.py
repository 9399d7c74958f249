#!/usr/bin/env python3
"""``--workers N`` scaling: wall time of one worker over N workers, only on an idle machine.

    .venv/bin/python bench/dump/workers_bench.py VMCORE --workers 2 --rounds 3

A scaling figure means something only when the other cores are free: the 1-minute load average
must be below ``--max-load`` (0.3) before every run (``--wait S`` polls up to S seconds for it), or no
figure is reported (exit 3) and the loads seen are printed instead.  After one untimed run of each
(the source in the page cache), each round runs the zipapp (as ``capture.sh`` runs it:
``device_command.py``) with one worker, then with N; the outputs must be byte-identical.
Reported: median wall times, their ratio (the speed-up), the CPU time of each, and the pages the kernel
scanned in direct reclaim meanwhile (``pgscan_direct``: 0 unless memory ran short). ``--evict`` drops other
files from the page cache first (the other vmcores of a series: twelve do not fit in memory together).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from device_command import command  # noqa: E402
from workload_bench import direct_reclaim, evict  # noqa: E402


def run(cmd: list[str], out: Path) -> tuple[float, float, bytes]:
    """Wall time, CPU (of the dumper and its workers: wait4's rusage counts reaped children) and the output.

    Started through ``/usr/bin/time`` (a small process), not forked from this one, which holds outputs."""
    out.unlink(missing_ok=True)
    start = time.monotonic()
    proc = subprocess.Popen(["/usr/bin/time", "-f", "", *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    data = out.read_bytes()
    out.unlink()
    return wall, usage.ru_utime + usage.ru_stime, data


def quiet_load(max_load: float, wait: float) -> float:
    """The 1-minute load average once it is below ``max_load``, polling for up to ``wait`` seconds; the last
    load seen when it never was."""
    deadline = time.monotonic() + wait
    while True:
        load = os.getloadavg()[0]
        if load < max_load or time.monotonic() >= deadline:
            return load
        time.sleep(5)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("vmcore")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--compress", default="zlib")
    p.add_argument("--max-load", type=float, default=0.3)
    p.add_argument("--wait", type=float, default=0.0,
                   help="seconds to wait, before each run, for the load to fall below --max-load (default: none)")
    p.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    p.add_argument("--evict", nargs="*", default=[], metavar="FILE",
                   help="files to drop from the page cache first (the other vmcores of a series)")
    args = p.parse_args()
    evict(args.evict)
    reclaim = direct_reclaim()
    loads: list[float] = []
    walls: dict[int, list[float]] = {1: [], args.workers: []}
    cpus: dict[int, list[float]] = {1: [], args.workers: []}
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        pyz, out = Path(tmp) / "dump.pyz", Path(tmp) / "out"
        subprocess.run([args.python, "-m", "layoutc.dump", "--build-zipapp", str(pyz)], check=True, cwd=ROOT,
                       capture_output=True)  # fmt: skip
        for n in walls:  # untimed: the source in the page cache, as workload_bench.py runs each command once first
            run([*command(pyz, Path(tmp), 31, args.compress, "--workers", str(n)), args.vmcore, str(out)], out)
        for _ in range(args.rounds):
            outputs = []
            for n in walls:
                loads.append(quiet_load(args.max_load, args.wait))
                if loads[-1] >= args.max_load:
                    print(f"load average {loads[-1]:.2f} >= {args.max_load}: no scaling figure (loads seen: "
                          f"{', '.join(f'{x:.2f}' for x in loads)})")  # fmt: skip
                    return 3
                cmd = [*command(pyz, Path(tmp), 31, args.compress, "--workers", str(n)), args.vmcore, str(out)]
                wall, cpu, data = run(cmd, out)
                walls[n].append(wall)
                cpus[n].append(cpu)
                outputs.append(data)
            if outputs[0] != outputs[1]:
                print("outputs differ between 1 and N workers")
                return 1
    one, many = statistics.median(walls[1]), statistics.median(walls[args.workers])
    cpu_one, cpu_many = statistics.median(cpus[1]), statistics.median(cpus[args.workers])
    print(f"| {Path(args.vmcore).name} | {args.compress} | 1 worker {one:.2f} s (CPU {cpu_one:.2f}) | "
          f"{args.workers} workers {many:.2f} s (CPU {cpu_many:.2f}) | "
          f"speed-up {one / many:.2f}x | loads {', '.join(f'{x:.2f}' for x in loads)} | "
          f"direct reclaim {direct_reclaim() - reclaim} pages |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
