"""Per-page work: zero test and compression, window by window, optionally in worker processes.

The hot loop is C: ``bytes.startswith`` against a page of one repeated byte (no copy) and the
codec on memoryview slices; Python only walks the pages.  Zero pages are skipped; other fill pages
(0xcc of freed init memory, 0xff) reuse the payload computed for the first one.  Worker processes
(one codec context each) compress windows in parallel and the parent writes them in order.
"""

from __future__ import annotations

import struct
import sys
from _operator import getitem  # the C function operator re-exports, without operator.py at start-up
from itertools import compress as selected
from itertools import repeat

from layoutc.dump.extents import Extent
from layoutc.dump.read.physmap import PhysMap, Piece
from layoutc.dump.read.vmcore_source import FileReader
from layoutc.dump.record import Frozen, init
from layoutc.dump.write import compression as codecs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any, Protocol

    from layoutc.dump.read.vmcore_source import Reader

    class Placed(Protocol):
        """A payload a worker process writes to the output itself (:class:`.workers.Placement`)."""

        size: int

        def place(self, offset: int) -> None: ...

        def settle(self) -> None: ...


Run = tuple[int, int, bytes]  # pages [start, end) of a window, all of them this fill page
_page: Callable[[Any, Any], Any] = getitem  # a page of a window: view[cut] (typed loosely: typeshed overloads getitem)

WINDOW_PAGES = 256
"""Pages per window (1 MiB of 4 KiB pages): one read and one result each; small enough that a
page is still in the CPU cache when it is compressed (measured: slightly less CPU than 4 MiB)."""

ZERO = 0
RAW = 1
PACKED = 2


class PageWindow(Frozen):
    """Encoded pages ``[pfn, pfn + npages)``: per page a kind and a payload size."""

    __slots__ = ("pfn", "npages", "kinds", "sizes", "payload", "placed")
    pfn: int
    npages: int
    kinds: bytes  # ZERO, RAW or PACKED per page
    # payload bytes per page (0 for ZERO), format "I": packed by struct, not held in an array.array, whose import
    # loads collections (1.6-1.9 ms of every dump's start-up, measured)
    sizes: memoryview
    payload: bytes  # the pages' payloads, concatenated (empty when ``placed``)
    placed: Placed | None  # the payload, held by the worker process that writes it to the output

    def __init__(
        self, pfn: int, npages: int, kinds: bytes, sizes: memoryview, payload: bytes, placed: Placed | None = None
    ) -> None:
        init(self, pfn=pfn, npages=npages, kinds=kinds, sizes=sizes, payload=payload, placed=placed)


