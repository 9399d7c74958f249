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


def _free_head(lay: pageclass.StructPageLayout, order: int, value: str = "BUDDY") -> bytes:
    """The struct page of a free block's head: a page type and the order in ``private``."""
    return k.PAGE.pack(0, 0, 0, 0, 0, order, lay.values[value], 0, 0)


@st.composite
def free_heavy(draw: st.DrawFn, lay: pageclass.StructPageLayout) -> list[bytes]:
    """Struct pages mostly in free blocks (an idle machine's memory), the blocks' insides random: other
    heads among them, compound heads whose range reaches a free head, unaccepted blocks."""
    pages: list[bytes] = []
    while len(pages) < draw(st.integers(8, 700)):
        kind = draw(st.sampled_from(["free", "free", "free", "unaccepted", "page", "pages"]))
        if kind == "page" or (kind == "unaccepted" and lay.values["UNACCEPTED"] is None):
            pages.append(draw(struct_page()))
        elif kind == "pages":
            pages += draw(st.lists(struct_page(), min_size=1, max_size=12))
        else:
            order = draw(st.integers(0, 8))
            inside = draw(st.lists(struct_page(), max_size=4))
            pages.append(_free_head(lay, order, kind.upper() if kind == "unaccepted" else "BUDDY"))
            pages += (inside + [bytes(k.PAGE.size)] * (1 << order))[: (1 << order) - 1]
    return pages


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    generation=st.sampled_from(["6.1", "6.6", "6.12", "7.1"]),
    level=st.sampled_from([16, 17, 31]),
    first=st.sampled_from([0, 0x10000, 0x101F0, 0x7FF]),
    held=st.lists(st.integers(-40, 700), max_size=4),
)
def test_free_blocks_first_and_reference_agree(
    data: st.DataObject, generation: str, level: int, first: int, held: list[int]
) -> None:
    """Batches mostly in free blocks take the path that leaves the blocks out of the lanes (or fall back
    when a head turns out to be inside another's range): the reference chain's ranges either way."""
    lay = layout_of(generation)
    pages = data.draw(free_heavy(lay))
    raw = b"".join(pages)
    n = len(pages)
    bounds = sorted(first + h for h in held)
    keep = extents.normalize((a, b) for a, b in zip(bounds[::2], bounds[1::2], strict=False) if a < b) or None
    ref: dict[str, list[tuple[int, int]]] = {c: [] for c in pageclass.CLASSES}
    got: dict[str, list[tuple[int, int]]] = {c: [] for c in pageclass.CLASSES}
    pageclass._classify_batch(lay, level, first, n, raw, ref, keep=keep)
    pagebatch.classify(pageclass.Chain(lay, level), lay, first, n, raw, got, keep)
    for c in pageclass.CLASSES:
        assert extents.normalize(got[c]) == extents.normalize(ref[c]), c


def _batch(lay: pageclass.StructPageLayout, cover: int) -> list[bytes]:
    """A free block of 256 pages, a page cache page, then (``cover``) a compound page cache head of order 8
    whose range reaches the head of a second free block of 256 pages, but not that block's end."""
    zero = bytes(k.PAGE.size)
    cache = k.PAGE.pack(1 << k.PG_LRU, 0, 0, k.FILE_MAPPING, 0, 0, -1, 1, 0)
    head = k.PAGE.pack(1 << k.PG_HEAD | 1 << k.PG_LRU, 0, 0, k.FILE_MAPPING, 0, 0, -1, 1, 0)
    second = bytearray(k.PAGE.pack(0, k.tail_mask(1), 0, 0, 0, 0, -1, 0, 0))
    second[17] = 8  # compound_order of 6.1
    pages = [_free_head(lay, 8)] + [zero] * 255 + [cache]
    pages += [head, bytes(second)] if cover else [zero, zero]
    pages += [zero] * (300 - len(pages))
    return pages + [_free_head(lay, 8)] + [zero] * 255


@pytest.mark.parametrize("cover", [0, 1])
def test_free_blocks_are_left_out_of_the_lanes_unless_a_head_is_covered(cover: int) -> None:
    """The two blocks are left out of the lanes; when a compound head's range covers the second free head,
    that head is never decided and the end of its block is looked at after all (the batch again, in full)."""
    lay = layout_of("6.1")
    pages = _batch(lay, cover)
    raw, n, first = b"".join(pages), len(pages), 0x200 - 257  # the compound head's pfn is 0x200
    chain = pageclass.Chain(lay, 31)
    gaps = pagebatch._gaps(chain, lay, pagebatch.Lanes(raw, n, lay.size), first, n, raw)
    assert gaps == [(0, 1), (256, 301)]
    part = b"".join(raw[a * lay.size : b * lay.size] for a, b in gaps)
    decided = pagebatch._decide(chain, lay, pagebatch.Lanes(part, len(part) // lay.size, lay.size),
                                first, n, raw, gaps)  # fmt: skip
    assert (decided is None) == bool(cover)
    ref: dict[str, list[tuple[int, int]]] = {c: [] for c in pageclass.CLASSES}
    got: dict[str, list[tuple[int, int]]] = {c: [] for c in pageclass.CLASSES}
    pageclass._classify_batch(lay, 31, first, n, raw, ref)
    pagebatch.classify(chain, lay, first, n, raw, got)
    assert {c: extents.normalize(p) for c, p in got.items()} == {c: extents.normalize(p) for c, p in ref.items()}
    free = [(first, first + 256)] + ([] if cover else [(first + 300, first + 556)])
    assert extents.normalize(got["free"]) == free


def test_a_head_beside_a_left_out_block_falls_back_to_the_whole_batch() -> None:
    """A slab compound head that is hugetlb by its next page (6.1: compound_dtor) and carries a free head's
    page type: the chain makes it user data over 8 pages, so its tail is left out of the lanes, where its
    next lane is another page; the lanes do not find it hugetlb, its range is not skipped, and the batch
    is classified whole, as it must be."""
    lay = layout_of("6.1")
    zero = bytes(k.PAGE.size)
    head = k.PAGE.pack(1 << k.PG_HEAD | 1 << k.PG_SLAB, 0, 0, 0, 0, 0, lay.values["BUDDY"], 1, 0)
    second = bytearray(k.PAGE.pack(0, k.tail_mask(1), 0, 0, 0, 0, -1, 0, 0))
    second[16], second[17] = 2, 3  # compound_dtor HUGETLB_PAGE_DTOR, compound_order 3
    pages = [head, bytes(second)] + [zero] * 6 + [_free_head(lay, 8)] + [zero] * 255
    raw, n = b"".join(pages), len(pages)
    chain = pageclass.Chain(lay, 31)
    gaps = pagebatch._gaps(chain, lay, pagebatch.Lanes(raw, n, lay.size), 0x1000, n, raw)
    assert gaps == [(0, 1), (8, 9)]
    part = raw[: lay.size] + raw[8 * lay.size : 9 * lay.size]
    assert pagebatch._decide(chain, lay, pagebatch.Lanes(part, 2, lay.size), 0x1000, n, raw, gaps) is None
    ref: dict[str, list[tuple[int, int]]] = {c: [] for c in pageclass.CLASSES}
    got: dict[str, list[tuple[int, int]]] = {c: [] for c in pageclass.CLASSES}
    pageclass._classify_batch(lay, 31, 0x1000, n, raw, ref)
    pagebatch.classify(chain, lay, 0x1000, n, raw, got)
    assert extents.normalize(ref["user"]) == [(0x1000, 0x1008)]
    assert {c: extents.normalize(p) for c, p in got.items()} == {c: extents.normalize(p) for c, p in ref.items()}
