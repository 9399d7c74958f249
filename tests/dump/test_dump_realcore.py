"""Page classes on real vmcores kept by the lab (marker ``lab``).

The vmcores are Debian 6.1 and 7.x guests' ``/proc/vmcore`` saved by ``layoutc lab ... --stage full
--keep-vmcore`` under ``.cache/lab/vmcores/`` (never committed); a missing one is built through
the lab (1-2 minutes under TCG).  The oracle is sid's makedumpfile 1.7.8.  On 7.1+ kernels 1.7.8
lacks f50c015 (VMCOREINFO names the tail word ``compound_info`` there), so it also runs on a
sparse copy of the vmcore whose VMCOREINFO names that entry ``compound_head`` — all f50c015
changes — and that run must agree with ours page for page and class by class.  Plain 1.7.8 must
differ only on tail pages, which the vmcore's own struct pages show to be tails of compound pages
that are kept (slab), so ours is right there.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import kdump_layout
import pytest

from conftest import SRC, need, need_module, run_dump
from layoutc.dump.classify import pageclass
from layoutc.dump.read import elf_input as elf
from layoutc.dump.read import physmap
from layoutc.dump.read import vmcore_source as source
from layoutc.dump.read.pagetable import PageTable
from layoutc.dump.read.vmcoreinfo import VmcoreInfo

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
SID_SH = ROOT / "bench" / "dump" / "sid-makedumpfile.sh"
SID_MDF = Path(os.environ.get("SID_DIR", "/var/tmp/layoutc-sid")) / "mdf" / "usr" / "bin" / "makedumpfile"
LEVELS = [1, 17, 11, 31]
PS = 4096
# makedumpfile --message-level 31 report lines → our class names
REPORT = {
    "Non-private cache pages": "cache",
    "Private cache pages": "cache_private",
    "User process data pages": "user",
    "Free pages": "free",
    "Hwpoison pages": "hwpoison",
    "Offline pages": "offline",
}


def cache_dir() -> Path:
    env = os.environ.get("LAYOUTC_LAB_CACHE")
    return Path(env) if env else ROOT / ".cache" / "lab"


def kept_vmcore(series: str, tmp: Path) -> Path:
    """The lab's kept vmcore of Debian ``series`` (6.1 or 7) on qemu-4g; built through the lab if missing."""
    pattern = f"{'6.1' if series == '6.1' else '7'}.*-qemu-4g*.vmcore"

    def found() -> Path | None:
        # the plain qemu-4g board (not the CMA variant, not the lab's negative-control fixture)
        hits = sorted(p for p in (cache_dir() / "vmcores").glob(pattern) if not re.search(r"-(cma|top)\b", p.name))
        return hits[-1] if hits else None

    if found() is None:
        argv = [sys.executable, "-m", "layoutc.cli.main", "lab", str(ROOT / "profiles" / "qemu" / "qemu-4g.yaml")]
        argv += ["--stage", "full", "--debian", series, "--keep-vmcore", "-o", str(tmp / "lab")]
        subprocess.run(argv, capture_output=True, timeout=1800, env=dict(os.environ, PYTHONPATH=str(SRC)))
    path = found()
    need(path is not None, f"a kept {series} vmcore (layoutc lab profiles/qemu/qemu-4g.yaml --keep-vmcore)")
    assert path is not None
    return path


