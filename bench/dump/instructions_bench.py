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

``--stages`` counts each dump stage by stage (one worker), in millions: page classification, our kernel-image
hold-back, the codec (the inclusive cost of the codec library's functions called per page, with the libc calls
they make), the rest of the page loop, everything else, and the pages each compressed.  Ours runs through
``stage_marks.py`` (the device's interpreter and zipapp, with a ``getppid`` call at each stage's edge that cuts
the profile there; about 1.4 M instructions more than the device's bootstrap, to compile that script).
makedumpfile's stages are its functions' inclusive costs: ``exclude_unnecessary_pages`` (every pass over the
struct pages) and ``write_kdump_pages_cyclic`` (its page loop).
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

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT / "src"), str(HERE)]

from device_command import command  # noqa: E402
from stage_marks import PARTS  # noqa: E402
from workload_bench import INFO_70, INFO_71, renamed_copy, same  # noqa: E402

_NAME = re.compile(r"(c?ob|c?fn)=(?:\((\d+)\))?\s*(.*)")


def profiled(cmd: list[str], work: Path, label: str, *marks: str) -> dict[str, Profile]:
    """The profile files of ``cmd`` by name (``callgrind.LABEL.PID``, ``.N`` after it for the Nth part that
    ``--dump-before`` cut), read and deleted; a part also ends at each call of a function of ``marks``."""
    out = work / f"callgrind.{label}"
    (work / "out").unlink(missing_ok=True)  # makedumpfile refuses to overwrite
    cuts = [f"--dump-before={name}" for name in ("_Fork", *marks)]
    subprocess.run(["valgrind", "--tool=callgrind", "--trace-children=yes", *cuts,
                    f"--callgrind-out-file={out}.%p", *cmd],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    got = {}
    for part in work.glob(f"callgrind.{label}.*"):
        got[part.name] = read_profile(part)
        part.unlink()
    return got


class Profile:
    """One callgrind profile file: self costs (Ir) by shared object and by function, and by function the
    inclusive costs of the calls it makes (and how many)."""

    def __init__(self) -> None:
        self.by_object: collections.Counter[str] = collections.Counter()
        self.by_function: collections.Counter[str] = collections.Counter()
        self.in_calls: collections.Counter[str] = collections.Counter()  # the cost of its callees, inclusive
        self.calls_to: collections.Counter[str] = collections.Counter()  # times it was called

    def counters(self) -> tuple[collections.Counter[str], ...]:
        return self.by_object, self.by_function, self.in_calls, self.calls_to

    def inclusive(self, name: str) -> int:
        """``name``'s own cost and its calls' (a function that does not recurse)."""
        return self.by_function[name] + self.in_calls[name]


def self_cost(path: Path) -> collections.Counter[str]:
    """Instructions of one callgrind profile file by shared object (:func:`read_profile`)."""
    return read_profile(path).by_object


def read_profile(path: Path) -> Profile:
    """The cost lines of a callgrind profile file: each ``ob=`` and ``fn=`` block's own, less the line after each
    ``calls=`` (a call's inclusive cost, counted where it was spent, and here as the caller's ``in_calls``).  A cost
    line is the positions (``positions:``, one column for ``line``), then the events, ``Ir`` first.

    Read here, not through ``callgrind_annotate``: for a part that ``--dump-before`` cut (valgrind 3.19), its
    function list shows inclusive costs, twice or more the part's total.  The sum is checked against the file's
    own ``summary:`` (or ``totals:``) line."""
    names: dict[tuple[str, str], str] = {}  # (ob or fn, compressed id) -> name
    got = Profile()
    ob = fn = callee = "???"
    skip, total, column = False, -1, 1
    with path.open(errors="replace") as f:
        for line in f:
            if skip:  # the inclusive cost of the call named on the line before
                skip = False
                fields = line.split()
                if len(fields) > column:
                    got.in_calls[fn] += int(fields[column])
            elif line[:1].isdigit() or line[:1] in "+-*":  # position(s), then Ir
                fields = line.split()
                if len(fields) > column:
                    got.by_object[ob] += int(fields[column])
                    got.by_function[fn] += int(fields[column])
            elif line.startswith(("ob=", "cob=", "fn=", "cfn=")):
                m = _NAME.match(line.rstrip("\n"))
                assert m is not None  # every such line matches
                kind, key, name = m.group(1), m.group(2), m.group(3)
                space = kind[-2:]
                if key is not None and name:
                    names[(space, key)] = name
                name = name or names.get((space, key or ""), "???")
                if kind == "ob":
                    ob = Path(name).name
                elif kind == "fn":
                    fn = name
                elif kind == "cfn":
                    callee = name
            elif line.startswith("calls="):
                skip = True
                got.calls_to[callee] += int(line.split("=", 1)[1].split()[0])
            elif line.startswith("positions:"):
                column = len(line.split()) - 1
            elif line.startswith(("summary:", "totals:")):
                total = int(line.split()[1])
    if total != sum(got.by_object.values()):
        raise SystemExit(f"{path}: the cost lines add up to {sum(got.by_object.values())}, its summary says {total}")
    return got


def both(path: str, mdf: list[str], codec: str, ours: list[str], work: Path, *marks: str,
         ) -> tuple[dict[str, Profile], dict[str, Profile], str]:  # fmt: skip
    """makedumpfile's dump of ``path`` and ours (``ours``: our command before SOURCE and OUTPUT, its profile cut at
    ``marks`` too), each profiled; and whether the outputs are the same from block 1 on."""
    out = work / "out"
    renamed = renamed_copy(path, work)
    flag = {"zlib": "-c", "zstd": "-z"}[codec]
    try:
        theirs = profiled([*mdf, flag, "-d", "31", renamed or path, str(out)], work, "mdf")
        ref = out.read_bytes()
        mine = profiled([*ours, path, str(out)], work, "ours", *marks)
        verdict = same(out.read_bytes(), ref.replace(INFO_70, INFO_71, 1) if renamed else ref)
    finally:
        if renamed:
            Path(renamed).unlink()
    return theirs, mine, verdict


def by_object(profiles: dict[str, Profile]) -> collections.Counter[str]:
    return merged(profiles.values()).by_object


def row(path: str, pyz: Path, mdf: list[str], codec: str, work: Path, workers: int = 1) -> str:
    cmd = command(pyz, work, 31, codec, "--workers", str(workers))
    mdf_profiles, our_profiles, verdict = both(path, mdf, codec, cmd, work)
    theirs, ours = by_object(mdf_profiles), by_object(our_profiles)
    codec_lib = next((k for k in ours if k.startswith("libzstd" if codec == "zstd" else "libz.")), "")

    def split(c: collections.Counter[str], own: str) -> str:
        rest = sum(c.values()) - c[codec_lib] - c[own] - c["libc.so.6"]
        return f"{c[codec_lib] / 1e6:.0f} | {c[own] / 1e6:.0f} | {c['libc.so.6'] / 1e6:.0f} | {rest / 1e6:.0f}"

    total_ours, total_mdf = sum(ours.values()), sum(theirs.values())
    own = next((k for k in ours if k.startswith("python3")), "python3")
    name = Path(path).name.removesuffix(".vmcore")
    return (f"| {name} | {codec} | {total_mdf / 1e6:.0f} | {total_ours / 1e6:.0f} | {total_ours / total_mdf:.3f} | "
            f"{split(theirs, 'makedumpfile')} | {split(ours, own)} | {verdict} |")  # fmt: skip


MDF_CLASSIFY, MDF_PAGES = "exclude_unnecessary_pages", "write_kdump_pages_cyclic"
"""makedumpfile's page classification (called once per pass over the struct pages) and its page loop (read,
zero test, compress, write), by name in its profile: Debian builds it with its symbols."""
ENTRIES = {
    "zstd": (("ZSTD_compressCCtx",), ("ZSTD_compressStream2",)),
    "zlib": (("deflateReset", "deflate"), ("deflateInit2_", "deflate", "deflateEnd")),
}
"""The codec library's functions that makedumpfile, and our codec package, call for each page they compress:
their inclusive costs are the codec's work (with the libc calls it makes: zlib clears its hash table with
memset), and the first one's calls count the pages compressed."""


def stages_row(path: str, pyz: Path, mdf: list[str], codec: str, work: Path) -> str:
    """One dump of each, stage by stage (``--stages``): ours cut at :mod:`stage_marks`' marks, makedumpfile's
    from its functions' inclusive costs."""
    cmd = command(pyz, work, 31, codec)
    at = cmd.index("-c")  # the device's bootstrap, replaced by one that marks the stages
    cmd[at : at + 2] = [str(HERE / "stage_marks.py")]
    theirs, marked, verdict = both(path, mdf, codec, cmd, work, "getppid")
    name = Path(path).name.removesuffix(".vmcore")
    return stage_cells(name, codec, mdf_stages(merged(theirs.values()), ENTRIES[codec][0]), our_stages(marked),
                       codec_work(merged(marked.values()), ENTRIES[codec][1]), verdict)  # fmt: skip


def codec_work(profile: Profile, entries: tuple[str, ...]) -> tuple[int, int]:
    """The instructions of the codec's calls (the inclusive costs of ``entries``), and how many pages it
    compressed (calls of the first)."""
    return sum(profile.inclusive(name) for name in entries), profile.calls_to[entries[0]]


def merged(profiles: Iterable[Profile]) -> Profile:
    """The profiles of several processes as one (a wrapper script's shell and the program it runs)."""
    out = Profile()
    for p in profiles:
        for mine, theirs in zip(out.counters(), p.counters(), strict=True):
            mine.update(theirs)
    return out


def our_stages(profiles: dict[str, Profile]) -> dict[str, collections.Counter[str]]:
    """Instructions by shared object in each stage of :data:`stage_marks.PARTS`: part ``N`` of the profile (file
    ``callgrind.ours.PID.N``) ends at the ``N``-th mark, the last (``callgrind.ours.PID``) at the exit."""
    pids = {name.split(".")[2] for name in profiles}
    numbered = sorted((int(name.split(".")[3]), p) for name, p in profiles.items() if name.count(".") == 3)
    if len(pids) != 1 or [n for n, _ in numbered] != list(range(1, len(PARTS))):
        raise SystemExit(f"the marked dump left the profile files {sorted(profiles)}; expected one process cut "
                         f"into {len(PARTS)} parts ({', '.join(PARTS)})")  # fmt: skip
    final = next(p for name, p in profiles.items() if name.count(".") == 2)
    got: dict[str, collections.Counter[str]] = {stage: collections.Counter() for stage in PARTS}
    for stage, profile in zip(PARTS, [p for _, p in numbered] + [final], strict=True):
        got[stage].update(profile.by_object)
    return got


def mdf_stages(profile: Profile, entries: tuple[str, ...]) -> dict[str, int]:
    """makedumpfile's instructions in the stages that match ours: classification (all passes), the codec, the rest
    of its page loop, everything else; ``passes``, the times it classified the struct pages, and ``calls``, the
    pages it compressed."""
    if not profile.by_function[MDF_PAGES] or not profile.by_function[MDF_CLASSIFY]:
        raise SystemExit(f"makedumpfile's profile does not name {MDF_CLASSIFY} and {MDF_PAGES}: a build with its "
                         "symbols is needed for --stages")  # fmt: skip
    total = sum(profile.by_object.values())
    classify, pages = profile.inclusive(MDF_CLASSIFY), profile.inclusive(MDF_PAGES)
    codec, calls = codec_work(profile, entries)
    return {"classification": classify, "codec": codec, "pages": pages - codec, "else": total - classify - pages,
            "total": total, "passes": profile.calls_to[MDF_CLASSIFY], "calls": calls}  # fmt: skip


def stage_cells(name: str, codec: str, theirs: dict[str, int], ours: dict[str, collections.Counter[str]],
                our_codec: tuple[int, int], verdict: str) -> str:  # fmt: skip
    """A ``--stages`` table row, in millions of instructions, makedumpfile's / ours; ``our_codec``: the codec's
    instructions in our dump and the pages it compressed (:func:`codec_work`)."""

    def m(n: int) -> str:
        return f"{n / 1e6:.1f}"

    codec_ours, calls = our_codec
    pages_rest = sum(ours["pages"].values()) - codec_ours
    start = sum(ours["start"].values())
    rest = start + sum(sum(ours[s].values()) for s in ("plan", "end"))
    total = sum(sum(c.values()) for c in ours.values())
    return (f"| {name} | {codec} | {m(theirs['classification'])} ({theirs['passes']} passes) / "
            f"{m(sum(ours['classification'].values()))} | {m(sum(ours['hold-back'].values()))} | "
            f"{m(theirs['codec'])} / {m(codec_ours)} | {m(theirs['pages'])} / {m(pages_rest)} | "
            f"{theirs['calls']} / {calls} | "
            f"{m(theirs['else'])} / {m(rest)} (start {m(start)}) | {m(theirs['total'])} / {m(total)} | "
            f"{total / theirs['total']:.3f} | {verdict} |")  # fmt: skip


STAGES_HEAD = (
    "| vmcore | codec | classification | kernel-image hold-back (ours) | pages: the codec | pages: the rest |"
    " pages compressed | everything else | total | ratio | bytes from block 1 |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("vmcores", nargs="+")
    p.add_argument("--codec", choices=("zlib", "zstd"), default="zstd")
    p.add_argument("--mdf", default="sh bench/dump/sid-makedumpfile.sh", help="a makedumpfile with -z (1.7.8)")
    p.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    p.add_argument("--workers", type=int, default=1, help="our dump with this many workers (default 1)")
    p.add_argument("--stages", action="store_true", help="each dump stage by stage, one worker (see above)")
    args = p.parse_args()
    if args.stages and args.workers != 1:
        print("--stages counts a dump with one worker")
        return 2
    missing = [tool for tool in ("valgrind",) if shutil.which(tool) is None]
    if missing:
        print(f"{' and '.join(missing)} not found: install Debian's valgrind package (apt-get install valgrind)")
        return 2
    absent = [path for path in args.vmcores if not Path(path).is_file()]
    if absent:
        print(f"no such vmcore: {', '.join(absent)} (bench/dump/workload_vmcores.py captures them)")
        return 2
    mdf = shlex.split(args.mdf)
    if args.stages:
        print(STAGES_HEAD)
    else:
        print("| vmcore | codec | mdf M instr. | ours M instr. | ratio | mdf: codec | makedumpfile | libc | rest | "
              "ours: codec | python3 | libc | rest | bytes from block 1 |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        work = Path(tmp)
        pyz = work / "dump.pyz"
        subprocess.run([args.python, "-m", "layoutc.dump", "--build-zipapp", str(pyz)], check=True, cwd=ROOT,
                       capture_output=True)  # fmt: skip
        for path in args.vmcores:
            if args.stages:
                print(stages_row(path, pyz, mdf, args.codec, work), flush=True)
            else:
                print(row(path, pyz, mdf, args.codec, work, args.workers), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
