"""Page classes by dump level on a synthetic 6.1 kernel image, against makedumpfile."""

from __future__ import annotations

import copy
import os
import subprocess
from pathlib import Path
from typing import Any

import kdump_layout
import kernel_fixture
import pytest
import vmcore_fixtures as fixtures

from conftest import SRC, need_module, need_tool, run_dump
from layoutc.dump import extents
from layoutc.dump.classify import pagebatch, pageclass
from layoutc.dump.read import elf_input as elf
from layoutc.dump.read import physmap
from layoutc.dump.read import vmcore_source as source
from layoutc.dump.read.elf_input import parse_vmcoreinfo
from layoutc.dump.read.pagetable import PageTable
from layoutc.dump.read.vmcoreinfo import VmcoreInfo

PS = fixtures.PS
LEVELS = [1, 2, 4, 8, 16, 11, 17, 31]


GENERATIONS = ["6.1", "6.12", "7.1"]
SID_MDF = Path(os.environ.get("SID_DIR", "/var/tmp/layoutc-sid")) / "mdf" / "usr" / "bin" / "makedumpfile"


@pytest.fixture(scope="module", params=GENERATIONS)
def kernel(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[kernel_fixture.Kernel, fixtures.Fixture, str]:
    kern = kernel_fixture.Kernel(request.param)
    fx = kern.fixture()
    return kern, fx, fx.write(str(tmp_path_factory.mktemp("kernel") / "vmcore"))


def with_info(fx: fixtures.Fixture, drop: tuple[str, ...], path: str) -> str:
    assert fx.vmcoreinfo is not None
    lines = [ln for ln in fx.vmcoreinfo.splitlines() if not ln.startswith(drop)]
    fx.vmcoreinfo = "\n".join(lines) + "\n"
    return fx.write(path)


def test_page_table_walk(kernel: Any) -> None:
    _, _, path = kernel
    reader = source.FileReader(path)
    try:
        core = elf.parse(reader, path)
        pmap = physmap.build(core.loads, PS)
        table = PageTable.from_vmcoreinfo(VmcoreInfo(core.vmcoreinfo), physmap.PhysReader(pmap, reader).read)
        assert table is not None
        assert table.translate(kernel_fixture.PAGE_OFFSET + 0x1234567) == 0x1234567
        assert table.translate(kernel_fixture.KERNEL_MAP + kernel_fixture.UTS) == kernel_fixture.UTS
        assert table.translate(kernel_fixture.VMEMMAP + 64 * 0xC00) == kernel_fixture.MEMMAP + 64 * 0xC00
        assert table.translate(kernel_fixture.VMEMMAP + (4 << 20)) is None  # beyond the 2 MiB mapping
        assert table.translate(0xFFFFC90000000000) is None  # vmalloc: not mapped here
        uts = table.read(kernel_fixture.KERNEL_MAP + kernel_fixture.UTS + 65 * 2, 16)
        assert uts is not None and uts.startswith(kernel[0].fixture_release)
    finally:
        reader.close()


@pytest.mark.parametrize("level", LEVELS)
def test_kept_pages_match_ground_truth(kernel: Any, tmp_path: Path, level: int) -> None:
    kern, fx, path = kernel
    out = tmp_path / "out"
    proc = run_dump("--dump-level", str(level), path, str(out))
    assert proc.returncode == 0, proc.stderr.decode()
    kd = kdump_layout.read(str(out))
    assert set(kd.dumped) == kern.kept(fx, level)
    assert kd.sub[1] == level


def oracle(
    kern: kernel_fixture.Kernel, fx: fixtures.Fixture, path: str, tmp_path: Path
) -> tuple[list[str], str] | None:
    """The makedumpfile command that is the oracle for ``kern`` and the file to give it; None when
    it is not fetched.

    Debian 12's 1.7.2 predates folios: it keeps THP and hugetlb tails on 6.12 (docs/reference/dump-formats.md §4),
    so sid's 1.7.8 is the oracle there. 1.7.8 predates f50c015 ("Fix wrong exclusion of compound
    tail pages on Linux 7.1 and later"), which only makes it read OFFSET(page.compound_info) as
    OFFSET(page.compound_head); on 7.1 it gets exactly that from a copy of the fixture whose
    VMCOREINFO names the entry compound_head (same length: the files then differ only in those
    bytes). The generator's ground truth is checked in any case.
    """
    if not kern.new:
        return [need_tool("makedumpfile")], path
    if not SID_MDF.exists():
        return None
    cmd = ["sh", str(Path(__file__).resolve().parents[2] / "bench" / "dump" / "sid-makedumpfile.sh")]
    if kern.compound_info:
        assert fx.vmcoreinfo is not None
        renamed = copy.copy(fx)
        renamed.vmcoreinfo = fx.vmcoreinfo.replace(INFO_71, INFO_70)
        path = renamed.write(str(tmp_path / "vmcore-f50c015"))
    return cmd, path


def same_dump(theirs: bytes, ours: bytes) -> bool:
    """Byte-identical, up to the VMCOREINFO entry the 7.1 oracle's source had renamed."""
    if INFO_71.encode() in ours:
        theirs = theirs.replace(INFO_70.encode(), INFO_71.encode())
    return theirs == ours


INFO_70, INFO_71 = "OFFSET(page.compound_head)=", "OFFSET(page.compound_info)="


@pytest.mark.tools
@pytest.mark.parametrize("level", [1, 17, 11, 31])
def test_identical_to_makedumpfile(kernel: Any, tmp_path: Path, level: int) -> None:
    kern, fx, path = kernel
    found = oracle(kern, fx, path, tmp_path)
    if found is None:
        pytest.skip("sid's makedumpfile 1.7.8 is not fetched (sh bench/dump/sid-makedumpfile.sh -v)")
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    cmd, src = found
    proc = subprocess.run([*cmd, "-c", "-d", str(level), src, str(theirs)], capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    assert run_dump("--dump-level", str(level), path, str(ours)).returncode == 0
    a, b = kdump_layout.read(str(theirs)), kdump_layout.read(str(ours))
    assert a.bitmap2 == b.bitmap2
    assert b.utsname[:5] == (b"Linux", b"synthetic", kern.fixture_release, b"#1 SMP PREEMPT_DYNAMIC", b"x86_64")
    # Byte for byte, header included: utsname read from init_uts_ns, timestamp from CRASHTIME.
    assert same_dump(a.raw, b.raw)


@pytest.mark.tools
def test_readers_read_every_kept_page_at_level_31(kernel: Any, tmp_path: Path) -> None:
    drgn: Any = need_module("drgn")
    kdumpfile: Any = need_module("kdumpfile")
    kern, fx, path = kernel
    out = tmp_path / "out"
    assert run_dump("--dump-level", "31", "--compress", "zstd", path, str(out)).returncode == 0
    prog = drgn.Program()
    prog.set_core_dump(str(out))
    k = kdumpfile.kdumpfile(str(out))
    for pfn in sorted(kern.kept(fx, 31)):
        want = fixtures.expected_page(fx, pfn)
        assert prog.read(pfn * PS, PS, True) == want, hex(pfn)
        assert bytes(k.read(kdumpfile.KDUMP_MACHPHYSADDR, pfn * PS, PS)) == want, hex(pfn)
    with pytest.raises(drgn.FaultError):
        prog.read(0x400 * PS, PS, True)  # free


@pytest.mark.parametrize(
    ("drop", "level", "note", "kept_level"),
    [
        (("NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)",), 31, "dump level bit 16 needs NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)", 15),
        (("OFFSET(page.compound_order)",), 31, "dump level bit 8 needs the compound order", 23),
        (("NUMBER(PG_lru)",), 6, "dump level bit 2 needs NUMBER(PG_lru)", 0),
        (("OFFSET(page.compound_head)",), 31, "dump level bit 8 needs OFFSET(page.compound_head or compound_info)", 17),
        (("SYMBOL(mem_section)",), 31, "VMCOREINFO lacks SYMBOL(mem_section); using dump level 1", 1),
        (("SYMBOL(init_top_pgt)",), 17, "VMCOREINFO lacks SYMBOL(init_top_pgt); using dump level 1", 1),
    ],
)
def test_missing_vmcoreinfo_falls_back_and_says_so(
    tmp_path: Path, drop: tuple[str, ...], level: int, note: str, kept_level: int
) -> None:
    kern = kernel_fixture.Kernel()
    fx = kern.fixture()
    path = with_info(fx, drop, str(tmp_path / "vmcore"))
    out = tmp_path / "out"
    proc = run_dump_verbose("--dump-level", str(level), path, str(out))
    assert proc.returncode == 0, proc.stderr.decode()
    assert note in proc.stderr.decode()
    kd = kdump_layout.read(str(out))
    assert kd.sub[1] == kept_level
    if kept_level & ~1 == 0 and "lacks" in note:
        # no struct pages at all: hwpoison and offline cannot be found either
        assert set(kd.dumped) == kern.kept(fx, 0) | set(range(0xE40, 0xE44)) | set(range(0xE50, 0xE60))
    else:
        assert set(kd.dumped) == kern.kept(fx, kept_level)


def run_dump_verbose(*args: str) -> subprocess.CompletedProcess[bytes]:
    import sys

    return subprocess.run(
        [sys.executable, "-m", "layoutc.dump", *args], capture_output=True, env=dict(os.environ, PYTHONPATH=str(SRC))
    )


def test_classify_reports_classes(kernel: Any) -> None:
    kern, _, path = kernel
    reader = source.FileReader(path)
    try:
        core = elf.parse(reader, path)
        pmap = physmap.build(core.loads, PS)
        excluded, level, notes = pageclass.for_dump(
            core.vmcoreinfo, physmap.PhysReader(pmap, reader).read, pmap.present, PS, 31
        )
    finally:
        reader.close()
    assert level == 31 and notes == []
    assert excluded == {
        "free": [(0x400, 0x800), (0x808, 0x810)] + ([(0x1800, 0x1C00)] if kern.new else []),
        "cache": [(0x900, 0xA00), (0xA80, 0xB00)],
        "cache_private": [(0xA00, 0xA80)],
        "user": [(0xB00, 0xE00), (0x1200, 0x1400)],
        "hwpoison": [(0xE40, 0xE44)],
        "offline": [(0xE50, 0xE60)],
    }


@pytest.mark.parametrize("use_mmap", [False, True])
def test_struct_pages_mapped_or_read_give_the_same_classes(kernel: Any, use_mmap: bool) -> None:
    """A reader that maps the source (``/proc/vmcore``, ``--mmap``) hands the struct-page batches over mapped, not
    copied; one that reads (pread, the default for files) reads them into one kept buffer: the same classes."""
    _, _, path = kernel
    reader = source.FileReader(path, use_mmap=use_mmap)
    try:
        core = elf.parse(reader, path)
        pmap = physmap.build(core.loads, PS)
        phys = physmap.PhysReader(pmap, reader)
        got = pageclass.for_dump(core.vmcoreinfo, phys.read, pmap.present, PS, 31, phys=phys)
        read = pageclass.for_dump(core.vmcoreinfo, phys.read, pmap.present, PS, 31)
        info = VmcoreInfo(core.vmcoreinfo)
        table = PageTable.from_vmcoreinfo(info, phys.read)
        size = info.size("page")
        assert table is not None and size is not None
        memmap = pageclass.MemMap(info, table, PS, size, phys)
        copied = pageclass.MemMap(info, table, PS, size)
        kinds = set()
        kept: list[bytearray] = []
        for pfn, n in memmap.spans(pmap.present):
            raw = memmap.read(pfn, n)
            assert raw is not None and raw[: n * size] == copied.read(pfn, n)
            kinds.add(type(raw).__name__)
            if isinstance(raw, bytearray):
                kept.append(raw)  # held: a buffer made again could not reuse a freed one's id
    finally:
        reader.close()
    assert got == read and got[0]
    # batches that start off the mapping granularity (a present range from inside a section) are read
    assert kinds == {"mmap", "bytearray"} if use_mmap else kinds == {"bytearray"}, kinds
    assert kept and all(buf is kept[0] for buf in kept)  # one buffer for every batch read, whatever its length


def test_a_batch_shorter_than_the_kept_buffer_ignores_what_lies_beyond_it(
    kernel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kept struct-page buffer is made for the largest batch; a shorter batch comes in its first bytes and the
    rest holds an earlier batch's. Filled first with the struct page of a page cache page, over and over (a page
    the chain excludes), it gives the same classes as batches copied to their own length."""
    _, _, path = kernel
    reader = source.FileReader(path)
    try:
        core = elf.parse(reader, path)
        pmap = physmap.build(core.loads, PS)
        phys = physmap.PhysReader(pmap, reader)
        copied = pageclass.for_dump(core.vmcoreinfo, phys.read, pmap.present, PS, 31)
        info = VmcoreInfo(core.vmcoreinfo)
        table = PageTable.from_vmcoreinfo(info, phys.read)
        size = info.size("page")
        assert table is not None and size is not None
        cached = copied[0]["cache"][0][0]
        one = pageclass.MemMap(info, table, PS, size).read(cached, 1)
        assert one is not None
        made = pageclass.MemMap.__init__

        def stale(self: pageclass.MemMap, *args: Any, **kwargs: Any) -> None:
            made(self, *args, **kwargs)
            self._buf = bytearray(one) * pageclass.CHUNK

        monkeypatch.setattr(pageclass.MemMap, "__init__", stale)
        kept = pageclass.for_dump(core.vmcoreinfo, phys.read, pmap.present, PS, 31, phys=phys)
    finally:
        reader.close()
    assert kept == copied


def test_a_mapping_is_only_made_where_the_reader_maps(tmp_path: Path) -> None:
    """``FileReader.mapped``: exactly the bytes asked for, from a reader that maps; None from one that reads (its
    read errors stay errors, not SIGBUS), for an offset off the mapping granularity, or past the end."""
    import mmap

    path = tmp_path / "src"
    data = os.urandom(3 * mmap.ALLOCATIONGRANULARITY)
    path.write_bytes(data)
    mapping = source.FileReader(str(path), use_mmap=True)
    reading = source.FileReader(str(path), use_mmap=False)
    try:
        got = mapping.mapped(mmap.ALLOCATIONGRANULARITY, 2 * mmap.ALLOCATIONGRANULARITY)
        assert got is not None and got[:] == data[mmap.ALLOCATIONGRANULARITY :]
        got.close()
        assert mapping.mapped(1, 4096) is None
        assert mapping.mapped(0, len(data) + 1) is None
        assert reading.mapped(0, 4096) is None
    finally:
        mapping.close()
        reading.close()


def test_budget_drops_page_classes_first(kernel: Any, tmp_path: Path) -> None:
    import json

    kern, fx, path = kernel
    full = tmp_path / "full"
    assert run_dump("--dump-level", "1", path, str(full)).returncode == 0
    spec = tmp_path / "spec.json"
    budget = full.stat().st_size - 50_000
    spec.write_text(json.dumps({"schema_version": 1, "budget": budget, "drop_order": ["free", "user", "tail"]}))
    out = tmp_path / "out"
    proc = run_dump_verbose("--spec", str(spec), path, str(out))
    assert proc.returncode == 0, proc.stderr.decode()
    assert out.stat().st_size <= budget
    assert "budget: dropped" in proc.stderr.decode() and ": free" in proc.stderr.decode()
    dumped = set(kdump_layout.read(str(out)).dumped)
    free = {p for c, lo, hi in kern.classes if c == "free" for p in range(lo, hi)}
    assert kern.kept(fx, 1) - free <= dumped, "only free pages are dropped"
    kept_free = sorted(free & dumped)
    assert kept_free and kept_free == sorted(free)[: len(kept_free)], "the highest free pages go first"


def layout_of(generation: str) -> pageclass.StructPageLayout:
    # 6.6-6.8: folio order in _flags_1, hugetlb as a flag of the second page (NUMBER(PG_hugetlb))
    v66 = "\n".join(ln for ln in kernel_fixture.VMCOREINFO_612.splitlines() if not ln.startswith("NUMBER(PAGE_HUGETLB"))
    text = {
        "6.6": v66 + f"\nNUMBER(PG_hugetlb)={kernel_fixture.PG_LRU}\n",
        "6.12": kernel_fixture.VMCOREINFO_612,
        "7.1": kernel_fixture.VMCOREINFO_71,
    }.get(generation, kernel_fixture.VMCOREINFO)
    info = VmcoreInfo(parse_vmcoreinfo(text.encode()))
    return pageclass.StructPageLayout.from_info(info, 64, 0)


@pytest.mark.parametrize("generation", [*GENERATIONS, "6.6"])
@pytest.mark.parametrize("level", [1, 2, 4, 8, 16, 31])
def test_numpy_and_stdlib_paths_agree_on_random_struct_pages(generation: str, level: int) -> None:
    np: Any = need_module("numpy")
    import random

    from layoutc.dump.classify import pagescan

    lay = layout_of(generation)
    rng = random.Random(level * 7 + len(generation))
    k = kernel_fixture
    mapcounts = [-1, 0, k.BUDDY, k.OFFLINE, *k.PGTY.values(), rng.randrange(-(2**31), 2**31)]
    flag_bits = [k.PG_LRU, k.PG_SWAPCACHE, k.PG_SLAB, k.PG_PRIVATE, k.PG_HEAD, k.PG_SWAPBACKED, k.PG_HWPOISON]
    n, first = 4096, 0x10000
    raw = bytearray()
    for _ in range(n):
        flags = sum(1 << b for b in flag_bits if rng.random() < 0.15) | rng.choice([0, 0, 9, 3, 70])
        raw += k.PAGE.pack(
            flags,
            rng.choice([0, 0, 0, 0xFFFFEA0000000001, k.tail_mask(1)]),
            0,
            rng.choice([0, k.ANON_MAPPING, k.FILE_MAPPING]),
            0,
            rng.choice([0, 1, 3, 10, 11, 40]),
            rng.choice(mapcounts),
            1,
            0,
        )
        raw[-48] = rng.choice([2, 3, 0])  # compound_dtor of 6.1 (byte 16)
        raw[-47] = rng.choice([0, 1, 9, 70])  # compound_order of 6.1 (byte 17)
    slow: dict[str, list[tuple[int, int]]] = {c: [] for c in pageclass.CLASSES}
    fast: dict[str, list[tuple[int, int]]] = {c: [] for c in pageclass.CLASSES}
    batch: dict[str, list[tuple[int, int]]] = {c: [] for c in pageclass.CLASSES}
    pageclass._classify_batch(lay, level, first, n, bytes(raw), slow)
    pagescan.classify(np, lay, level, first, n, bytes(raw), fast)
    pagebatch.classify(pageclass.Chain(lay, level), lay, first, n, bytes(raw), batch)
    for c in pageclass.CLASSES:
        assert extents.normalize(slow[c]) == extents.normalize(fast[c]), c
        assert extents.normalize(slow[c]) == extents.normalize(batch[c]), c
    assert any(slow.values())


@pytest.mark.parametrize("vectorize", [False, True])
def test_pages_inside_an_excluded_range_are_not_looked_at(vectorize: bool) -> None:
    # makedumpfile skips the rest of a free block (or compound page) it excluded: a stale buddy
    # head inside a free block does not extend it, and a cache page there is counted as free.
    k = kernel_fixture
    lay = layout_of("6.1")
    first, n = 0x20000, 64
    pages = [k.PAGE.pack(0, 0, 0, 0, 0, 0, -1, 1, 0) for _ in range(n)]
    pages[0] = k.PAGE.pack(0, 0, 0, 0, 0, 2, k.BUDDY, 0, 0)  # order 2: pfns 0-3
    pages[1] = k.PAGE.pack(0, 0, 0, 0, 0, 5, k.BUDDY, 0, 0)  # stale: would reach pfn 33
    pages[2] = k.PAGE.pack(1 << k.PG_LRU, 0, 0, k.FILE_MAPPING, 0, 0, 0, 1, 0)  # would be cache
    pages[8] = k.PAGE.pack(1 << k.PG_LRU, 0, 0, k.FILE_MAPPING, 0, 0, 0, 1, 0)  # is cache
    raw = b"".join(pages)
    found: dict[str, list[tuple[int, int]]] = {c: [] for c in pageclass.CLASSES}
    if vectorize:
        from layoutc.dump.classify import pagescan

        pagescan.classify(need_module("numpy"), lay, 31, first, n, raw, found)
    else:
        pagebatch.classify(pageclass.Chain(lay, 31), lay, first, n, raw, found)
    assert extents.normalize(found["free"]) == [(first, first + 4)]
    assert extents.normalize(found["cache"]) == [(first + 8, first + 9)]


@pytest.mark.tools
def test_flat_sparsemem_matches_makedumpfile(tmp_path: Path) -> None:
    # SPARSEMEM without EXTREME: SYMBOL(mem_section) is the array of struct mem_section itself.
    mdf = need_tool("makedumpfile")
    kern = kernel_fixture.Kernel("6.1", extreme=False)
    fx = kern.fixture()
    path = fx.write(str(tmp_path / "vmcore"))
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    proc = subprocess.run([mdf, "-c", "-d", "31", path, str(theirs)], capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    assert run_dump("--dump-level", "31", path, str(ours)).returncode == 0
    assert set(kdump_layout.read(str(ours)).dumped) == kern.kept(fx, 31)
    assert same_dump(theirs.read_bytes(), ours.read_bytes())


@pytest.mark.tools
@pytest.mark.parametrize("generation", GENERATIONS)
@pytest.mark.parametrize("variant", ["five_level", "kaslr"])
def test_paging_variants_match_ground_truth_and_makedumpfile(tmp_path: Path, generation: str, variant: str) -> None:
    # LA57: the walk starts one level higher; PAGE_OFFSET, vmemmap and MAX_PHYSMEM_BITS move.
    # KASLR: page_offset_base and vmemmap_base are randomized; only the page tables say where.
    kern = kernel_fixture.Kernel(generation, **{variant: True})
    fx = kern.fixture()
    path = fx.write(str(tmp_path / "vmcore"))
    ours = tmp_path / "ours"
    assert run_dump("--dump-level", "31", path, str(ours)).returncode == 0
    assert set(kdump_layout.read(str(ours)).dumped) == kern.kept(fx, 31)
    found = oracle(kern, fx, path, tmp_path)
    if found is None:
        return  # ground truth only: sid's makedumpfile is not fetched
    theirs = tmp_path / "theirs"
    cmd, src = found
    proc = subprocess.run([*cmd, "-c", "-d", "31", src, str(theirs)], capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    assert same_dump(theirs.read_bytes(), ours.read_bytes())


# (KERNELOFFSET, physical shift): only the virtual side moved (phys_base < 0, printed signed), both
# moved (phys_base > 0).
IMAGE_OFFSETS = [(0x16000000, 0), (0x2A000000, 0x2C00000)]


@pytest.mark.tools
@pytest.mark.parametrize("generation", GENERATIONS)
@pytest.mark.parametrize(("kernel_offset", "phys_shift"), IMAGE_OFFSETS)
def test_randomized_kernel_image_translates_exactly(
    tmp_path: Path, generation: str, kernel_offset: int, phys_shift: int
) -> None:
    # SYMBOL()s are runtime addresses; the page-table root is SYMBOL(init_top_pgt) - __START_KERNEL_map
    # + phys_base, and the image mapping itself is offset by phys_base.
    kern = kernel_fixture.Kernel(generation, kernel_offset=kernel_offset, phys_shift=phys_shift)
    fx = kern.fixture()
    assert fx.vmcoreinfo is not None and f"KERNELOFFSET={kernel_offset:x}\n" in fx.vmcoreinfo
    assert f"NUMBER(phys_base)={phys_shift - kernel_offset}\n" in fx.vmcoreinfo
    path = fx.write(str(tmp_path / "vmcore"))
    reader = source.FileReader(path)
    try:
        core = elf.parse(reader, path)
        pmap = physmap.build(core.loads, PS)
        table = PageTable.from_vmcoreinfo(VmcoreInfo(core.vmcoreinfo), physmap.PhysReader(pmap, reader).read)
        assert table is not None
        uts = kern.kva(kernel_fixture.UTS)
        assert uts != kernel_fixture.KERNEL_MAP + kernel_fixture.UTS
        assert table.translate(uts) == kernel_fixture.UTS
        assert table.translate(kernel_fixture.KERNEL_MAP + kernel_fixture.UTS) != kernel_fixture.UTS
        assert table.translate(kern.page_offset + 0x1234567) == 0x1234567
    finally:
        reader.close()
    ours = tmp_path / "ours"
    assert run_dump("--dump-level", "31", path, str(ours)).returncode == 0
    kd = kdump_layout.read(str(ours))
    assert set(kd.dumped) == kern.kept(fx, 31)
    assert kd.utsname[2] == kern.fixture_release  # read through the relocated init_uts_ns
    found = oracle(kern, fx, path, tmp_path)
    if found is None:
        return  # ground truth only: sid's makedumpfile is not fetched
    theirs = tmp_path / "theirs"
    cmd, src = found
    proc = subprocess.run([*cmd, "-c", "-d", "31", src, str(theirs)], capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    assert same_dump(theirs.read_bytes(), ours.read_bytes())


@pytest.mark.tools
def test_compound_info_tail_is_not_user_data(tmp_path: Path) -> None:
    # 7.1: the order-1 slab page's tail has an odd word where `mapping` is. With the tail word read
    # from OFFSET(page.compound_info) it is skipped (its head is slab: kept); sid's 1.7.8 without
    # f50c015 drops it as user data, as it did on a real 7.2 vmcore.
    kern = kernel_fixture.Kernel("7.1")
    fx = kern.fixture()
    path = fx.write(str(tmp_path / "vmcore"))
    lo, hi = kernel_fixture.SLAB_COMPOUND[1:]
    ours = tmp_path / "ours"
    assert run_dump("--dump-level", "31", path, str(ours)).returncode == 0
    assert set(range(lo, hi)) <= set(kdump_layout.read(str(ours)).dumped)
    if not SID_MDF.exists():
        return
    theirs = tmp_path / "theirs"
    sid = str(Path(__file__).resolve().parents[2] / "bench" / "dump" / "sid-makedumpfile.sh")
    proc = subprocess.run(["sh", sid, "-c", "-d", "31", path, str(theirs)], capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    assert set(kdump_layout.read(str(ours)).dumped) - set(kdump_layout.read(str(theirs)).dumped) == {hi - 1}


def test_missing_compound_info_drops_the_tail_dependent_bits(tmp_path: Path) -> None:
    # 7.1 without OFFSET(page.compound_info): tails cannot be told apart, so cache/user bits go.
    kern = kernel_fixture.Kernel("7.1")
    fx = kern.fixture()
    path = with_info(fx, ("OFFSET(page.compound_info)",), str(tmp_path / "vmcore"))
    out = tmp_path / "out"
    proc = run_dump_verbose("--dump-level", "31", path, str(out))
    assert proc.returncode == 0, proc.stderr.decode()
    assert "dump level bit 8 needs OFFSET(page.compound_head or compound_info)" in proc.stderr.decode()
    kd = kdump_layout.read(str(out))
    assert kd.sub[1] == 17
    assert set(kd.dumped) == kern.kept(fx, 17)


class _FlatTable:
    """A page table stand-in: every virtual address reads as zero bytes."""

    def read(self, va: int, size: int) -> bytes:
        return bytes(size)


def test_struct_page_batches_end_on_makedumpfiles_blocks() -> None:
    # makedumpfile looks at the struct page after a compound head unless the head ends a pfn-aligned block of
    # 512 (PGMM_CACHED); a batch that ended elsewhere (present pfns starting at an odd pfn, cut every 32768
    # pages from there) hid the next struct page of a head that makedumpfile sees
    memmap = object.__new__(pageclass.MemMap)
    memmap.table, memmap.struct_size, memmap.vmemmap = _FlatTable(), 64, 0xFFFFEA0000000000  # type: ignore[assignment]
    memmap.pages_per_section, memmap.phys = 1 << 15, None
    got = [(pfn, n) for pfn, n, _raw in memmap.batches([(1, 0x8003), (0x8100, 0x18100)])]
    assert got == [(1, 0x7FFF), (0x8000, 3), (0x8100, 0x7F00), (0x10000, 0x8000), (0x18000, 0x100)]
    assert all((pfn + n) % pageclass.BATCH == 0 or pfn + n in (0x8003, 0x18100) for pfn, n in got)
