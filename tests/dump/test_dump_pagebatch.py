"""The batch classifier (lane masks) against the page-by-page reference chain, on random struct pages."""

from __future__ import annotations

import random
import struct

import kernel_fixture as k
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_dump_pageclass import layout_of

from layoutc.dump import extents
from layoutc.dump.classify import pagebatch, pageclass

FLAG_BITS = [k.PG_LRU, k.PG_SWAPCACHE, k.PG_SLAB, k.PG_PRIVATE, k.PG_HEAD, k.PG_SWAPBACKED, k.PG_HWPOISON]
MAPCOUNTS = st.sampled_from([-1, 0, k.BUDDY, k.OFFLINE, *k.PGTY.values()]) | st.integers(-(2**31), 2**31 - 1)


@st.composite
def struct_page(draw: st.DrawFn) -> bytes:
    flags = sum(1 << b for b in FLAG_BITS if draw(st.booleans())) | draw(st.sampled_from([0, 9, 3, 70, 1 << 40]))
    raw = bytearray(
        k.PAGE.pack(
            flags,
            draw(st.sampled_from([0, 0, 0xFFFFEA0000000001, k.tail_mask(1), 1])),
            0,
            draw(st.sampled_from([0, k.ANON_MAPPING, k.FILE_MAPPING, 1])),
            0,
            draw(st.sampled_from([0, 1, 2, 3, 9, 10, 11, 40])),
            draw(MAPCOUNTS),
            1,
            0,
        )
    )
    raw[16] = draw(st.sampled_from([0, 2, 3]))  # compound_dtor of 6.1
    raw[17] = draw(st.sampled_from([0, 1, 2, 9, 70]))  # compound_order of 6.1
    return bytes(raw)


@settings(max_examples=300, deadline=None)
@given(
    generation=st.sampled_from(["6.1", "6.6", "6.12", "7.1"]),
    level=st.sampled_from([0, 1, 2, 4, 8, 16, 17, 31]),
    first=st.sampled_from([0, 0x10000, 0x101F0, 0x7FF]),
    pages=st.lists(struct_page(), min_size=1, max_size=600),
    held=st.lists(st.integers(-40, 700), max_size=4),
)
def test_batch_and_reference_agree(
    generation: str, level: int, first: int, pages: list[bytes], held: list[int]
) -> None:
    """Also with pages no class may take (``keep``: the kernel image), across and beyond the batch."""
    lay = layout_of(generation)
    raw = b"".join(pages)
    n = len(pages)
    ref: dict[str, list[tuple[int, int]]] = {c: [] for c in pageclass.CLASSES}
    got: dict[str, list[tuple[int, int]]] = {c: [] for c in pageclass.CLASSES}
    bounds = sorted(first + h for h in held)
    keep = extents.normalize((a, b) for a, b in zip(bounds[::2], bounds[1::2], strict=False) if a < b) or None
    pageclass._classify_batch(lay, level, first, n, raw, ref, keep=keep)
    pagebatch.classify(pageclass.Chain(lay, level), lay, first, n, raw, got, keep)
    for c in pageclass.CLASSES:
        assert extents.normalize(got[c]) == extents.normalize(ref[c]), c
        assert not keep or not extents.intersect(extents.normalize(got[c]), keep), c


@pytest.mark.parametrize("sparse", [0, 3, 1 << 20])
@pytest.mark.parametrize("generation", ["6.1", "6.12"])
def test_equal32_by_candidates_and_by_columns(monkeypatch: pytest.MonkeyPatch, generation: str, sparse: int) -> None:
    """Few candidates are checked one by one, many by the other three columns: the same pages either
    way, also for fields that share only the compared byte with the value (near misses)."""
    monkeypatch.setattr(pagebatch, "SPARSE", sparse)
    lay = layout_of(generation)
    assert lay.mapcount is not None
    values = [v for name, v in lay.values.items() if v is not None and name != "HUGETLB_PAGE_DTOR"]
    near = [v ^ (0xFF << 8 * ((pagebatch.key(v) + 1) % 4)) for v in values]
    rng = random.Random(generation)
    fields = [rng.choice([*values, *near, -1, 0, 1, rng.randrange(-(2**31), 2**31)]) for _ in range(9000)]
    raw = bytearray(64 * len(fields))
    for i, field in enumerate(fields):
        struct.pack_into("<i", raw, 64 * i + lay.mapcount, field)
    lanes = pagebatch.Lanes(bytes(raw), len(fields), 64)
    for value in values:
        want = sum(1 << 8 * i for i, field in enumerate(fields) if field == value)
        assert lanes.equal32(lay.mapcount, value) == want, value
    got: dict[str, list[tuple[int, int]]] = {c: [] for c in pageclass.CLASSES}
    ref: dict[str, list[tuple[int, int]]] = {c: [] for c in pageclass.CLASSES}
    pageclass._classify_batch(lay, 31, 0, len(fields), bytes(raw), ref)
    pagebatch.classify(pageclass.Chain(lay, 31), lay, 0, len(fields), bytes(raw), got)
    assert {c: extents.normalize(p) for c, p in got.items()} == {c: extents.normalize(p) for c, p in ref.items()}
