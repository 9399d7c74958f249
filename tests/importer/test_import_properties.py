"""Property tests: text rendered from random maps parses back to the same ranges."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.importer.captured_cmdline import memparse, parse_cmdline, parse_memmap
from layoutc.importer.dmesg import parse_dmesg, render_dmesg
from layoutc.importer.iomem import parse_iomem, render_iomem
from layoutc.importer.lsmem import parse_lsmem_json, parse_lsmem_text, render_lsmem_json, render_lsmem_text
from layoutc.importer.sysinfo_types import DmesgFacts, E820Entry, IomemEntry, Lsmem, LsmemRow, SratRange, ZoneStats
from layoutc.importer.zoneinfo import parse_zoneinfo, render_zoneinfo
from layoutc.model.units import format_size

NAMES = [
    "System RAM",
    "Reserved",
    "ACPI Tables",
    "ACPI Non-volatile Storage",
    "Persistent Memory (legacy)",
    "PCI Bus 0000:00",
    "Kernel code",
    "Crash kernel",
    "System RAM (kmem)",
    "IOAPIC 0",
]
ZONES = [("None",), ("DMA32",), ("Normal",), ("Movable",), ("Normal", "Movable")]
E820_LABELS = {
    "usable": "ram",
    "System RAM": "ram",
    "reserved": "reserved",
    "device reserved": "reserved",
    "ACPI data": "acpi",
    "ACPI NVS": "nvs",
    "unusable": "unusable",
    "persistent (type 12)": "pmem",
}


@st.composite
def disjoint(draw: st.DrawFn, unit: int = 1, max_size: int = 12) -> list[tuple[int, int]]:
    """Sorted, disjoint [start, end) ranges on a ``unit`` grid, up to 2^52."""
    pairs, at = [], 0
    for gap, length in draw(
        st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(1, 1 << 20)), max_size=max_size)
    ):
        start = at + gap * unit
        pairs.append((start, start + length * unit))
        at = start + length * unit
    return pairs


@st.composite
def iomem_trees(draw: st.DrawFn) -> tuple[IomemEntry, ...]:
    entries = []
    for start, end in draw(disjoint(unit=0x1000)):
        entries.append(IomemEntry(start, end, draw(st.sampled_from(NAMES)), 0))
        if end - start >= 0x2000 and draw(st.booleans()):
            entries.append(IomemEntry(start, start + 0x1000, draw(st.sampled_from(NAMES)), 1))
            if draw(st.booleans()):
                entries.append(IomemEntry(start, start + 0x800, "  odd name: with colon ", 2))
    return tuple(entries)


@settings(max_examples=150, deadline=None)
@given(iomem_trees())
def test_iomem_round_trip(entries: tuple[IomemEntry, ...]) -> None:
    diags = Diagnostics()
    assert parse_iomem(render_iomem(entries), "iomem", diags) == entries
    assert len(diags) == 0


@st.composite
def lsmem_maps(draw: st.DrawFn) -> tuple[Lsmem, int]:
    block = 1 << draw(st.integers(27, 31))
    rows = []
    for start, end in draw(disjoint(unit=block, max_size=8)):
        state = draw(st.sampled_from(["online", "offline"]))
        rows.append(
            LsmemRow(
                start,
                end,
                state,
                draw(st.booleans()) if state == "online" else None,
                start // block,
                end // block - 1,
                draw(st.integers(0, 7)),
                draw(st.sampled_from(ZONES)),
            )
        )
    return Lsmem(tuple(rows), "lsmem.json", None), block


@settings(max_examples=150, deadline=None)
@given(lsmem_maps())
def test_lsmem_json_round_trip(case: tuple[Lsmem, int]) -> None:
    lsmem, _ = case
    diags = Diagnostics()
    parsed = parse_lsmem_json(render_lsmem_json(lsmem), "lsmem.json", diags)
    assert parsed is not None and parsed.rows == lsmem.rows and len(diags) == 0


@settings(max_examples=150, deadline=None)
@given(lsmem_maps())
def test_lsmem_text_round_trip(case: tuple[Lsmem, int]) -> None:
    lsmem, block = case
    diags = Diagnostics()
    parsed = parse_lsmem_text(render_lsmem_text(lsmem, block), "lsmem.txt", diags)
    assert parsed is not None and len(diags) == 0
    assert parsed.rows == lsmem.rows and parsed.block_size == block


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.sampled_from(["DMA", "DMA32", "Normal", "Movable", "Device"]),
            st.integers(0, 1 << 40),
            st.integers(0, 1 << 30),
            st.integers(0, 1 << 30),
        ),
        max_size=10,
    )
)
def test_zoneinfo_round_trip(raw: list[tuple[int, str, int, int, int]]) -> None:
    # the kernel prints start_pfn only for a populated zone (present > 0)
    zones = tuple(
        ZoneStats(node, name, start if (pres := min(present, spanned)) else None, spanned, pres, pres)
        for node, name, start, spanned, present in raw
    )
    diags = Diagnostics()
    parsed = parse_zoneinfo(render_zoneinfo(zones), "zoneinfo", diags)
    assert (parsed or ()) == zones
    assert len(diags) == (0 if zones else 1)


@settings(max_examples=150, deadline=None)
@given(disjoint(), st.data())
def test_dmesg_e820_and_srat_round_trip(pairs: list[tuple[int, int]], data: st.DataObject) -> None:
    e820 = tuple(
        E820Entry(a, b, E820_LABELS[label], label)
        for (a, b), label in zip(
            pairs,
            data.draw(
                st.lists(st.sampled_from(sorted(E820_LABELS)), min_size=len(pairs), max_size=len(pairs))
            ),
            strict=True,
        )
    )
    srat = tuple(SratRange(i % 4, i % 4, a, b, data.draw(st.booleans())) for i, (a, b) in enumerate(pairs))
    facts = DmesgFacts(e820, bool(srat), srat, False, (), (), "console=ttyS0", "7.2.13")
    diags = Diagnostics()
    assert parse_dmesg(render_dmesg(facts), "dmesg", diags) == facts
    assert len(diags) == 0


@given(st.integers(0, 1 << 50))
def test_memparse_reads_format_size(value: int) -> None:
    assert memparse(format_size(value)) == (value, "")
    assert memparse(hex(value)) == (value, "")


@given(st.integers(1, 1 << 40), st.integers(0, 1 << 44), st.sampled_from("!$#@"))
def test_memmap_entries_parse(size: int, start: int, op: str) -> None:
    text = f"{format_size(size)}{op}{hex(start)}"
    edits = parse_memmap(text)
    assert edits is not None and [(e.op, e.start, e.size) for e in edits] == [(op, start, size)]
    parsed = parse_cmdline(f"console=ttyS0 memmap={text} quiet", "cmdline", Diagnostics())
    assert parsed is not None and parsed.board_text == "console=ttyS0 quiet"


PARSERS = [parse_iomem, parse_lsmem_json, parse_lsmem_text, parse_zoneinfo, parse_dmesg, parse_cmdline]
LINE_BITS = [
    "BIOS-e820: [mem 0x",
    "ACPI: SRAT: Node ",
    "Node 0, zone ",
    "RANGE SIZE STATE",
    "0x0-0x1",
    "  ",
    " : ",
    "spanned ",
    "start_pfn: ",
    '{"memory": [',
    '"range": ',
    "crashkernel reserved: ",
    "memmap=",
    '"',
    "\n",
    "[    0.000000] ",
    "Movable zone start for each node",
    "Node 1: 0x",
    "fff",
    "-",
    "!",
    "$",
    "@",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(LINE_BITS), st.text(max_size=8)), max_size=40))
def test_parsers_never_raise(parts: list[str]) -> None:
    text = "".join(parts)
    for parse in PARSERS:
        diags = Diagnostics()
        result = parse(text, "junk", diags)
        assert result is not None or diags.has_errors


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=6),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "format",
                        "iomem",
                        "lsmem",
                        "rows",
                        "start",
                        "end",
                        "name",
                        "depth",
                        "dmesg",
                        "e820",
                        "kind",
                        "label",
                        "zones",
                        "srat",
                        "crash",
                        "node",
                    ]
                ),
                inner,
                max_size=5,
            )
        ),
        max_leaves=20,
    )
)
def test_sysinfo_json_decoder_never_raises(doc: object) -> None:
    import json

    from layoutc.importer.sysinfo_document import decode_sysinfo

    if isinstance(doc, dict):
        doc = {**doc, "format": "layoutc-sysinfo/1"}
    diags = Diagnostics()
    result = decode_sysinfo(json.dumps(doc), "x.json", diags)
    assert result is not None or diags.has_errors
