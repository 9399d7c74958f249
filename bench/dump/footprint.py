#!/usr/bin/env python3
"""Measure what the dumper adds to a crash initramfs: the zipapp and a minimal interpreter set.

Builds the zipapp, runs one dump as capture.sh does (Debian's /usr/bin/python3 ``-I -S -c``: no site-packages) and
``-X importtime``, resolves every imported module to its file (source and .pyc) and the shared
libraries they link, and reports sizes per Debian package (python3.11-minimal, libpython3.11-stdlib...).

    python3 bench/dump/footprint.py
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"
sys.path.insert(0, str(HERE.parents[1] / "tests" / "dump"))

RESOLVE = r"""
import importlib.util, os, sys
files = set()
for name in sys.stdin.read().split():
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        continue
    if spec is None or not spec.origin or not os.path.exists(spec.origin):
        continue
    files.add(os.path.realpath(spec.origin))
    if spec.cached and os.path.exists(spec.cached):
        files.add(os.path.realpath(spec.cached))
print("\n".join(sorted(files)))
"""


def shared_libs(paths: list[str]) -> set[str]:
    libs: set[str] = set()
    for path in paths:
        if path.endswith(".so") or os.access(path, os.X_OK) and not path.endswith(".py"):
            out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
            libs.update(os.path.realpath(w) for line in out.splitlines() for w in line.split() if w.startswith("/"))
    return libs


def owner(path: str) -> str:
    proc = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
    if proc.returncode != 0:
        alt = path.replace("/usr/lib/", "/lib/", 1)
        proc = subprocess.run(["dpkg", "-S", alt], capture_output=True, text=True)
    return proc.stdout.split(":")[0] if proc.returncode == 0 else "(none)"


def main() -> int:
    import vmcore_fixtures

    with tempfile.TemporaryDirectory() as tmp:
        pyz = Path(tmp) / "layoutc-dump.pyz"
        subprocess.run(
            [sys.executable, "-m", "layoutc.dump", "--build-zipapp", str(pyz)],
            check=True,
            env=dict(os.environ, PYTHONPATH=str(SRC)),
            capture_output=True,
        )
        src = vmcore_fixtures.standard().write(str(Path(tmp) / "vmcore"))
        spec = Path(tmp) / "filter.json"
        spec.write_text('{"schema_version": 1, "dump_level": 31, "compression": "zlib"}')
        # The real command line, as capture.sh runs it in the crash initramfs (layoutc.dump.zipapp.RUNNER),
        # with a filter spec.
        from layoutc.dump.zipapp import RUNNER

        proc = subprocess.run(
            ["/usr/bin/python3", "-X", "importtime", *RUNNER[1:], str(pyz), "--quiet", "--spec", str(spec), src,
             str(Path(tmp) / "out")],
            capture_output=True,
            text=True,
        )  # fmt: skip
        modules = [line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line]
        modules = [m for m in modules if m and not m.startswith(("layoutc", "__main__"))]
        resolved = subprocess.run(
            ["/usr/bin/python3", "-I", "-S", "-c", RESOLVE], input=" ".join(modules), capture_output=True, text=True
        ).stdout.split()
        files = sorted(set(resolved) | {os.path.realpath("/usr/bin/python3")})
        files = sorted(set(files) | shared_libs(files))
        by_pkg: dict[str, list[tuple[str, int]]] = collections.defaultdict(list)
        for f in files:
            by_pkg[owner(f)].append((f, os.path.getsize(f)))
        print(f"zipapp: {pyz.stat().st_size} bytes")
        total = 0
        for pkg, items in sorted(by_pkg.items()):
            size = sum(s for _, s in items)
            total += size
            names = " ".join(sorted(Path(f).name for f, _ in items if not f.endswith(".pyc")))
            print(f"{pkg}: {len(items)} files, {size} bytes: {names[:400]}")
        print(f"total files loaded by one dump (interpreter, modules, .pyc, shared libraries): {total} bytes")
        for f, s in sorted((x for items in by_pkg.values() for x in items), key=lambda x: -x[1])[:12]:
            print(f"  {s:>9} {f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