class Core:
    """The vmcore, its VMCOREINFO and its struct pages (ground truth)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.work = Path(tempfile.gettempdir())  # the fixture gives each vmcore its own directory
        self.reader = source.FileReader(str(path))
        core = elf.parse(self.reader, str(path))
        self.raw_info = core.vmcoreinfo
        self.info = VmcoreInfo(core.vmcoreinfo)
        self.pmap = physmap.build(core.loads, PS)
        self.read_phys = physmap.PhysReader(self.pmap, self.reader).read
        table = PageTable.from_vmcoreinfo(self.info, self.read_phys)
        assert table is not None
        size = self.info.size("page")
        assert size is not None
        self.memmap = pageclass.MemMap(self.info, table, PS, size)
        self.tail_off = pageclass.tail_word_offset(self.info)

    def is_tail(self, pfn: int) -> bool:
        base = self.memmap.section_base(pfn // self.memmap.pages_per_section)
        assert base is not None and self.tail_off is not None
        raw = self.memmap.table.read(base + pfn * self.memmap.struct_size + self.tail_off, 8)
        assert raw is not None
        return bool(raw[0] & 1)


@pytest.fixture(scope="module", params=["6.1", "7"])
def core(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    if not SID_MDF.exists():
        need(False, "sid's makedumpfile 1.7.8 (sh bench/dump/sid-makedumpfile.sh -v)")
    c = Core(kept_vmcore(request.param, tmp_path_factory.mktemp("lab")))
    c.work = tmp_path_factory.mktemp("copy")
    yield c
    c.reader.close()


INFO_71, INFO_70 = b"OFFSET(page.compound_info)=", b"OFFSET(page.compound_head)="


def renamed_copy(core: Core, tmp: Path) -> Path:
    """A sparse copy of the vmcore whose VMCOREINFO names the tail word compound_head (same length)."""
    dest = tmp / "vmcore-f50c015"
    if not dest.exists():
        subprocess.run(["cp", "--sparse=always", str(core.path), str(dest)], check=True)
        with dest.open("r+b") as fh:
            head = fh.read(1 << 20)  # ELF header, program headers and the notes
            at = head.find(INFO_71)
            assert at > 0 and head.count(INFO_71) == 1
            fh.seek(at)
            fh.write(INFO_70)
    return dest


def makedumpfile(core: Core, level: int, out: Path, *, f50c015: bool = True) -> dict[str, int]:
    """Run 1.7.8 at ``level``; the per-class counts of its report.

    With ``f50c015`` on a 7.1+ vmcore it reads a copy whose VMCOREINFO entry is renamed, which is
    all makedumpfile's f50c015 changes.
    """
    cmd = ["sh", str(SID_SH), "--message-level", "31", "-c", "-d", str(level)]
    src = core.path
    if f50c015 and "OFFSET(page.compound_info)" in core.raw_info:
        src = renamed_copy(core, core.work)
    proc = subprocess.run([*cmd, str(src), str(out)], capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    text = proc.stdout.decode() + proc.stderr.decode()
    counts = {}
    for label, name in REPORT.items():
        m = re.search(rf"{label}\s*:\s*0x([0-9a-f]+)", text)
        assert m, f"no '{label}' in makedumpfile's report"
        counts[name] = int(m.group(1), 16)
    return counts


def ours(core: Core, level: int, out: Path) -> dict[str, int]:
    """Run ``layoutc dump`` at ``level``; our per-class counts (present pages only)."""
    proc = run_dump("--dump-level", str(level), str(core.path), str(out))
    assert proc.returncode == 0, proc.stderr.decode()
    excluded, applied, notes = pageclass.for_dump(core.raw_info, core.read_phys, core.pmap.present, PS, level)
    assert applied == level and notes == [], notes
    return {c: sum(e - s for s, e in excluded.get(c, [])) for c in REPORT.values()}


@pytest.mark.parametrize("level", LEVELS)
def test_kept_pages_equal_makedumpfile_178_class_by_class(core: Core, tmp_path: Path, level: int) -> None:
    theirs_counts = makedumpfile(core, level, tmp_path / "theirs")
    our_counts = ours(core, level, tmp_path / "ours")
    assert our_counts == theirs_counts
    a, b = kdump_layout.read(str(tmp_path / "ours")), kdump_layout.read(str(tmp_path / "theirs"))
    assert a.bitmap1 == b.bitmap1
    only_ours, only_theirs = set(a.dumped) - set(b.dumped), set(b.dumped) - set(a.dumped)
    assert (len(only_ours), len(only_theirs)) == (0, 0), (sorted(only_ours)[:8], sorted(only_theirs)[:8])


def test_plain_178_differs_only_on_tail_pages_it_misses(core: Core, tmp_path: Path) -> None:
    # Without f50c015, 1.7.8 cannot see OFFSET(page.compound_info): it classifies tail pages on
    # their own words and drops those whose mapping slot looks anonymous. The struct pages say
    # every such page is a tail, whose compound head we classify (slab heads: kept).
    makedumpfile(core, 31, tmp_path / "theirs", f50c015=False)
    ours(core, 31, tmp_path / "ours")
    a, b = kdump_layout.read(str(tmp_path / "ours")), kdump_layout.read(str(tmp_path / "theirs"))
    only_ours, only_theirs = set(a.dumped) - set(b.dumped), set(b.dumped) - set(a.dumped)
    assert not only_theirs
    if "OFFSET(page.compound_info)" not in core.raw_info:
        assert not only_ours  # 6.x: 1.7.8 reads OFFSET(page.compound_head)
        return
    assert only_ours, "1.7.8 without f50c015 is expected to drop some tail pages on 7.1+"
    assert all(core.is_tail(p) for p in only_ours)


def test_drgn_reads_our_dump(core: Core, tmp_path: Path) -> None:
    drgn: Any = need_module("drgn")
    out = tmp_path / "ours"
    assert run_dump("--dump-level", "31", "--compress", "zstd", str(core.path), str(out)).returncode == 0
    prog = drgn.Program()
    prog.set_core_dump(str(out))
    uts_addr = core.info.symbol("init_uts_ns")
    assert uts_addr is not None
    uts = bytes(prog.read(uts_addr + (core.info.offset("uts_namespace.name") or 0), 65 * 6, False))
    fields = [uts[i * 65 : (i + 1) * 65].split(b"\0")[0] for i in range(6)]
    assert fields[0] == b"Linux" and fields[2].decode() == core.info.osrelease
    assert fields[4] == b"x86_64"
    kept = kdump_layout.read(str(out)).dumped
    step = max(1, len(kept) // 300)
    for pfn in kept[::step]:
        assert bytes(prog.read(pfn * PS, PS, True)) == core.read_phys(pfn * PS, PS), hex(pfn)
