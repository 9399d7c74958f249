"""Fuzzing the dumper's input parsers on mutated small fixtures: a DumpError or a result, never
another exception, and every example within its deadline (bounded time).

LAYOUTC_FUZZ_EXAMPLES (default 300) sets the examples per test; a long local run finds more.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import vmcore_fixtures as fixtures
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layoutc.dump import dumper
from layoutc.dump import filter_spec as spec
from layoutc.dump.classify import pageclass
from layoutc.dump.errors import DumpError
from layoutc.dump.read import elf_input as elf
from layoutc.dump.read import physmap, vmcoreinfo

PS = fixtures.PS
INFO = fixtures.VMCOREINFO + (
    "SIZE(page)=64\nOFFSET(page.flags)=0\nOFFSET(page._mapcount)=48\nOFFSET(page.private)=40\n"
    "NUMBER(SECTION_SIZE_BITS)=27\nNUMBER(MAX_PHYSMEM_BITS)=46\nSIZE(mem_section)=16\n"
    "LENGTH(zone.free_area)=11\nNUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129\n"
)
FUZZ = settings(
    max_examples=int(os.environ.get("LAYOUTC_FUZZ_EXAMPLES", "300")),
    deadline=2000,
    suppress_health_check=[HealthCheck.too_slow],
)


class BytesReader:
    """The Reader protocol over bytes in memory."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, offset: int, size: int) -> bytes:
        from layoutc.dump.errors import SourceFault

        if offset < 0 or size < 0 or offset + size > len(self.data):
            raise SourceFault(offset, size, "beyond the end of the source: truncated")
        return self.data[offset : offset + size]

    def close(self) -> None:
        pass


def _fixture() -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = fixtures.Fixture(ranges=[(0x100000, 8 * PS), (0x200800, 2 * PS)], vmcoreinfo=INFO).write(f"{tmp}/vmcore")
        return Path(path).read_bytes()


BASE = _fixture()
HEADER = BASE.index(b"OSRELEASE") + len(INFO) + 64  # ELF header, phdrs and notes: what is parsed

PHDRS = 64 + 56 * 4  # the ELF header and the program headers: most fields that matter
mutations = st.lists(
    st.tuples(
        st.integers(0, PHDRS - 1) | st.integers(0, HEADER - 1),
        st.integers(0, 255) | st.sampled_from([0x00, 0x7F, 0x80, 0xFF]),
    ),
    min_size=1,
    max_size=12,
)


def mutate(changes: list[tuple[int, int]], cut: int | None) -> bytes:
    data = bytearray(BASE)
    for at, value in changes:
        data[at] = value
    return bytes(data[:cut] if cut is not None else data)


@FUZZ
@given(mutations, st.none() | st.integers(0, len(BASE)))
def test_elf_headers_and_notes(changes: list[tuple[int, int]], cut: int | None) -> None:
    try:
        vmcore = elf.parse(BytesReader(mutate(changes, cut)), "fuzz")
    except DumpError:
        return
    pmap = physmap.build(vmcore.loads, vmcore.page_size)
    assert pmap.max_mapnr >= 0


@settings(
    max_examples=int(os.environ.get("LAYOUTC_FUZZ_EXAMPLES", "300")) // 3,
    deadline=4000,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(mutations)
def test_whole_dump_of_a_mutated_header(
    tmp_path_factory: pytest.TempPathFactory, changes: list[tuple[int, int]]
) -> None:
    data = mutate(changes, None)
    try:
        vmcore = elf.parse(BytesReader(data), "fuzz")
    except DumpError:
        return
    if physmap.build(vmcore.loads, vmcore.page_size).max_mapnr > 1 << 16:
        return  # a plausible large machine: bitmaps of that size are written, not a parser's concern
    out = tmp_path_factory.mktemp("fuzz") / "out"
    try:
        dumper.run(dumper.Options("fuzz", str(out), spec.FilterSpec(dump_level=31)), reader=BytesReader(data))
    except DumpError:
        pass


lines = st.lists(
    st.sampled_from(
        [
            "PAGESIZE",
            "NUMBER(SECTION_SIZE_BITS)",
            "NUMBER(MAX_PHYSMEM_BITS)",
            "SIZE(mem_section)",
            "SIZE(page)",
            "OFFSET(page.flags)",
            "OFFSET(page._mapcount)",
            "LENGTH(zone.free_area)",
            "CRASHTIME",
            "SYMBOL(mem_section)",
            "NUMBER(phys_base)",
        ]
    ).flatmap(
        lambda key: st.tuples(
            st.just(key), st.integers(-(1 << 70), 1 << 70).map(str) | st.text(max_size=30) | st.just("0x1000")
        )
    ),
    max_size=8,
)


@FUZZ
@given(lines)
def test_vmcoreinfo_values(pairs: list[tuple[str, str]]) -> None:
    text = "".join(f"{k}={v}\n" for k, v in pairs)
    raw = elf.parse_vmcoreinfo(text.encode("utf-8", "replace"))
    found = vmcoreinfo.problems(raw)
    info = vmcoreinfo.VmcoreInfo(raw)
    pageclass.capabilities(info, 31)
    if not found:
        ps = int(raw.get("PAGESIZE", "4096"))
        pageclass.StructPageLayout.from_info(info, info.size("page") or 64, info.offset("page.flags") or 0)
        assert 4096 <= ps <= 65536


SPEC = json.dumps(
    {
        "schema_version": 1,
        "dump_level": 31,
        "exclude": [{"start": 4096, "end": 8192, "reason": "dump_window"}],
        "budget": 1 << 20,
        "drop_order": ["free", {"start": 0, "end": 4096, "reason": "movable"}],
    }
)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(SPEC) - 1), st.characters()), max_size=6))
def test_spec_json(changes: list[tuple[int, str]]) -> None:
    text = list(SPEC)
    for at, char in changes:
        text[at] = char
    try:
        spec.loads(spec.decode("".join(text).encode("utf-8", "surrogatepass"), "fuzz"), "fuzz")
    except DumpError:
        pass


@FUZZ
@given(st.text(alphabet="0123456789abcdefxX-: SystemRAM\n", max_size=200))
def test_iomem_lines(text: str) -> None:
    try:
        dumper._parse_iomem("fuzz", text, PS)
    except DumpError:
        pass
