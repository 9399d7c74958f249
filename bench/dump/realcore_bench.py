#!/usr/bin/env python3
"""``-d 31`` on real vmcores (the lab's ``--keep-vmcore``): layoutc dump against makedumpfile.

For each vmcore: the struct-page scan rate (numpy and standard-library paths), then end-to-end
``-d 31`` runs with zlib and zstd, ours against makedumpfile (Debian 12's 1.7.2 ``-c`` and sid's
1.7.8 ``-c``/``-z``), as medians of ``--repeat`` runs: wall, CPU, output size, peak RSS, ratios.

makedumpfile 1.7.8 predates f50c015 ("Fix wrong exclusion of compound tail pages on Linux 7.1 and
later"): on a kernel whose VMCOREINFO says ``OFFSET(page.compound_info)`` it is also run with
``-i`` and a copy of that VMCOREINFO where the entry is named ``compound_head``, which is all
f50c015 changes (the row says ``+f50c015``).

    python3 bench/dump/realcore_bench.py .cache/lab/vmcores/*.vmcore --mdf178 "sh bench/dump/sid-makedumpfile.sh"
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT / "src"), str(HERE)]

from run import Run, median, timed  # noqa: E402

from layoutc.dump.classify import pageclass  # noqa: E402
from layoutc.dump.read import elf_input as elf  # noqa: E402
from layoutc.dump.read import physmap  # noqa: E402
from layoutc.dump.read import vmcore_source as source  # noqa: E402
from layoutc.dump.read.pagetable import PageTable  # noqa: E402
from layoutc.dump.read.vmcoreinfo import VmcoreInfo  # noqa: E402


def scan_rate(path: str, vectorize: bool | None) -> tuple[float, int]:
    """Struct pages classified per second at -d 31, and the number of present pfns.

    ``vectorize``: True every batch through numpy, False the standard-library path (candidate
    filter and decision chain), None the default (standard library, numpy for dense batches).
    """
    reader = source.FileReader(path)
    try:
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
        pages = sum(e - s for s, e in pmap.present)
        return pages / elapsed, pages
    finally:
        reader.close()


def renamed_vmcoreinfo(path: str, work: str) -> str | None:
    """A VMCOREINFO file for ``makedumpfile -i`` with compound_info named compound_head, or None."""
    reader = source.FileReader(path)
    try:
        raw = elf.parse(reader, path).vmcoreinfo
    finally:
        reader.close()
    if "OFFSET(page.compound_info)" not in raw:
        return None
    out = Path(work) / (Path(path).name + ".vmcoreinfo")
    text = "".join(f"{k}={v}\n" for k, v in raw.items())
    out.write_text(text.replace("OFFSET(page.compound_info)", "OFFSET(page.compound_head)"))
    return str(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("vmcores", nargs="+")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--mdf", default="makedumpfile", help="Debian 12's makedumpfile 1.7.2")
    p.add_argument("--mdf178", help="command running sid's makedumpfile 1.7.8")
    p.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    p.add_argument("--zipapp-python", default="/usr/bin/python3", help="interpreter for the zipapp rows")
    p.add_argument("--workdir", default="/var/tmp")
    args = p.parse_args()
    ours = [args.python, "-m", "layoutc.dump", "--quiet", "--dump-level", "31"]
    print("| vmcore | pages | numpy scan M pages/s | stdlib scan M pages/s | default scan M pages/s |")
    print("|---|---|---|---|---|")
    for path in args.vmcores:
        rates = [scan_rate(path, mode) for mode in (True, False, None)]
        pages = rates[0][1]
        print(f"| {Path(path).name} | {pages} | " + " | ".join(f"{r / 1e6:.2f}" for r, _ in rates) + " |")
    print()
    cols = ["vmcore", "tool", "wall s", "CPU s", "output MB", "peak RSS MiB", "wall ratio", "CPU ratio"]
    print("| " + " | ".join([*cols, "size ratio", "RSS ratio"]) + " |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.workdir) as work:
        # The crash initramfs runs the zipapp with the distribution's python3 (no numpy, no site).
        # An installed package has its .pyc files (pip compiles them); so does the zipapp now.
        subprocess.run([args.python, "-m", "compileall", "-q", str(ROOT / "src" / "layoutc")], check=True)
        pyz = Path(work) / "dump.pyz"
        subprocess.run([args.python, "-m", "layoutc.dump", "--build-zipapp", str(pyz)], check=True, cwd=ROOT)
        zipapp = [args.zipapp_python, "-I", "-S", str(pyz), "--quiet", "--dump-level", "31"]
        for path in args.vmcores:
            out = Path(work) / "out"
            renamed = renamed_vmcoreinfo(path, work)
            rows: list[tuple[str, list[str], str]] = [
                ("layoutc dump zlib", [*ours, "--compress", "zlib", path, str(out)], "zlib"),
                ("layoutc dump zipapp zlib (no numpy)", [*zipapp, "--compress", "zlib", path, str(out)], "zlib"),
                ("layoutc dump zstd", [*ours, "--compress", "zstd", path, str(out)], "zstd"),
                ("makedumpfile 1.7.2 -c", [args.mdf, "-c", "-d", "31", path, str(out)], ""),
            ]
            if args.mdf178:
                mdf178 = shlex.split(args.mdf178)
                fix = ["-i", renamed] if renamed else []
                tag = " +f50c015" if renamed else ""
                rows += [
                    (f"makedumpfile 1.7.8{tag} -c", [*mdf178, *fix, "-c", "-d", "31", path, str(out)], "zlib-ref"),
                    (f"makedumpfile 1.7.8{tag} -z", [*mdf178, *fix, "-z", "-d", "31", path, str(out)], "zstd-ref"),
                ]
                if renamed:
                    rows.append(("makedumpfile 1.7.8 -c", [*mdf178, "-c", "-d", "31", path, str(out)], ""))
            results: dict[str, Run] = {}
            for label, cmd, _ in rows:
                results[label] = median([timed(cmd, out) for _ in range(args.repeat)])
            refs = {ref: label for label, _, ref in rows if ref.endswith("-ref")}
            for label, _, ref in rows:
                r = results[label]
                base = results.get(refs.get(f"{ref}-ref", ""), r) if ref and not ref.endswith("-ref") else r
                print(
                    f"| {Path(path).name} | {label} | {r.wall:.2f} | {r.cpu:.2f} | {r.size / 1e6:.1f} | "
                    f"{r.rss_kib / 1024:.1f} | {r.wall / base.wall:.2f} | {r.cpu / base.cpu:.2f} | "
                    f"{r.size / base.size:.4f} | {r.rss_kib / base.rss_kib:.2f} |"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
