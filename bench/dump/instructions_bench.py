#!/usr/bin/env python3
"""User-space instructions of one dump, ours against makedumpfile's, counted by valgrind (callgrind).

    .venv/bin/python bench/dump/instructions_bench.py VMCORE [VMCORE...] --codec zstd

CPU time on a shared box moves by 5-30 % between series (bench/dump/RESULTS.md); an instruction count does
not move at all for the same binaries and inputs, whatever else the machine runs.  It leaves out the kernel's
time (page faults, the reads and writes) and what an instruction costs (a byte loop of the interpreter runs
more instructions a cycle than libzstd's match finder), so it complements the CPU tables and does not replace
them.  Each command runs once under ``valgrind --tool=callgrind`` (about 50 times slower): ours as
``capture.sh`` runs it (``device_command.py``), makedumpfile as ``workload_bench.py`` runs it (on 7.x a copy
whose VMCOREINFO names ``compound_info`` the old way).  Reported: the instructions of each, by shared object
(the codec library, the interpreter or makedumpfile, libc), read from callgrind's profile files, and the ratio of
the totals; the outputs must be the same from block 1 on.

``--workers N`` counts our dump with N workers.  Callgrind profiles each forked child in its own file, which
starts with the parent's counts up to the fork; ``--dump-before=_Fork`` (glibc's fork) closes a part of the
parent's profile at each fork and starts the child from zero, so that the parts and the children add up to
the instructions of the whole dump, each counted once.
"""

from __future__ import annotations

import argparse
import collections
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT / "src"), str(HERE)]

from device_command import command  # noqa: E402
from workload_bench import INFO_70, INFO_71, renamed_copy, same  # noqa: E402

_NAME = re.compile(r"(c?ob)=(?:\((\d+)\))?\s*(.*)")


def counted(cmd: list[str], work: Path, label: str) -> collections.Counter[str]:
    """Instructions of ``cmd`` (and whatever it execs or forks) by shared object, read from callgrind's profile
    files; ``cmd`` writes ``work/out``."""
    out = work / f"callgrind.{label}"
    (work / "out").unlink(missing_ok=True)  # makedumpfile refuses to overwrite
    subprocess.run(["valgrind", "--tool=callgrind", "--trace-children=yes", "--dump-before=_Fork",
                    f"--callgrind-out-file={out}.%p", *cmd],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    by_object: collections.Counter[str] = collections.Counter()
    for part in work.glob(f"callgrind.{label}.*"):
        by_object.update(self_cost(part))
        part.unlink()
    return by_object


def self_cost(path: Path) -> collections.Counter[str]:
    """Instructions of one callgrind profile file by shared object (its name): the cost lines of each ``ob=``
    block, less the line after each ``calls=`` (a call's inclusive cost, counted where it was spent).  A cost line
    is the positions (``positions:``, one column for ``line``), then the events, ``Ir`` first.

    Read here, not through ``callgrind_annotate``: for a part that ``--dump-before`` cut (valgrind 3.19), its
    function list shows inclusive costs, twice or more the part's total.  The sum is checked against the file's
    own ``summary:`` (or ``totals:``) line."""
    names: dict[str, str] = {}
    by_object: collections.Counter[str] = collections.Counter()
    ob, skip, total, column = "???", False, -1, 1
    with path.open(errors="replace") as f:
        for line in f:
            if skip:  # the inclusive cost of the call named on the line before
                skip = False
            elif line[:1].isdigit() or line[:1] in "+-*":  # position(s), then Ir
                fields = line.split()
                if len(fields) > column:
                    by_object[ob] += int(fields[column])
            elif line.startswith(("ob=", "cob=")):
                m = _NAME.match(line.rstrip("\n"))
                assert m is not None  # every ob= or cob= line matches
                key, name = m.group(2), m.group(3)
                if key is not None and name:
                    names[key] = name
                if m.group(1) == "ob":
                    ob = Path(name or names.get(key or "", "???")).name
            elif line.startswith("calls="):
                skip = True
            elif line.startswith("positions:"):
                column = len(line.split()) - 1
            elif line.startswith(("summary:", "totals:")):
                total = int(line.split()[1])
    if total != sum(by_object.values()):
        raise SystemExit(f"{path}: the cost lines add up to {sum(by_object.values())}, its summary says {total}")
    return by_object


def row(path: str, pyz: Path, mdf: list[str], codec: str, work: Path, workers: int = 1) -> str:
    out = work / "out"
    renamed = renamed_copy(path, work)
    flag = {"zlib": "-c", "zstd": "-z"}[codec]
    try:
        theirs = counted([*mdf, flag, "-d", "31", renamed or path, str(out)], work, "mdf")
        ref = out.read_bytes()
        ours = counted([*command(pyz, work, 31, codec, "--workers", str(workers)), path, str(out)], work, "ours")
        verdict = same(out.read_bytes(), ref.replace(INFO_70, INFO_71, 1) if renamed else ref)
    finally:
        if renamed:
            Path(renamed).unlink()
    codec_lib = next((k for k in ours if k.startswith("libzstd" if codec == "zstd" else "libz.")), "")

    def split(c: collections.Counter[str], own: str) -> str:
        rest = sum(c.values()) - c[codec_lib] - c[own] - c["libc.so.6"]
        return f"{c[codec_lib] / 1e6:.0f} | {c[own] / 1e6:.0f} | {c['libc.so.6'] / 1e6:.0f} | {rest / 1e6:.0f}"

    total_ours, total_mdf = sum(ours.values()), sum(theirs.values())
    own = next((k for k in ours if k.startswith("python3")), "python3")
    name = Path(path).name.removesuffix(".vmcore")
    return (f"| {name} | {codec} | {total_mdf / 1e6:.0f} | {total_ours / 1e6:.0f} | {total_ours / total_mdf:.3f} | "
            f"{split(theirs, 'makedumpfile')} | {split(ours, own)} | {verdict} |")  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("vmcores", nargs="+")
    p.add_argument("--codec", choices=("zlib", "zstd"), default="zstd")
    p.add_argument("--mdf", default="sh bench/dump/sid-makedumpfile.sh", help="a makedumpfile with -z (1.7.8)")
    p.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    p.add_argument("--workers", type=int, default=1, help="our dump with this many workers (default 1)")
    args = p.parse_args()
    missing = [tool for tool in ("valgrind",) if shutil.which(tool) is None]
    if missing:
        print(f"{' and '.join(missing)} not found: install Debian's valgrind package (apt-get install valgrind)")
        return 2
    absent = [path for path in args.vmcores if not Path(path).is_file()]
    if absent:
        print(f"no such vmcore: {', '.join(absent)} (bench/dump/workload_vmcores.py captures them)")
        return 2
    mdf = shlex.split(args.mdf)
    print("| vmcore | codec | mdf M instr. | ours M instr. | ratio | mdf: codec | makedumpfile | libc | rest | "
          "ours: codec | python3 | libc | rest | bytes from block 1 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        work = Path(tmp)
        pyz = work / "dump.pyz"
        subprocess.run([args.python, "-m", "layoutc.dump", "--build-zipapp", str(pyz)], check=True, cwd=ROOT,
                       capture_output=True)  # fmt: skip
        for path in args.vmcores:
            print(row(path, pyz, mdf, args.codec, work, args.workers), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
