#!/usr/bin/env python3
"""Page classification CPU on (workload) vmcores: ours against makedumpfile's "Excluding unnecessary pages".

    python3 bench/dump/classify_bench.py .cache/lab/vmcores/workload/*.vmcore --repeat 5

Ours: ``pageclass.classify`` at ``-d 31`` under Debian's ``python3`` (no numpy), struct-page reads
included, CPU time of the process (``time.process_time``), the minimum of ``--repeat`` runs, each
in a fresh interpreter.  makedumpfile: the sum of the two "Excluding unnecessary pages" steps its
``--message-level 31`` report times (it classifies once to size the dump and once while writing
it; wall clock of a single-threaded step), the minimum of ``--repeat`` runs.  Candidates: pages
that are not tails and carry a page-cache, anonymous, buddy or page-type mark.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_OURS = r"""
import sys, time
sys.path.insert(0, sys.argv[2])
from layoutc.dump.classify import pageclass
from layoutc.dump.read import elf_input as elf, physmap, vmcore_source as source
from layoutc.dump.read.pagetable import PageTable
from layoutc.dump.read.vmcoreinfo import VmcoreInfo
path = sys.argv[1]
reader = source.FileReader(path)
core = elf.parse(reader, path)
pmap = physmap.build(core.loads, 4096)
info = VmcoreInfo(core.vmcoreinfo)
table = PageTable.from_vmcoreinfo(info, physmap.PhysReader(pmap, reader).read)
present = pmap.bitmap1()
start = time.process_time()
got = pageclass.classify(info, table, present, 4096, 31)
took = time.process_time() - start
print(took, sum(e - s for s, e in present), sum(e - s for p in got.pages.values() for s, e in p))
"""


def ours(path: str) -> tuple[float, int, int]:
    out = subprocess.run(["/usr/bin/python3", "-c", _OURS, path, str(ROOT / "src")], capture_output=True,
                         text=True, check=True).stdout.split()  # fmt: skip
    return float(out[0]), int(out[1]), int(out[2])


def theirs(mdf: list[str], path: str, work: Path) -> float:
    out = work / "out"
    out.unlink(missing_ok=True)
    proc = subprocess.run([*mdf, "-z", "-d", "31", "--message-level", "31", path, str(out)], capture_output=True)
    text = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
    out.unlink(missing_ok=True)
    return sum(float(s) for s in re.findall(r"STEP \[Excluding unnecessary pages\] : ([0-9.]+) seconds", text))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("vmcores", nargs="+")
    p.add_argument("--mdf", default="sh bench/dump/sid-makedumpfile.sh")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    print("| vmcore | pages | excluded | ours CPU ms | ours ns/page | makedumpfile ms (2 steps) | mdf ns/page "
          "| ratio |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        for path in args.vmcores:
            runs = [ours(path) for _ in range(args.repeat)]
            cpu, pages, excluded = min(r[0] for r in runs), runs[0][1], runs[0][2]
            mdf = min(theirs(shlex.split(args.mdf), path, Path(tmp)) for _ in range(args.repeat))
            name = Path(path).name.removesuffix(".vmcore")
            print(f"| {name} | {pages} | {excluded} | {cpu * 1e3:.1f} | {cpu / pages * 1e9:.1f} | "
                  f"{mdf * 1e3:.1f} | {mdf / pages * 1e9:.1f} | {cpu / mdf:.2f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
