#!/usr/bin/env python3
"""``-d 31`` (or ``--level``) on workload vmcores: the zipapp as a device runs it against makedumpfile.

    .venv/bin/python bench/dump/workload_bench.py .cache/lab/vmcores/workload/*.vmcore \\
        --mdf "sh bench/dump/sid-makedumpfile.sh" --rounds 5

After one untimed run of each (to warm the page cache of the file each reads), each round runs,
back to back: makedumpfile ``-c``, ours zlib, makedumpfile ``-z``, ours zstd (ours: the zipapp
with a filter spec under Debian's interpreter, no numpy, run as ``capture.sh`` runs it:
``device_command.py``).  CPU is user + system of the process (wait4's rusage), peak RSS its
maximum resident set; the table has medians, ratios ours / makedumpfile with the same codec, and
the load average (1 min) seen before the first and after the last round, and the pages the kernel
scanned in direct reclaim during the rounds (``pgscan_direct``: a run short of free memory reclaims page
cache in its own system time; anything but 0 makes that row's CPU suspect).  Before each vmcore the
others of the series are dropped from the page cache (``POSIX_FADV_DONTNEED``): twelve 3 GiB vmcores do
not fit in memory together, and a series that let them compete measured direct reclaim in some runs
(7.2 mixed zstd 1.32× in the series, 1.04× alone).  On a kernel whose
VMCOREINFO says ``OFFSET(page.compound_info)`` makedumpfile reads a sparse copy of the vmcore with that entry
renamed ``compound_head`` in place (all its fix f50c015 changes; ``-i`` would also drop
``NUMBER(phys_base)``, which these guests need).  Every output of ours is compared with makedumpfile's from
block 1 on (block 0 holds the utsname and the time): ``same`` or the first differing offset.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT / "src"), str(HERE)]

from device_command import command  # noqa: E402
from run import Run, median  # noqa: E402

BLOCK = 4096


def timed(cmd: list[str], out: Path) -> tuple[Run, bytes]:
    """Wall time, CPU, peak RSS and the output of one run.

    The command runs under ``/usr/bin/time`` (a small process: a child forked from this one, which holds
    outputs of hundreds of MiB, would carry that peak RSS through its exec and spend system time unmapping
    it), which reports the peak RSS; the CPU (user + system) is wait4's rusage of ``time``, which counts the
    command it waited for, in microseconds (``time`` prints hundredths: 3 % of a 0.3 s zstd dump)."""
    if out.exists():
        out.unlink()
    stats = out.with_suffix(".time")
    with tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(["/usr/bin/time", "-o", str(stats), "-f", "%M", *cmd], stdout=subprocess.DEVNULL,
                                stderr=err)  # fmt: skip
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{shlex.join(cmd)} failed:\n{err.read().decode()[-2000:]}")
    rss = int(stats.read_text().split()[-1])
    data = out.read_bytes()
    out.unlink()
    return Run(wall, usage.ru_utime + usage.ru_stime, rss, len(data)), data


def same(ours: bytes, ref: bytes) -> str:
    if ours[BLOCK:] == ref[BLOCK:]:
        return "same"
    n = next((i for i, (a, b) in enumerate(zip(ours[BLOCK:], ref[BLOCK:], strict=False)) if a != b), None)
    return f"differs at {BLOCK + (n if n is not None else min(len(ours), len(ref)) - BLOCK)}"


INFO_71, INFO_70 = b"OFFSET(page.compound_info)=", b"OFFSET(page.compound_head)="


def renamed_copy(path: str, work: Path) -> str | None:
    """A sparse copy whose VMCOREINFO names the tail word compound_head, or None when it already does."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 20)  # ELF header, program headers and the notes
    at = head.find(INFO_71)
    if at < 0:
        return None
    dest = work / (Path(path).name + ".f50c015")
    subprocess.run(["cp", "--sparse=always", path, str(dest)], check=True)
    with dest.open("r+b") as fh:
        fh.seek(at)
        fh.write(INFO_70)
    os.sync()  # the copy's gigabytes written back before the timed runs, not during them
    return str(dest)


def load() -> float:
    return os.getloadavg()[0]