class Encoder(Frozen):
    """How pages are encoded: the codec, and whether zero pages are detected (dump level bit 1)."""

    __slots__ = ("codec_name", "zero_pages", "page_size")
    codec_name: str
    zero_pages: bool
    page_size: int

    def __init__(self, codec_name: str, zero_pages: bool, page_size: int) -> None:
        init(self, codec_name=codec_name, zero_pages=zero_pages, page_size=page_size)

    def encode(
        self, buf: bytes | bytearray | memoryview, pfn: int, npages: int, codec: codecs.Codec,
        pages: list[memoryview] | None = None,
    ) -> PageWindow:  # fmt: skip
        """Encode ``npages`` pages held in ``buf``.

        The pages go through the codec's ``each`` (a ``map``: no Python bytecode per page; the fill pages left out
        with ``itertools.compress``), each a memoryview: of ``pages`` when given (views of ``buf``'s pages made
        once by the reader, :meth:`.FileReader.page_views`), else a slice made by ``getitem`` (about 110
        instructions a page fewer than the bound ``view.__getitem__``, measured with callgrind); the fill pages are
        found run by run (:meth:`_fill_runs`) and go in among the coded pages run by run.  The lengths are taken
        and packed once: each pass over a window's list costs 100-300 instructions a page (callgrind)."""
        compress, each = codec.compress, codec.each
        if compress is None or each is None:
            return self._encode_each(buf, pfn, npages, None)
        ps = self.page_size
        if pages is None or len(pages) != npages:
            pages = list(map(_page, repeat(memoryview(buf)), _slices(npages, ps)))
        kinds = bytearray((PACKED,)) * npages
        runs = self._fill_runs(buf, npages)
        if runs:
            coded = bytearray(b"\x01") * npages
            for start, end, _ in runs:
                coded[start:end] = bytes(end - start)
            packed: list[bytes | memoryview] = list(each(selected(pages, coded)))
            packed, lengths = self._among(packed, list(map(len, packed)), runs, kinds, compress)
        else:
            packed = list(each(pages))
            lengths = list(map(len, packed))
        sizes = struct.pack(f"{npages}I", *lengths)
        if reaches(sizes, ps):  # incompressible pages are stored raw
            for i, size in enumerate(lengths):
                if size >= ps and kinds[i] == PACKED:
                    kinds[i] = RAW
                    packed[i] = pages[i]
                    lengths[i] = ps
            sizes = struct.pack(f"{npages}I", *lengths)
        return PageWindow(pfn, npages, bytes(kinds), memoryview(sizes).cast("I"), b"".join(packed))

    def _among(
        self, packed: list[bytes | memoryview], lengths: list[int], runs: list[Run], kinds: bytearray,
        compress: codecs.Compress,
    ) -> tuple[list[bytes | memoryview], list[int]]:  # fmt: skip
        """The payloads in page order, and their lengths: the coded pages' ``packed`` (of ``lengths``) with each run
        of fill pages in its place (and its kind in ``kinds``): a zero page has none (dump level bit 1), another
        fill page the payload of its first (:func:`_fill_page`)."""
        out: list[bytes | memoryview] = []
        sizes: list[int] = []
        done = at = 0  # coded payloads taken, pages placed
        for start, end, fill in runs:
            out += packed[done : done + start - at]
            sizes += lengths[done : done + start - at]
            done += start - at
            n = end - start
            if self.zero_pages and not fill[0]:
                kinds[start:end] = bytes((ZERO,)) * n
                out += [b""] * n
                sizes += [0] * n
            else:
                kind, got = _fill_page(fill, compress)
                kinds[start:end] = bytes((kind,)) * n
                out += [got] * n
                sizes += [len(got)] * n
            at = end
        out += packed[done:]
        sizes += lengths[done:]
        return out, sizes

    def _fill_runs(self, buf: bytes | bytearray | memoryview, npages: int) -> list[Run]:
        """``(start, end, the fill page)`` of the runs of pages whose bytes are all one value (0x00, 0xcc of
        freed init memory, 0xff...), ascending, each run of one value.

        Only pages whose probe bytes (:func:`_probes`: the last, the middle, and others spread over the
        page) all equal the first are compared whole: on busy machines most pages start and end with the
        same byte (0: 60-70 % of the kept pages of a slab-heavy guest) without being fill pages.  A run of
        such pages that start with the same byte is compared in two calls whatever its length (its first
        page with the fill page, the rest with itself one page on); page by page only when that fails."""
        ps = self.page_size
        stop = npages * ps
        firsts = bytes(buf[0:stop:ps])
        first = int.from_bytes(firsts, "little")
        differ = 0
        for off in _probes(ps):
            differ |= first ^ int.from_bytes(buf[off:stop:ps], "little")
        same = differ.to_bytes(npages, "little")  # a 0 where every probe byte equals the first
        i = same.find(0)
        if i < 0:
            return []
        ends = same.translate(_NONZERO)  # a 1 where some probe byte differs: where a run of candidates ends
        fills = _fills(ps)
        out: list[Run] = []
        while i >= 0:
            end = ends.find(1, i)
            end = npages if end < 0 else end
            while i < end:  # pages [i, j) start with the same byte
                value = firsts[i]
                j = end if firsts.count(value, i, end) == end - i else i + 1
                while j < end and firsts[j] == value:
                    j += 1
                fill = fills[value]
                if fill is None:
                    fill = fills[value] = bytes((value,)) * ps
                _add_fills(buf, i, j, fill, out)
                i = j
            i = same.find(0, end)
        return out

    def _encode_each(
        self, buf: bytes | bytearray | memoryview, pfn: int, npages: int, compress: codecs.Compress | None
    ) -> PageWindow:
        """Page by page (no codec, or pages from a memoryview): the same result as :meth:`encode`."""
        ps = self.page_size
        # bytes and bytearray: startswith compares in place; a memoryview (a mapped window) is compared as the
        # prefix asked of the fill page, also in place.  Either only when the first and last bytes agree.
        data = buf if not isinstance(buf, memoryview) else None
        view = memoryview(buf)
        kinds = bytearray(npages)
        sizes = memoryview(bytearray(4 * npages)).cast("I")
        out: list[bytes | memoryview] = []
        check = self.zero_pages
        fills = _fills(ps)
        last = ps - 1
        for i in range(npages):
            off = i * ps
            first = view[off]
            if view[off + last] == first:
                fill = fills[first]
                if fill is None:
                    fill = fills[first] = bytes((first,)) * ps
                if data.startswith(fill, off) if data is not None else fill.startswith(view[off : off + ps]):
                    # every byte the same: 0x00, 0xcc (freed init text), 0xff...
                    if check and not first:
                        continue  # kinds[i] = ZERO, sizes[i] = 0
                    kind, stored = _fill_page(fill, compress)
                    kinds[i] = kind
                    sizes[i] = len(stored)
                    out.append(stored)
                    continue
            page = view[off : off + ps]
            if compress is not None:
                packed = compress(page)
                if len(packed) < ps:
                    kinds[i] = PACKED
                    sizes[i] = len(packed)
                    out.append(packed)
                    continue
            kinds[i] = RAW
            sizes[i] = ps
            out.append(page)
        return PageWindow(pfn, npages, bytes(kinds), sizes, b"".join(out))


