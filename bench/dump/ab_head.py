#!/usr/bin/env python3
"""Interleaved A/B of the dumper at two commits against makedumpfile, on one vmcore.

Each round runs every command once (so load on a shared box hits all of them alike); the table has
medians over ``--repeat`` rounds and ratios against makedumpfile 1.7.8 ``-c`` (when ``--mdf178`` is
given, else the system makedumpfile).  The baseline commit is exported to a temporary tree; both
trees get their ``.pyc`` compiled first and both run as ``python -m layoutc.dump`` and as a zipapp
under ``--zipapp-python -I -S`` (no numpy, as in a crash initramfs).

    python3 bench/dump/ab_head.py VMCORE --base 02fa16d --mdf178 "sh bench/dump/sid-makedumpfile.sh"
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def export(commit: str, dest: Path) -> Path:
    """The tree of ``commit`` (src, schemas) under ``dest``; returns its src directory."""
    archive = subprocess.run(["git", "archive", commit, "src", "schemas"], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest / "src"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("vmcore")
    p.add_argument("--base", default="HEAD", help="commit to compare the working tree against")
    p.add_argument("--level", default="31")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    p.add_argument("--zipapp-python", default="/usr/bin/python3")
    p.add_argument("--mdf178", help="command running sid's makedumpfile 1.7.8")
    p.add_argument("--workdir", default="/var/tmp")
    args = p.parse_args()
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.workdir) as work:
        out = str(Path(work) / "out")
        trees = {"before": export(args.base, Path(work)), "after": ROOT / "src"}
        cmds: dict[str, tuple[list[str], dict[str, str] | None]] = {
            "makedumpfile 1.7.2 -c": (["makedumpfile", "-c", "-d", args.level, args.vmcore, out], None),
        }
        if args.mdf178:
            cmd = [*shlex.split(args.mdf178), "-c", "-d", args.level, args.vmcore, out]
            cmds["makedumpfile 1.7.8 -c"] = (cmd, None)
        dump = ["--quiet", "--dump-level", args.level, "--compress", "zlib", args.vmcore, out]
        for name, src in trees.items():
            env = dict(os.environ, PYTHONPATH=str(src))
            subprocess.run([args.python, "-m", "compileall", "-q", str(src)], check=True, env=env)
            pyz = str(Path(work) / f"{name}.pyz")
            subprocess.run([args.python, "-m", "layoutc.dump", "--build-zipapp", pyz], check=True, env=env)
            cmds[f"{name}: python -m layoutc.dump"] = ([args.python, "-m", "layoutc.dump", *dump], env)
            cmds[f"{name}: zipapp"] = ([args.zipapp_python, "-I", "-S", pyz, *dump], None)
        runs: dict[str, list[tuple[float, float, int]]] = {k: [] for k in cmds}
        for _ in range(args.repeat):
            for name, (cmd, env) in cmds.items():
                if os.path.exists(out):
                    os.unlink(out)  # makedumpfile refuses to overwrite
                proc = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", *cmd], capture_output=True, env=env)
                if proc.returncode != 0:
                    raise SystemExit(f"{name} failed:\n{proc.stderr.decode()[-2000:]}")
                wall, user, system, rss = proc.stderr.decode().split()[-4:]
                runs[name].append((float(wall), float(user) + float(system), int(rss)))
    ref = runs["makedumpfile 1.7.8 -c" if args.mdf178 else "makedumpfile 1.7.2 -c"]
    ref_wall, ref_cpu = statistics.median(r[0] for r in ref), statistics.median(r[1] for r in ref)
    print("| tool | wall s | CPU s | RSS MiB | wall ratio | CPU ratio |")
    print("|---|---|---|---|---|---|")
    for name, got in runs.items():
        wall, cpu = statistics.median(r[0] for r in got), statistics.median(r[1] for r in got)
        rss = max(r[2] for r in got) / 1024
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {rss:.1f} | {wall / ref_wall:.2f} | {cpu / ref_cpu:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
