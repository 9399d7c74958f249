"""Window encoding: the codec mapped over a window against the page-by-page loop (same bytes)."""

from __future__ import annotations

import os
import random
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layoutc.dump.read.vmcore_source import FileReader
from layoutc.dump.write import compression as codecs
from layoutc.dump.write.encode import Encoder, reaches

PS = 4096
KINDS = ["zero", "fill", "random", "text", "almost", "zeros", "fills"]


def page(kind: str, rng: random.Random) -> bytes:
    """One page of ``kind``, or several for a run ("zeros", "fills": 2-9 fill pages of one value)."""
    if kind in ("zeros", "fills"):
        value = 0 if kind == "zeros" else rng.choice([0xCC, 0xFF])
        return bytes((value,)) * (PS * rng.randint(2, 9))
    if kind == "zero":
        return bytes(PS)
    if kind == "fill":
        return bytes((rng.choice([0xCC, 0xFF, 0x01]),)) * PS
    if kind == "random":
        return os.urandom(PS)
    if kind == "almost":  # first and last bytes agree, one byte in between does not
        raw = bytearray(PS)
        raw[rng.randrange(1, PS - 1)] = 7
        return bytes(raw)
    return (b"layoutc %d " % rng.randrange(1000)) * (PS // 12) + bytes(PS % 12 + PS - (PS // 12) * 12 - PS % 12)


@settings(max_examples=60, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=40),
    codec=st.sampled_from(["zlib", "zstd"]),
    zero=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_mapped_and_page_by_page_agree(kinds: list[str], codec: str, zero: bool, seed: int) -> None:
    if codec not in codecs.available():
        pytest.skip(f"no package for {codec}")
    rng = random.Random(seed)
    pages = [page(k, rng) for k in kinds]
    buf = b"".join(p if len(p) > PS else p[:PS].ljust(PS, b"\0") for p in pages)
    npages = len(buf) // PS
    enc = Encoder(codec, zero, PS)
    chosen = codecs.lookup(codec)
    fast = enc.encode(bytearray(buf), 0x100, npages, chosen)
    slow = enc._encode_each(bytearray(buf), 0x100, npages, chosen.compress)
    assert (fast.kinds, list(fast.sizes), fast.payload) == (slow.kinds, list(slow.sizes), slow.payload)
    # a mapped window reaches the encoder as a memoryview into the mapping, never copied
    viewed = enc.encode(memoryview(buf), 0x100, npages, chosen)
    assert (viewed.kinds, list(viewed.sizes), viewed.payload) == (slow.kinds, list(slow.sizes), slow.payload)


def test_runs_of_fill_pages_are_found_whole_and_page_by_page() -> None:
    """A run of pages whose probe bytes agree is compared in two calls; a page in it that is not a fill page
    (one byte off, where no probe looks) sends the run page by page: the same fill pages either way."""
    enc = Encoder("zlib", True, PS)
    cc = bytes((0xCC,)) * PS
    off = bytearray(PS)
    off[100] = 1  # no probe at offset 100
    buf = bytearray(bytes(PS) * 3 + cc * 2 + bytes(PS) + bytes(off) + bytes(PS) * 2 + os.urandom(PS))
    assert enc._fill_runs(buf, 10) == [(0, 3, bytes(PS)), (3, 5, cc), (5, 6, bytes(PS)), (7, 9, bytes(PS))]
    assert enc._fill_runs(bytearray(os.urandom(PS) * 4), 4) == []
    # a mapped window (a memoryview) is compared in place, the same runs
    assert enc._fill_runs(memoryview(bytes(buf)), 10) == enc._fill_runs(buf, 10)


@pytest.mark.parametrize("ps", [4096, 16384, 65536])
def test_a_size_of_a_page_or_more_is_found_in_any_column(ps: int) -> None:
    """The stored-raw test on a window's packed sizes: every size just below the page size passes, the page
    size or more anywhere in the window is found, whichever of its bytes carries it."""
    below = [ps - 1, 0, 1, ps // 2, 255, 256]
    assert not reaches(struct.pack(f"{len(below)}I", *below), ps)
    for big in (ps, ps + 1, ps + 13, 2 * ps, 1 << 24, (1 << 32) - 1):
        for at in range(len(below)):
            sizes = below[:at] + [big] + below[at:]
            assert reaches(struct.pack(f"{len(sizes)}I", *sizes), ps), (big, at)


@pytest.mark.parametrize("name", [n for n in codecs.available() if n != "none"])
def test_each_page_compressed_as_compress_does(name: str) -> None:
    """A codec's ``each`` (what the encoder maps over a window) gives, page by page, what its ``compress`` gives
    for that page alone: zlib's passes the level by position, and a wrong one changes the bytes."""
    codec = codecs.lookup(name)
    assert codec.compress is not None and codec.each is not None
    rng = random.Random(7)
    buf = memoryview(b"".join(page(k, rng)[:PS].ljust(PS, b"\0") for k in KINDS * 2))
    pages = [buf[i : i + PS] for i in range(0, len(buf), PS)]
    assert list(codec.each(pages)) == [codec.compress(p) for p in pages]


def test_page_views_of_the_reused_window_buffer(tmp_path: Path) -> None:
    """The reader reads whole windows into one buffer and makes the views of its pages once; encoding through
    them gives what encoding the window's own bytes gives, window after window (a raw page's view is copied into
    the payload before the next read replaces it)."""
    rng = random.Random(3)
    windows = [b"".join(page(k, rng)[:PS].ljust(PS, b"\0") for k in rng.choices(KINDS, k=8)) for _ in range(5)]
    path = tmp_path / "source"
    path.write_bytes(b"".join(windows) + os.urandom(3 * PS))
    reader = FileReader(str(path), use_mmap=False)
    enc = Encoder("zlib", True, PS)
    codec = codecs.lookup("zlib")
    got, views = [], []
    for k in range(len(windows)):
        buf = reader.read(k * 8 * PS, 8 * PS)
        pages = reader.page_views(buf, PS)
        assert pages is not None and len(pages) == 8
        views.append(pages)
        got.append(enc.encode(buf, k * 8, 8, codec, pages))
    assert all(v is views[0] for v in views)  # made once
    for k, w in enumerate(got):
        want = enc.encode(windows[k], k * 8, 8, codec)
        assert (w.kinds, list(w.sizes), w.payload) == (want.kinds, list(want.sizes), want.payload)
    assert reader.page_views(bytearray(8 * PS), PS) is None  # not the reader's buffer
    assert reader.page_views(reader.read(0, 2 * PS), PS) is None  # a short read: a buffer of its own
    bigger = reader.read(0, 16 * PS)  # a larger window: a new buffer, and new views of it
    assert (pages := reader.page_views(bigger, PS)) is not None and pages is not views[0] and len(pages) == 16
    reader.close()
