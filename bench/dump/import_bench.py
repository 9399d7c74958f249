"""Import cost of the dumper's dump path: ``python3 -X importtime`` of a zipapp doing a real dump.

    .venv/bin/python bench/dump/import_bench.py dump.pyz VMCORE [--runs 31] [--top 25] \
        [--flags "--dump-level 31 --compress zstd"]

Runs ``python3 -X importtime ZIPAPP --quiet ARGS VMCORE OUT`` ``--runs`` times and prints the median
of the total import time (the sum of every module's own time), the median of each module's own and
cumulative time (the ``--top`` largest cumulative), and the load average (1 min) before and after.
Compare zipapps only within one run of this script, interleaved (``--against OTHER.pyz``).  ``--cpu`` runs
the same dumps without ``-X importtime`` and prints the median CPU (user + system) of each zipapp's process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile


def _one(python: str, zipapp: str, vmcore: str, extra: list[str], out: str) -> dict[str, tuple[int, int]]:
    cmd = [python, "-X", "importtime", zipapp, "--quiet", *extra, vmcore, out]
    err = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True, text=True).stderr
    times: dict[str, tuple[int, int]] = {}
    for line in err.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line[len("import time:") :].split("|")
        times[name.strip()] = (int(own), int(cumulative))
    return times


def _cpu(python: str, zipapp: str, vmcore: str, extra: list[str], out: str) -> float:
    proc = subprocess.Popen([python, zipapp, "--quiet", *extra, vmcore, out], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{zipapp}: exit {proc.returncode}")
    return usage.ru_utime + usage.ru_stime


def _cpu_table(a: argparse.Namespace, apps: list[str], extra: list[str]) -> int:
    cpu: dict[str, list[float]] = {z: [] for z in apps}
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(a.runs):
            for z in apps:
                cpu[z].append(_cpu(a.python, z, a.vmcore, extra, os.path.join(tmp, "out")))
    load1 = os.getloadavg()[0]
    print(f"load (1 min) before / after: {load0:.1f} / {load1:.1f}; {a.runs} runs; flags {' '.join(extra)}")
    for z in apps:
        print(f"{z}: median CPU (user + system) {statistics.median(cpu[z]) * 1000:.1f} ms")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("zipapp")
    p.add_argument("vmcore")
    p.add_argument("--against", help="a second zipapp, run interleaved with the first")
    p.add_argument("--runs", type=int, default=31)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--python", default="/usr/bin/python3")
    p.add_argument("--cpu", action="store_true", help="CPU of whole dumps instead of import times")
    p.add_argument("--flags", default="--dump-level 31 --compress zstd", help="the dumper's flags, one string")
    a = p.parse_args()
    extra = a.flags.split()
    apps = [a.zipapp] + ([a.against] if a.against else [])
    if a.cpu:
        return _cpu_table(a, apps, extra)
    runs: dict[str, list[dict[str, tuple[int, int]]]] = {z: [] for z in apps}
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(a.runs):
            for z in apps:
                runs[z].append(_one(a.python, z, a.vmcore, extra, os.path.join(tmp, "out")))
    load1 = os.getloadavg()[0]
    print(f"load (1 min) before / after: {load0:.1f} / {load1:.1f}; {a.runs} runs; flags {' '.join(extra)}")
    for z in apps:
        totals = [sum(own for own, _ in r.values()) for r in runs[z]]
        print(
            f"\n{z}: median total import time {statistics.median(totals) / 1000:.1f} ms, "
            f"{statistics.median(len(r) for r in runs[z]):.0f} modules"
        )
        names = {n for r in runs[z] for n in r}
        rows = []
        for n in names:
            own = statistics.median(r.get(n, (0, 0))[0] for r in runs[z])
            cum = statistics.median(r.get(n, (0, 0))[1] for r in runs[z])
            rows.append((cum, own, n))
        for cum, own, n in sorted(rows, reverse=True)[: a.top]:
            print(f"  {cum / 1000:7.2f} ms cumulative {own / 1000:7.2f} ms own  {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
