"""Per-page work: zero test and compression, window by window, optionally in worker processes.

The hot loop is C: ``bytes.startswith`` against a page of one repeated byte (no copy) and the
codec on memoryview slices; Python only walks the pages.  Zero pages are skipped; other fill pages
(0xcc of freed init memory, 0xff) reuse the payload computed for the first one.  Worker processes
(one codec context each) compress windows in parallel and the parent writes them in order.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator

from layoutc.dump.extents import Extent
from layoutc.dump.read.physmap import PhysMap
from layoutc.dump.read.vmcore_source import FileReader
from layoutc.dump.record import Frozen, init
from layoutc.dump.write import compression as codecs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from layoutc.dump.read.vmcore_source import Reader

WINDOW_PAGES = 256
"""Pages per window (1 MiB of 4 KiB pages): one read and one result each; small enough that a
page is still in the CPU cache when it is compressed (measured: slightly less CPU than 4 MiB)."""

ZERO = 0
RAW = 1
PACKED = 2


class PageWindow(Frozen):
    """Encoded pages ``[pfn, pfn + npages)``: per page a kind and a payload size."""

    __slots__ = ("pfn", "npages", "kinds", "sizes", "payload")
    pfn: int
    npages: int
    kinds: bytes  # ZERO, RAW or PACKED per page
    sizes: array[int]  # payload bytes per page (0 for ZERO)
    payload: bytes  # the pages' payloads, concatenated

    def __init__(self, pfn: int, npages: int, kinds: bytes, sizes: array[int], payload: bytes) -> None:
        init(self, pfn=pfn, npages=npages, kinds=kinds, sizes=sizes, payload=payload)


class Encoder(Frozen):
    """How pages are encoded: the codec, and whether zero pages are detected (dump level bit 1)."""

    __slots__ = ("codec_name", "zero_pages", "page_size")
    codec_name: str
    zero_pages: bool
    page_size: int

    def __init__(self, codec_name: str, zero_pages: bool, page_size: int) -> None:
        init(self, codec_name=codec_name, zero_pages=zero_pages, page_size=page_size)

    def encode(
        self, buf: bytes | bytearray | memoryview, pfn: int, npages: int, compress: codecs.Compress | None
    ) -> PageWindow:
        """Encode ``npages`` pages held in ``buf``.

        The pages go through the codec with ``map`` (no Python bytecode per page); only the pages whose
        first and last bytes agree are looked at one by one, as possible fill pages."""
        if compress is None:
            return self._encode_each(buf, pfn, npages, compress)
        ps = self.page_size
        view = memoryview(buf)
        cuts = _slices(npages, ps)
        kinds = bytearray(bytes((PACKED,)) * npages)
        payloads: list[bytes | memoryview] = [b""] * npages
        plain = list(range(npages))
        fills = self._fill_pages(buf, npages)
        if fills:
            check = self.zero_pages
            for i, fill in fills:
                if check and not fill[0]:
                    kinds[i] = ZERO
                else:
                    kinds[i], payloads[i] = _fill_page(fill, compress)
            taken = {i for i, _ in fills}
            plain = [i for i in plain if i not in taken]
            packed: list[bytes | memoryview] = list(map(compress, map(view.__getitem__, [cuts[i] for i in plain])))
        else:
            packed = list(map(compress, map(view.__getitem__, cuts)))
        sizes = array("I", map(len, packed))
        if sizes and max(sizes) >= ps:  # incompressible pages are stored raw
            for k, size in enumerate(sizes):
                if size >= ps:
                    i = plain[k]
                    kinds[i] = RAW
                    packed[k] = view[cuts[i]]
        if fills:
            for i, got in zip(plain, packed, strict=True):
                payloads[i] = got
        else:
            payloads = packed
        sizes = array("I", map(len, payloads))
        return PageWindow(pfn, npages, bytes(kinds), sizes, b"".join(payloads))

    def _fill_pages(self, buf: bytes | bytearray | memoryview, npages: int) -> list[tuple[int, bytes]]:
        """``(index, the fill page)`` of the pages whose bytes are all equal (0x00, 0xcc, 0xff...)."""
        ps = self.page_size
        stop = npages * ps
        ends = int.from_bytes(buf[0:stop:ps], "little") ^ int.from_bytes(buf[ps - 1 : stop : ps], "little")
        same = ends.to_bytes(npages, "little")  # a 0 where a page's first and last bytes agree
        fills = _fills(ps)
        # bytes and bytearray compare in place; a memoryview (a mapped window) through a copy of the page,
        # which is 20 times faster than its element-wise ==
        starts = None if isinstance(buf, memoryview) else buf.startswith
        view = memoryview(buf)
        out: list[tuple[int, bytes]] = []
        i = same.find(0)
        while i >= 0:
            first = buf[i * ps]
            fill = fills[first]
            if fill is None:
                fill = fills[first] = bytes((first,)) * ps
            if starts(fill, i * ps) if starts is not None else view[i * ps : (i + 1) * ps].tobytes() == fill:
                out.append((i, fill))
            i = same.find(0, i + 1)
        return out

    def _encode_each(
        self, buf: bytes | bytearray | memoryview, pfn: int, npages: int, compress: codecs.Compress | None
    ) -> PageWindow:
        """Page by page (no codec, or pages from a memoryview): the same result as :meth:`encode`."""
        ps = self.page_size
        # bytes and bytearray: startswith compares in place; a memoryview (from another Reader) is
        # compared through a copy of the page.  Either only when the first and last bytes agree.
        data = buf if not isinstance(buf, memoryview) else None
        view = memoryview(buf)
        kinds = bytearray(npages)
        sizes = array("I", bytes(4 * npages))
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
                if data.startswith(fill, off) if data is not None else view[off : off + ps].tobytes() == fill:
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


_SLICES: dict[tuple[int, int], list[slice]] = {}


def _slices(npages: int, ps: int) -> list[slice]:
    """The slice of each page of a window (made once per window size)."""
    got = _SLICES.get((npages, ps))
    if got is None:
        got = _SLICES[(npages, ps)] = [slice(i * ps, (i + 1) * ps) for i in range(npages)]
    return got


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
    physmap: PhysMap, reader: Reader, wanted: list[Extent], encoder: Encoder, workers: int = 1
) -> Iterator[PageWindow]:
    """Encoded windows covering ``wanted`` in pfn order."""
    compress = codecs.lookup(encoder.codec_name).compress
    runs = ((piece, pfn, n) for piece, pfn, n in physmap.runs(wanted, WINDOW_PAGES))
    if workers <= 1 or not isinstance(reader, FileReader):
        for piece, pfn, n in runs:
            yield encoder.encode(physmap.read(reader, piece, pfn, n), pfn, n, compress)
        return
    from layoutc.dump.write import workers as children  # only when asked for

    yield from children.windows(physmap, reader.path, list(runs), encoder, workers)