def direct_reclaim() -> int:
    """Pages the kernel scanned in direct reclaim so far (/proc/vmstat ``pgscan_direct``): a process short of
    free memory reclaims page cache itself, in its own system time, which a CPU figure then carries."""
    try:
        with open("/proc/vmstat") as fh:
            for line in fh:
                if line.startswith("pgscan_direct "):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def evict(paths: list[str]) -> None:
    """Drop these files' pages from the page cache (``POSIX_FADV_DONTNEED``): the other vmcores of the series,
    so that the one measured, its copy and the outputs fit in memory without reclaim."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def bench(path: str, pyz: Path, mdf: list[str], rounds: int, level: int, work: Path) -> list[str]:
    out = work / "out"
    renamed = renamed_copy(path, work)
    theirs = renamed or path
    rows = {
        "makedumpfile -c": [*mdf, "-c", "-d", str(level), theirs, str(out)],
        "ours zlib": [*command(pyz, work, level, "zlib"), path, str(out)],
        "makedumpfile -z": [*mdf, "-z", "-d", str(level), theirs, str(out)],
        "ours zstd": [*command(pyz, work, level, "zstd"), path, str(out)],
    }
    runs: dict[str, list[Run]] = {k: [] for k in rows}
    verdict: dict[str, str] = {}
    # One untimed run of each first: on 7.x makedumpfile reads a copy, so its runs warm the copy's page cache and
    # not the vmcore's, and twelve 3 GiB vmcores do not all stay cached; a cold read costs system time.
    for cmd in rows.values():
        timed(cmd, out)
    before, reclaim = load(), direct_reclaim()
    for _ in range(rounds):
        outputs: dict[str, bytes] = {}
        for label, cmd in rows.items():
            run, outputs[label] = timed(cmd, out)
            runs[label].append(run)
        for label, ref in (("ours zlib", "makedumpfile -c"), ("ours zstd", "makedumpfile -z")):
            # the renamed copy's VMCOREINFO is in makedumpfile's output: name the entry back
            theirs_out = outputs[ref].replace(INFO_70, INFO_71, 1) if renamed else outputs[ref]
            verdict[label] = same(outputs[label], theirs_out)
    after, reclaim = load(), direct_reclaim() - reclaim
    if renamed:
        os.unlink(renamed)
    med = {k: median(v) for k, v in runs.items()}
    lines = []
    name = Path(path).name.removesuffix(".vmcore") + (" (mdf +f50c015)" if renamed else "")
    for label, ref in (("ours zlib", "makedumpfile -c"), ("ours zstd", "makedumpfile -z")):
        r, m = med[label], med[ref]
        lines.append(
            f"| {name} | {label.split()[1]} | {m.cpu:.3f} | {r.cpu:.3f} | {r.cpu / m.cpu:.3f} | "
            f"{m.rss_kib / 1024:.1f} | {r.rss_kib / 1024:.1f} | {r.size / m.size:.4f} | {verdict[label]} | "
            f"{before:.1f} / {after:.1f} | {reclaim} |"
        )
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("vmcores", nargs="+")
    p.add_argument("--mdf", default="sh bench/dump/sid-makedumpfile.sh", help="a makedumpfile with -z (1.7.8)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--level", type=int, default=31)
    p.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    p.add_argument("--workdir", default="/var/tmp")
    args = p.parse_args()
    print("| vmcore | codec | mdf CPU s | ours CPU s | CPU ratio | mdf RSS MiB | ours RSS MiB | size ratio | "
          "bytes from block 1 | load 1 min before / after | direct reclaim (pages scanned) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        subprocess.run([args.python, "-m", "compileall", "-q", str(ROOT / "src" / "layoutc")], check=True)
        pyz = work / "dump.pyz"
        subprocess.run([args.python, "-m", "layoutc.dump", "--build-zipapp", str(pyz)], check=True, cwd=ROOT,
                       capture_output=True)  # fmt: skip
        for path in args.vmcores:
            evict([other for other in args.vmcores if other != path])
            for line in bench(path, pyz, shlex.split(args.mdf), args.rounds, args.level, work):
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
