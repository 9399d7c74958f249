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

``--also OTHER.pyz`` interleaves another build of the dumper (``PYTHONPATH=CHECKOUT/src .venv/bin/python -m
layoutc.dump --build-zipapp OTHER.pyz`` from an earlier checkout): each round runs this tree's one and N, then the
other's one and N, so that both rows see the same moments of a noisy machine; each row adds the median of the
per-round speed-ups.

Each round also runs N one-worker dumps at once, each to its own output (byte-identical to the one worker's):
``ceiling`` is N times one worker's wall time over theirs, the throughput this machine gives N independent
processes of this very work. Two vCPUs that share a physical core, or a host that is busy elsewhere, hold it
below N; ``--workers N`` cannot beat it, and the speed-up is reported beside it (``of ceiling``).
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
    wall, cpu, (data,) = run_together([cmd], [out])
    return wall, cpu, data


def run_together(cmds: list[list[str]], outs: list[Path]) -> tuple[float, float, list[bytes]]:
    """Wall time until the last of ``cmds`` (started at once, as :func:`run` starts one) ended, their CPU time per
    command, and their outputs."""
    for out in outs:
        out.unlink(missing_ok=True)
    start = time.monotonic()
    procs = [subprocess.Popen(["/usr/bin/time", "-f", "", *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for cmd in cmds]  # fmt: skip
    cpu = 0.0
    for proc in procs:
        _pid, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise subprocess.CalledProcessError(os.waitstatus_to_exitcode(status), proc.args)
        cpu += usage.ru_utime + usage.ru_stime
    wall = time.monotonic() - start
    data = [out.read_bytes() for out in outs]
    for out in outs:
        out.unlink()
    return wall, cpu / len(cmds), data


def too_busy(args: argparse.Namespace, loads: list[float]) -> bool:
    """Wait for a quiet machine (:func:`quiet_load`), record the load; True, with the loads seen said, when it
    never was quiet enough."""
    loads.append(quiet_load(args.max_load, args.wait))
    if loads[-1] < args.max_load:
        return False
    print(f"load average {loads[-1]:.3f} >= {args.max_load}: no scaling figure (loads seen: "
          f"{', '.join(f'{x:.3f}' for x in loads)})")  # fmt: skip
    return True


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
    p.add_argument("--also", metavar="OTHER.pyz", help="another build of the dumper, interleaved round by round")
    args = p.parse_args()
    evict(args.evict)
    reclaim = direct_reclaim()
    loads: list[float] = []
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        pyz, out = Path(tmp) / "dump.pyz", Path(tmp) / "out"
        subprocess.run([args.python, "-m", "layoutc.dump", "--build-zipapp", str(pyz)], check=True, cwd=ROOT,
                       capture_output=True)  # fmt: skip
        builds = {"this tree": pyz, **({Path(args.also).name: Path(args.also)} if args.also else {})}
        counts = (1, args.workers)
        runs: dict[tuple[str, int], list[tuple[float, float]]] = {(b, n): [] for b in builds for n in counts}
        cmds = {(b, n): [*command(z, Path(tmp), 31, args.compress, "--workers", str(n)), args.vmcore, str(out)]
                for b, z in builds.items() for n in counts}  # fmt: skip
        apart = [Path(tmp) / f"apart{i}" for i in range(args.workers)]  # N one-worker dumps at once: the ceiling
        together = [[*command(pyz, Path(tmp), 31, args.compress, "--workers", "1"), args.vmcore, str(o)] for o in apart]
        ceiling: list[float] = []
        together_cpu: list[float] = []
        for cmd in cmds.values():  # untimed: the source in the page cache, as workload_bench.py runs each once first
            run(cmd, out)
        for _ in range(args.rounds):
            outputs = []
            for key, cmd in cmds.items():
                if too_busy(args, loads):
                    return 3
                wall, cpu, data = run(cmd, out)
                runs[key].append((wall, cpu))
                outputs.append(data)
            if too_busy(args, loads):
                return 3
            wall, cpu, both = run_together(together, apart)
            together_cpu.append(cpu)
            outputs.extend(both)
            ceiling.append(args.workers * runs[("this tree", 1)][-1][0] / wall)
            if any(data != outputs[0] for data in outputs):
                print("outputs differ between builds or worker counts")
                return 1
    report(args, builds, runs, ceiling, together_cpu, loads, direct_reclaim() - reclaim)
    return 0

def report(args: argparse.Namespace, builds: dict[str, Path], runs: dict[tuple[str, int], list[tuple[float, float]]],
           ceiling: list[float], together_cpu: list[float], loads: list[float], reclaimed: int) -> None:  # fmt: skip
    """One table row per build: the medians, the speed-up, the ceiling and the loads seen."""
    for build in builds:
        one, many = runs[(build, 1)], runs[(build, args.workers)]
        wall_one, wall_many = statistics.median(w for w, _ in one), statistics.median(w for w, _ in many)
        cpu_one, cpu_many = statistics.median(c for _, c in one), statistics.median(c for _, c in many)
        per_round = statistics.median(a[0] / b[0] for a, b in zip(one, many, strict=True))
        label = "" if not args.also else f" {build} |"
        print(f"| {Path(args.vmcore).name} | {args.compress} |{label} 1 worker {wall_one:.2f} s (CPU {cpu_one:.2f}) | "
              f"{args.workers} workers {wall_many:.2f} s (CPU {cpu_many:.2f}) | "
              f"speed-up {wall_one / wall_many:.2f}x (per round {per_round:.2f}x) | "
              f"ceiling {statistics.median(ceiling):.2f}x (CPU {statistics.median(together_cpu):.2f} a dump), "
              f"of ceiling {per_round / statistics.median(ceiling):.0%} | "
              f"loads {', '.join(f'{x:.3f}' for x in loads)} | "
              f"direct reclaim {reclaimed} pages |")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