def _add_fills(buf: bytes | bytearray | memoryview, i: int, j: int, fill: bytes, out: list[Run]) -> None:
    """Add to ``out`` the pages of ``[i, j)`` that are ``fill``: the run in two compares when they all are
    (its first page, then the rest against itself one page on), else page by page.  Nothing is copied:
    bytes and bytearray compare in place; a memoryview (a mapped window) is the prefix asked of a page of
    fill bytes (``fill.startswith(page)``: one memcmp, where the memoryview's own == goes byte by byte and a
    copy of each page cost 27 M instructions more on a busy 3 GiB vmcore read with ``--mmap``), a run of zero
    pages at once."""
    ps = len(fill)
    if not isinstance(buf, memoryview):
        starts = buf.startswith
        first = starts(fill, i * ps)
        if first and (j == i + 1 or starts(memoryview(buf)[i * ps : (j - 1) * ps], (i + 1) * ps)):
            out.append((i, j, fill))
            return
        found = [k for k in range(i + 1, j) if starts(fill, k * ps)]  # the first page is not compared twice
        if first:
            found.insert(0, i)
    else:
        if j > i + 1 and not fill[0] and _zeros(ps, j - i).startswith(buf[i * ps : j * ps]):
            out.append((i, j, fill))
            return
        is_fill = fill.startswith
        found = [k for k in range(i, j) if is_fill(buf[k * ps : (k + 1) * ps])]
    for k in found:
        if out and out[-1][1] == k and out[-1][2] is fill:
            out[-1] = (out[-1][0], k + 1, fill)
        else:
            out.append((k, k + 1, fill))


_ZEROS: list[bytes] = [b""]


def _zeros(ps: int, npages: int) -> bytes:
    """At least ``npages`` zero pages (a window's worth, :data:`WINDOW_PAGES`, at first), made once."""
    size = ps * max(npages, WINDOW_PAGES)
    if len(_ZEROS[0]) < ps * npages:
        _ZEROS[0] = bytes(size)
    return _ZEROS[0]


def reaches(sizes: bytes, ps: int) -> bool:
    """Whether a native u32 of ``sizes`` is at least ``ps`` (a power of two, 256 or more), byte column by column:
    a few instructions a value, where ``max`` took about 110."""
    shift = ps.bit_length() - 1
    at, bit = shift // 8, 1 << (shift % 8)
    order = range(4) if sys.byteorder == "little" else range(3, -1, -1)  # byte j of a value is at order[j]
    n = len(sizes) // 4
    for j in range(at + 1, 4):
        if sizes[order[j] :: 4].count(0) != n:
            return True
    return bool(sizes[order[at] :: 4].translate(None, _BELOW[bit]))


