#!/usr/bin/env python3
"""Benchmark ``layoutc dump`` against makedumpfile on large synthetic vmcores.

For each size it generates a source (make_vmcore.py), reads it once so both tools start from a
warm page cache, then runs each tool ``--repeat`` times, interleaved, under ``/usr/bin/time``:
wall time, CPU time (user + system) and peak RSS, plus the output size.  Prints a Markdown table
of medians and ratios (ours / makedumpfile).  Sources are deleted afterwards unless ``--keep``.

    python3 bench/dump/run.py --sizes 1G,8G --repeat 3

``--mdf-zstd CMD`` names a makedumpfile that supports ``-z`` (zstd), e.g. sid's 1.7.8 run through
its own ld.so (see RESULTS.md); then the zstd rows are measured too.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    rss_kib: int
    size: int


def timed(cmd: list[str], out: Path, env: dict[str, str] | None = None) -> Run:
    if out.exists():
        out.unlink()  # makedumpfile refuses to overwrite
    stats = out.with_suffix(".time")
    proc = subprocess.run(["/usr/bin/time", "-o", str(stats), "-f", "%e %U %S %M", *cmd], capture_output=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{shlex.join(cmd)} failed:\n{proc.stderr.decode()[-2000:]}")
    wall, user, system, rss = stats.read_text().split()[-4:]
    size = out.stat().st_size
    out.unlink()
    return Run(float(wall), float(user) + float(system), int(rss), size)


def median(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.wall for r in runs),
        statistics.median(r.cpu for r in runs),
        max(r.rss_kib for r in runs),
        runs[0].size,
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1G,8G")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workdir", default="/var/tmp/layoutc-bench")
    venv = HERE.parents[1] / ".venv" / "bin" / "python"
    p.add_argument(
        "--python",
        default=str(venv) if venv.exists() else "/usr/bin/python3",
        help="interpreter with zstandard installed (default: the project venv)",
    )
    p.add_argument("--mdf", default="makedumpfile")
    p.add_argument("--mdf-zstd", help="command of a makedumpfile with -z (zstd)")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(SRC))
    ours = [args.python, "-m", "layoutc.dump", "--quiet"]
    rows: list[str] = []
    for size in args.sizes.split(","):
        src = work / f"vmcore-{size}"
        if not src.exists():
            subprocess.run([sys.executable, str(HERE / "make_vmcore.py"), "--size", size, str(src)], check=True)
        subprocess.run(["cat", str(src)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
        variants: dict[str, list[str]] = {
            "makedumpfile -c -d 1": [args.mdf, "-c", "-d", "1", str(src)],
            "layoutc dump zlib": [*ours, "--compress", "zlib", str(src)],
            "layoutc dump zlib --workers 2": [*ours, "--compress", "zlib", "--workers", "2", str(src)],
            "layoutc dump zstd": [*ours, "--compress", "zstd", str(src)],
        }
        if args.mdf_zstd:
            variants["makedumpfile 1.7.8 -z -d 1"] = [*shlex.split(args.mdf_zstd), "-z", "-d", "1", str(src)]
        results: dict[str, list[Run]] = {k: [] for k in variants}
        for _ in range(args.repeat):
            for name, cmd in variants.items():
                results[name].append(timed([*cmd, str(work / "out")], work / "out", env))
        base = {"zlib": median(results["makedumpfile -c -d 1"])}
        if args.mdf_zstd:
            base["zstd"] = median(results["makedumpfile 1.7.8 -z -d 1"])
        for name, runs in results.items():
            m = median(runs)
            is_zstd = "zstd" in name or name.endswith("-z -d 1")
            ref = base["zstd"] if is_zstd and "zstd" in base else base["zlib"]
            rows.append(
                f"| {size} | {name} | {m.wall:.2f} | {m.cpu:.2f} | {m.size / 1e6:.1f} | "
                f"{m.rss_kib / 1024:.1f} | {m.wall / ref.wall:.2f} | {m.cpu / ref.cpu:.2f} | "
                f"{m.size / ref.size:.4f} |"
            )
        if not args.keep:
            src.unlink()
    print("| source | tool | wall s | CPU s | output MB | peak RSS MiB | wall ratio | CPU ratio | size ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
