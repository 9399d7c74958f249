#!/usr/bin/env python3
"""Struct-page scan rate and end-to-end ``-d 31`` against makedumpfile, on synthetic kernels.

Builds a 1 GiB synthetic kernel image per generation (tests/dump/kernel_fixture.py: real page
tables, mem_section, struct pages of every class), then measures:

- the classification rate (struct pages per second), numpy and standard-library paths;
- ``layoutc dump -d 31`` (zlib) against makedumpfile ``-c -d 31``: Debian 12's 1.7.2 on the 6.1
  layout, sid's 1.7.8 on the 6.12 layout when ``--mdf178 CMD`` is given (bench/dump/sid-makedumpfile.sh).

    python3 bench/dump/pageclass_bench.py --mdf178 "sh bench/dump/sid-makedumpfile.sh"
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests" / "dump")]

from run import timed  # noqa: E402


def scan_rate(path: str, vectorize: bool) -> float:
    from layoutc.dump.classify import pageclass
    from layoutc.dump.read import elf_input as elf
    from layoutc.dump.read import physmap
    from layoutc.dump.read import vmcore_source as source
    from layoutc.dump.read.pagetable import PageTable
    from layoutc.dump.read.vmcoreinfo import VmcoreInfo

    reader = source.FileReader(path)
    core = elf.parse(reader, path)
    pmap = physmap.build(core.loads, 4096)
    info = VmcoreInfo(core.vmcoreinfo)
    table = PageTable.from_vmcoreinfo(info, physmap.PhysReader(pmap, reader).read)
    assert table is not None
    if vectorize:
        import numpy  # noqa: F401  # import time is not scan time

    start = time.perf_counter()
    pageclass.classify(info, table, pmap.present, 4096, 31, vectorize=vectorize)
    elapsed = time.perf_counter() - start
    reader.close()
    return sum(e - s for s, e in pmap.present) / elapsed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", default="/var/tmp/layoutc-bench")
    p.add_argument("--ram", type=int, default=1 << 30)
    p.add_argument("--mdf", default="makedumpfile")
    p.add_argument("--mdf178", help="command running sid's makedumpfile 1.7.8")
    p.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    args = p.parse_args()
    import kernel_fixture

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    print("| layout | pages | numpy scan M pages/s | stdlib scan M pages/s | tool | wall s | CPU s | MB | RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for gen, mdf in (("6.1", args.mdf), ("6.12", args.mdf178)):
        path = work / f"kernel-{gen}.elf"
        kernel_fixture.Kernel(gen, ram=args.ram).fixture().write(str(path))
        npages = args.ram // 4096
        fast, slow = scan_rate(str(path), True), scan_rate(str(path), False)
        rows = {
            "layoutc dump -d 31": [
                args.python,
                "-m",
                "layoutc.dump",
                "--quiet",
                "--dump-level",
                "31",
                str(path),
                str(work / "out"),
            ]
        }
        if mdf:
            rows[f"makedumpfile -c -d 31 ({'1.7.2' if gen == '6.1' else '1.7.8'})"] = [
                *shlex.split(mdf),
                "-c",
                "-d",
                "31",
                str(path),
                str(work / "out"),
            ]
        for name, cmd in rows.items():
            r = timed(cmd, work / "out", env)
            print(
                f"| {gen} | {npages} | {fast / 1e6:.2f} | {slow / 1e6:.2f} | {name} | {r.wall:.2f} | {r.cpu:.2f} | "
                f"{r.size / 1e6:.1f} | {r.rss_kib / 1024:.1f} |"
            )
        path.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