_BELOW = {bit: bytes(range(bit)) for bit in (1, 2, 4, 8, 16, 32, 64, 128)}  # the byte values below each bit


_SLICES: dict[tuple[int, int], list[slice]] = {}


def _slices(npages: int, ps: int) -> list[slice]:
    """The slice of each page of a window (made once per window size)."""
    got = _SLICES.get((npages, ps))
    if got is None:
        got = _SLICES[(npages, ps)] = [slice(i * ps, (i + 1) * ps) for i in range(npages)]
    return got


def _probes(ps: int) -> tuple[int, ...]:
    """Offsets in a page whose bytes must all equal its first byte for it to be compared as a fill page: the
    last, quarters and eighths, and odd offsets near both ends (a page of a repeated word differs there)."""
    got = _PROBES.get(ps)
    if got is None:
        spots = (ps - 1, 1, 3, 7, ps // 8 + 5, ps // 4, ps // 2 - 1, ps // 2, 3 * ps // 4 + 3, ps - 2, ps - 9)
        got = _PROBES[ps] = tuple(sorted({o for o in spots if 0 < o < ps}))
    return got


_PROBES: dict[int, tuple[int, ...]] = {}
_NONZERO = bytes([0]) + bytes([1]) * 255  # bytes.translate: 0 stays 0, any other byte becomes 1
_FILLS: dict[int, list[bytes | None]] = {}  # page size -> a page of each byte value, made when first seen


def _fills(ps: int) -> list[bytes | None]:
    got = _FILLS.get(ps)
    if got is None:
        got = _FILLS[ps] = [None] * 256
    return got


_PACKED_FILLS: dict[tuple[bytes, codecs.Compress | None], tuple[int, bytes]] = {}


def _fill_page(page: bytes, compress: codecs.Compress | None) -> tuple[int, bytes]:
    """Kind and payload of a page whose bytes are all equal, compressed once per process.

    The codecs are deterministic, so the cached payload is the one ``compress`` would return.
    """
    key = (page, compress)
    got = _PACKED_FILLS.get(key)
    if got is None:
        packed = compress(page) if compress is not None else page
        got = _PACKED_FILLS[key] = (PACKED, packed) if len(packed) < len(page) else (RAW, page)
    return got


def windows(
    physmap: PhysMap,
    reader: Reader,
    wanted: list[Extent],
    encoder: Encoder,
    workers: int = 1,
    output_fd: int | None = None,
) -> Iterator[PageWindow]:
    """Encoded windows covering ``wanted`` in pfn order; with several ``workers`` and an ``output_fd``
    (:attr:`.sink.Sink.shared_fd`), each window's payload is ``placed``: the worker writes it there."""
    codec = codecs.lookup(encoder.codec_name)
    runs = ((piece, pfn, n) for piece, pfn, n in physmap.runs(wanted, WINDOW_PAGES))
    if workers <= 1 or not isinstance(reader, FileReader):
        for piece, pfn, n in runs:
            yield read_window(physmap, reader, piece, pfn, n, encoder, codec)
        return
    from layoutc.dump.write import workers as children  # only when asked for

    yield from children.windows(physmap, reader, list(runs), encoder, workers, output_fd)


def read_window(
    physmap: PhysMap, reader: Reader, piece: Piece, pfn: int, npages: int, encoder: Encoder, codec: codecs.Codec
) -> PageWindow:
    """Pages ``[pfn, pfn + npages)`` of ``piece`` read and encoded, through the reader's page views when it has
    them for the buffer it read into (:meth:`.FileReader.page_views`)."""
    buf = physmap.read(reader, piece, pfn, npages)
    pages = reader.page_views(buf, encoder.page_size) if isinstance(reader, FileReader) else None
    return encoder.encode(buf, pfn, npages, codec, pages)
