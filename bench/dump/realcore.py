#!/usr/bin/env python3
"""Our page classes against makedumpfile's on a real vmcore, with the vmcore's own ground truth.

For each dump level, runs ``layoutc dump`` and makedumpfile (``-c``) on the same vmcore, compares
bitmap 2 page by page and explains every page the two disagree on from the crashed kernel's own
struct page (flags, tail word, mapping, _mapcount) and, for a tail, from its head page.

    python3 bench/dump/realcore.py .cache/lab/vmcores/7.2*.vmcore --mdf "sh bench/dump/sid-makedumpfile.sh"
"""

from __future__ import annotations

import argparse
import shlex
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests" / "dump")]

import kdump_layout  # noqa: E402

from layoutc.dump.classify import pageclass  # noqa: E402
from layoutc.dump.read import elf_input as elf  # noqa: E402
from layoutc.dump.read import physmap  # noqa: E402
from layoutc.dump.read import vmcore_source as source  # noqa: E402
from layoutc.dump.read.pagetable import PageTable  # noqa: E402
from layoutc.dump.read.vmcoreinfo import VmcoreInfo  # noqa: E402

U64 = struct.Struct("<Q")
S32 = struct.Struct("<i")


@dataclass
class Truth:
    """Reads struct pages of the crashed kernel (through its page tables)."""

    info: VmcoreInfo
    memmap: pageclass.MemMap
    layout: pageclass.StructPageLayout

    @classmethod
    def open(cls, path: str) -> tuple[Truth, source.FileReader, list[tuple[int, int]]]:
        reader = source.FileReader(path)
        core = elf.parse(reader, path)
        pmap = physmap.build(core.loads, 4096)
        info = VmcoreInfo(core.vmcoreinfo)
        table = PageTable.from_vmcoreinfo(info, physmap.PhysReader(pmap, reader).read)
        assert table is not None, "no page tables in VMCOREINFO"
        size, flags = info.size("page"), info.offset("page.flags")
        assert size is not None and flags is not None
        return (
            cls(info, pageclass.MemMap(info, table, 4096, size),
                pageclass.StructPageLayout.from_info(info, size, flags)),
            reader,
            pmap.present,
        )

    def va(self, pfn: int) -> int | None:
        base = self.memmap.section_base(pfn // self.memmap.pages_per_section)
        return None if base is None else base + pfn * self.layout.size

    def page(self, va: int) -> dict[str, int] | None:
        raw = self.memmap.table.read(va, self.layout.size)
        if raw is None:
            return None
        lay = self.layout
        out = {"flags": U64.unpack_from(raw, lay.flags)[0]}
        for name, off in (("tail_word", lay.compound_head), ("mapping", lay.mapping), ("private", lay.private)):
            if off is not None:
                out[name] = U64.unpack_from(raw, off)[0]
        if lay.mapcount is not None:
            out["mapcount"] = S32.unpack_from(raw, lay.mapcount)[0]
        return out

    def explain(self, pfn: int) -> str:
        """One line of ground truth for ``pfn``: its struct page, and its head's when it is a tail."""
        va = self.va(pfn)
        page = None if va is None else self.page(va)
        if va is None or page is None:
            return f"{pfn:#x}: struct page unreadable"
        text = f"{pfn:#x}: " + " ".join(f"{k}={v:#x}" for k, v in page.items())
        word = page.get("tail_word", 0)
        if word & 1:
            # Linux 7.1+ with a power-of-2 struct page under VMEMMAP: mask | 1; else head | 1.
            head_va = va & word if word >> 63 and word & ~1 != 0 else word - 1
            head = self.page(head_va)
            head_pfn = (head_va - (va - pfn * self.layout.size)) // self.layout.size
            text += f" | tail of {head_pfn:#x}: " + (
                " ".join(f"{k}={v:#x}" for k, v in head.items()) if head else "unreadable"
            )
        return text


def run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise SystemExit(f"{shlex.join(cmd)}: exit {proc.returncode}: {proc.stderr.decode()[-2000:]}")


def compare(vmcore: str, mdf: list[str], level: int, workdir: str, python: str) -> tuple[set[int], set[int]]:
    """(pages only we keep, pages only makedumpfile keeps) at ``level``."""
    ours, theirs = f"{workdir}/ours-{level}", f"{workdir}/theirs-{level}"
    run([python, "-m", "layoutc.dump", "--quiet", "--dump-level", str(level), vmcore, ours])
    run([*mdf, "-c", "-d", str(level), vmcore, theirs])
    a, b = kdump_layout.read(ours), kdump_layout.read(theirs)
    sa, sb = set(a.dumped), set(b.dumped)
    return sa - sb, sb - sa


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("vmcore")
    p.add_argument("--mdf", default="makedumpfile", help="makedumpfile command")
    p.add_argument("--levels", default="1,17,11,31")
    p.add_argument("--show", type=int, default=8, help="differing pages to explain per level")
    p.add_argument("--python", default=sys.executable)
    args = p.parse_args()
    truth, reader, _ = Truth.open(args.vmcore)
    with tempfile.TemporaryDirectory(dir="/var/tmp") as work:
        for level in (int(x) for x in args.levels.split(",")):
            only_ours, only_theirs = compare(args.vmcore, shlex.split(args.mdf), level, work, args.python)
            print(f"-d {level}: only ours keep {len(only_ours)}, only makedumpfile keeps {len(only_theirs)}")
            for label, pfns in (("kept only by us", only_ours), ("kept only by makedumpfile", only_theirs)):
                for pfn in sorted(pfns)[: args.show]:
                    print(f"  {label}: {truth.explain(pfn)}")
    reader.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
