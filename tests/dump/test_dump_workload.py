"""The dumper on a busy guest's vmcore (marker ``lab``), run as ``capture.sh`` runs it on a device.

The vmcores are 3 GiB Debian 6.1 and 7.x guests under the ``mixed`` workload (page cache, tmpfs, anonymous
memory with THP on 7.x, slab): :mod:`layoutc.lab.workload` captures one when the lab cache has none (about
90 s each under TCG). On them, at ``-d 31``:

- the crash zipapp under ``python3 -I -S`` with a filter spec, zlib and zstd, one and two workers, writes
  makedumpfile 1.7.8's file byte for byte from block 1 on (block 0 holds the utsname and the time). On 7.1+
  1.7.8 reads a copy whose VMCOREINFO names the tail word the 7.0 way, which is all its fix f50c015 changes
  (as in ``test_dump_realcore``); the entry is named back in its output before comparing;
- the summary line's per-class counts are makedumpfile's report, in the kdump and ELF formats;
- plain 1.7.8 drops only first tail pages of compound pages we keep (7.1+), none on 6.1;
- drgn walks the task list of our dump as it walks the vmcore's.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import kdump_layout
import pytest
from test_dump_realcore import INFO_70, INFO_71, SID_MDF, SID_SH, Core, renamed_copy

from conftest import need, need_module
from layoutc.dump import extents
from layoutc.dump.classify import pageclass
from layoutc.dump.read import elf_input as elf
from layoutc.dump.write import elf_output as elfout
from layoutc.dump.zipapp import CRASH, RUNNER, build
from layoutc.lab import workload as busy
from layoutc.lab.image import kernels, pyrt
from layoutc.lab.system.kdump_tasks import walk_tasks

pytestmark = pytest.mark.lab

WORKLOAD = "mixed"
BLOCK = PS = 4096
REPORT = {  # makedumpfile --message-level 31 report lines → our summary's reasons, in its order
    "Pages filled with zero": "zero",
    "Non-private cache pages": "cache",
    "Private cache pages": "cache_private",
    "User process data pages": "user",
    "Free pages": "free",
    "Hwpoison pages": "hwpoison",
    "Offline pages": "offline",
}
FLAGS = {"zlib": "-c", "zstd": "-z"}


class Busy:
    """A workload vmcore, the crash zipapp, and makedumpfile's outputs and reports, made once each."""

    def __init__(self, core: Core, pyz: Path, work: Path) -> None:
        self.core, self.pyz, self.work = core, pyz, work
        self.renamed = "OFFSET(page.compound_info)" in core.raw_info
        self._theirs: dict[tuple[str, str], tuple[bytes, str]] = {}

    def theirs(self, codec: str, fmt: str = "kdump", *, f50c015: bool = True) -> tuple[bytes, str]:
        """makedumpfile 1.7.8's ``-d 31`` output (the VMCOREINFO entry named back) and its report."""
        key = (codec if fmt == "kdump" else fmt, "f50c015" if f50c015 else "plain")
        if key not in self._theirs:
            src = renamed_copy(self.core, self.work) if f50c015 and self.renamed else self.core.path
            out = self.work / "theirs"
            flags = [FLAGS[codec]] if fmt == "kdump" else ["-E"]
            cmd = ["sh", str(SID_SH), "--message-level", "31", *flags, "-d", "31", str(src), str(out)]
            proc = subprocess.run(cmd, capture_output=True, timeout=600)
            assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
            data = out.read_bytes()
            out.unlink()
            if src != self.core.path:
                data = data.replace(INFO_70, INFO_71, 1)
            self._theirs[key] = (data, proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace"))
        return self._theirs[key]

    def ours(self, codec: str, workers: int = 1, fmt: str = "kdump") -> tuple[bytes, str]:
        """The zipapp's output as capture.sh runs it (a filter spec, ``python3 -I -S -c``), and its summary line."""
        spec = self.work / f"filter-{codec}-{fmt}.json"
        spec.write_text(f'{{"schema_version": 1, "dump_level": 31, "compression": "{codec}", "format": "{fmt}"}}')
        out = self.work / "ours"
        cmd = [str(pyrt.PYTHON), *RUNNER[1:], str(self.pyz), "--spec", str(spec), "--workers", str(workers)]
        proc = subprocess.run([*cmd, str(self.core.path), str(out)], capture_output=True, text=True, timeout=600,
                              env={"PATH": "/usr/bin:/bin"}, cwd="/")  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        data = out.read_bytes()
        out.unlink()
        return data, proc.stderr.strip().splitlines()[-1]


def workload_vmcore(series: str) -> Path:
    """The lab cache's ``mixed`` vmcore of Debian ``series``, captured when missing."""
    path = busy.vmcore_path(kernels.ensure_kernel(series).release, WORKLOAD)
    if not path.is_file():
        got = busy.capture(series, WORKLOAD, timeout=900)
        tail = got.serial_log.read_text(errors="replace")[-1500:] if got.serial_log.is_file() else ""
        assert got.vmcore is not None, (
            f"no {series} {WORKLOAD} vmcore after {got.seconds:.0f} s:\n{tail}\n{got.qemu_stderr}"
        )
    return path


@pytest.fixture(scope="module", params=["6.1", "7"])
def vmcore(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    need(SID_MDF.exists(), "sid's makedumpfile 1.7.8 (sh bench/dump/sid-makedumpfile.sh -v)")
    need(pyrt.PYTHON.is_file(), "Debian's python3, as a device runs the dumper")
    core = Core(workload_vmcore(request.param))
    work = tmp_path_factory.mktemp(f"busy-{request.param}")
    pyz = work / "dump.pyz"
    build(str(pyz), CRASH)
    yield Busy(core, pyz, work)
    core.reader.close()


def first_difference(ours: bytes, theirs: bytes) -> str:
    at = next((i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), min(len(ours), len(theirs)))
    return f"sizes {len(ours)} and {len(theirs)}, first difference at byte {at}"


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("codec", ["zlib", "zstd"])
def test_device_dump_equals_makedumpfile_from_block_1(vmcore: Busy, codec: str, workers: int) -> None:
    ours, _ = vmcore.ours(codec, workers)
    theirs, _ = vmcore.theirs(codec)
    assert ours[BLOCK:] == theirs[BLOCK:], first_difference(ours, theirs)


def image_overlap(core: Core) -> tuple[int, int]:
    """The pfns of the kernel image's PT_LOAD, which System RAM's covers too."""
    loads = elf.parse(core.reader, str(core.path)).loads
    image = [ph for ph in loads if ph.p_vaddr >= elfout.KERNEL_MAP]
    assert len(image) == 1
    return image[0].p_paddr // PS, (image[0].p_paddr + image[0].p_memsz) // PS


def overlap_classes(core: Core) -> dict[str, int]:
    """Per class, the pages of the overlap that ``-d 31`` excludes (zero pages read from the vmcore)."""
    start, end = image_overlap(core)
    excluded, _, _ = pageclass.for_dump(core.raw_info, core.read_phys, core.pmap.present, PS, 31)
    counts = {c: extents.count(extents.intersect(p, [(start, end)])) for c, p in excluded.items()}
    left = extents.subtract([(start, end)], extents.normalize(e for p in excluded.values() for e in p))
    counts["zero"] = sum(core.read_phys(pfn * PS, PS) == bytes(PS) for a, b in left for pfn in range(a, b))
    return counts


def report(text: str, label: str) -> int:
    m = re.search(rf"{label}\s*: 0x([0-9a-f]+)", text)
    assert m, f"no '{label}' in makedumpfile's report"
    return int(m.group(1), 16)


def classes(text: str) -> dict[str, int]:
    return {reason: report(text, label) for label, reason in REPORT.items()}


@pytest.mark.parametrize("fmt", ["kdump", "elf"])
def test_summary_counts_equal_makedumpfile_report(vmcore: Busy, fmt: str) -> None:
    # Per class, the kdump report of makedumpfile in both formats. Its "Original pages" and "Remaining pages"
    # count the kernel image's pages twice (its PT_LOAD lies inside System RAM's); in ELF output it also keeps a
    # PT_LOAD's partial last page, and so do we (PhysMap.short_ends).
    _, line = vmcore.ours("zlib" if fmt == "kdump" else "none", fmt=fmt)
    _, text = vmcore.theirs("zlib", fmt)
    start, end = image_overlap(vmcore.core)
    counts = classes(vmcore.theirs("zlib")[1])
    excluded = ", ".join(f"{reason} {n}" for reason, n in counts.items() if n)
    present = report(text, "Original pages") - (end - start)
    assert counts["zero"] and counts["cache"] and counts["user"] and counts["free"]
    kept = present - sum(counts.values())
    assert re.sub(r"; \d+ bytes$", "", line) == f"layoutc dump: {kept} of {present} pages kept (excluded: {excluded})"


def test_makedumpfile_elf_report_counts_the_kernel_image_twice(vmcore: Busy) -> None:
    # Its ELF output carries the kernel image's PT_LOAD beside System RAM's, filtered page by page like RAM, and
    # its report counts that segment's excluded pages in their classes a second time; ours carries each page once.
    elf_counts, kdump_counts = classes(vmcore.theirs("zlib", "elf")[1]), classes(vmcore.theirs("zlib")[1])
    again = overlap_classes(vmcore.core)
    assert {c: elf_counts[c] - kdump_counts[c] for c in elf_counts} == {c: again.get(c, 0) for c in elf_counts}


def test_plain_178_drops_only_first_tail_pages_we_keep(vmcore: Busy) -> None:
    ours, _ = vmcore.ours("zstd")
    theirs, _ = vmcore.theirs("zstd", f50c015=False)
    (vmcore.work / "a").write_bytes(ours)
    (vmcore.work / "b").write_bytes(theirs)
    a, b = kdump_layout.read(str(vmcore.work / "a")), kdump_layout.read(str(vmcore.work / "b"))
    only_ours, only_theirs = set(a.dumped) - set(b.dumped), set(b.dumped) - set(a.dumped)
    assert not only_theirs
    if not vmcore.renamed:
        assert not only_ours  # 6.x: 1.7.8 reads OFFSET(page.compound_head)
        return
    assert only_ours, "1.7.8 without f50c015 drops first tail pages of slab and large kmalloc on 7.1+"
    assert all(vmcore.core.is_tail(p) for p in only_ours)


def test_drgn_walks_the_tasks_of_our_dump(vmcore: Busy) -> None:
    drgn: Any = need_module("drgn")
    ours, _ = vmcore.ours("zstd")
    out = vmcore.work / "ours-drgn"
    out.write_bytes(ours)
    walked = []
    for path in (vmcore.core.path, out):
        prog = drgn.Program()
        prog.set_core_dump(str(path))
        walked.append(walk_tasks(prog))
    assert len(walked[1]) > 20 and walked[1] == walked[0]
