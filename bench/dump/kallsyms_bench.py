#!/usr/bin/env python3
"""CPU of the kernel-image section lookup (docs/dumper.md, "The idt_table page"), search against walk.

    python3 bench/dump/kallsyms_bench.py .cache/lab/vmcores/*.vmcore --repeat 7

For each vmcore and each of ``--repeat`` rounds, interleaved: ``kallsyms.keep_pfns`` (page table
built afresh, kallsyms looked up, sections translated: what a dump pays) and ``kallsyms.lookup``
alone (fresh page table), once with the binary search of ``kallsyms_seqs_of_names`` and once with
it turned off (the walk of every record).  Process time; median and min-max of the rounds, in ms.
Also checks that both ways find the same addresses.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from layoutc.dump.read import elf_input as elf  # noqa: E402
from layoutc.dump.read import kallsyms, kallsyms_seqs, physmap  # noqa: E402
from layoutc.dump.read import vmcore_source as source  # noqa: E402
from layoutc.dump.read.pagetable import PageTable  # noqa: E402
from layoutc.dump.read.vmcoreinfo import VmcoreInfo  # noqa: E402

SEARCH = kallsyms_seqs.search


def cpu_ms(fn: Callable[[], object]) -> float:
    start = time.process_time()
    fn()
    return (time.process_time() - start) * 1e3


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def bench(path: str, repeat: int) -> None:
    reader = source.FileReader(path)
    core = elf.parse(reader, path)
    read = physmap.PhysReader(physmap.build(core.loads, core.page_size), reader).read
    info = VmcoreInfo(core.vmcoreinfo)

    def lookup() -> dict[str, int]:
        table = PageTable.from_vmcoreinfo(info, read)
        assert table is not None
        return kallsyms.lookup(info, table.read)

    def keep() -> object:
        return kallsyms.keep_pfns(core.vmcoreinfo, read, core.page_size)

    times: dict[str, list[float]] = {k: [] for k in ("keep walk", "keep search", "lookup walk", "lookup search")}
    kallsyms_seqs.search = lambda *args: None  # type: ignore[assignment]
    walked = lookup()
    kallsyms_seqs.search = SEARCH
    searched = lookup()
    declined = _declines(info, read)
    for _ in range(repeat):
        for way in ("walk", "search"):
            kallsyms_seqs.search = SEARCH if way == "search" else (lambda *args: None)  # type: ignore[assignment]
            times[f"keep {way}"].append(cpu_ms(keep))
            times[f"lookup {way}"].append(cpu_ms(lookup))
    kallsyms_seqs.search = SEARCH
    same = "same addresses" if searched == walked else f"DIFFERENT: {searched} against {walked}"
    print(f"{Path(path).name}: {same}; {'the search declines, walked' if declined else 'searched'}")
    for key, values in times.items():
        print(f"  {key:15} {summary(values)} ms")
    reader.close()


def _declines(info: VmcoreInfo, read: Callable[[int, int], bytes | None]) -> bool:
    """Whether the search declines this table (the walk then runs)."""
    table = PageTable.from_vmcoreinfo(info, read)
    assert table is not None
    calls: list[object] = []

    def spy(*args: object) -> dict[str, int] | None:
        got = SEARCH(*args)  # type: ignore[arg-type]
        calls.append(got)
        return got

    kallsyms_seqs.search = spy  # type: ignore[assignment]
    try:
        kallsyms.lookup(info, table.read)
    finally:
        kallsyms_seqs.search = SEARCH
    return calls == [None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("vmcores", nargs="+")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    for path in args.vmcores:
        bench(path, args.repeat)


if __name__ == "__main__":
    main()
