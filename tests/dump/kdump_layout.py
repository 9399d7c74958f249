"""An independent parser of kdump-compressed files for the tests (docs/reference/dump-formats.md §3.2).

Written from the format description, not from the writer, so that the tests do not check the
writer against itself.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

HEADER = struct.Struct("<8si65s65s65s65s65s65s6xqqIiiIIIIIIi")
SUB = struct.Struct("<QiiQQqQqQqQQQQ")
DESC = struct.Struct("<qIIQ")


@dataclass
class Kdump:
    raw: bytes
    signature: bytes
    header_version: int
    utsname: tuple[bytes, ...]
    tv_sec: int
    tv_usec: int
    status: int
    block_size: int
    sub_hdr_size: int
    bitmap_blocks: int
    max_mapnr: int
    nr_cpus: int
    sub: tuple[int, ...]
    bitmap1: bytes
    bitmap2: bytes
    descs: list[tuple[int, int, int, int]]

    @property
    def dumped(self) -> list[int]:
        return [p for p in range(len(self.bitmap2) * 8) if self.bitmap2[p >> 3] >> (p & 7) & 1]

    @property
    def present(self) -> list[int]:
        return [p for p in range(len(self.bitmap1) * 8) if self.bitmap1[p >> 3] >> (p & 7) & 1]

    def page(self, pfn: int) -> bytes:
        """Decode one dumped page (zlib or raw only: enough for the structural tests)."""
        rank = self.dumped.index(pfn)
        offset, size, flags, _ = self.descs[rank]
        data = self.raw[offset : offset + size]
        if flags & 1:
            return zlib.decompress(data)
        assert flags == 0 and size == self.block_size
        return data


def parse(raw: bytes) -> Kdump:
    h = HEADER.unpack_from(raw, 0)
    bs, sub_blocks, bm_blocks = h[11], h[12], h[13]
    sub = SUB.unpack_from(raw, bs)
    half = bm_blocks * bs // 2
    b1_off = (1 + sub_blocks) * bs
    bitmap1 = raw[b1_off : b1_off + half]
    bitmap2 = raw[b1_off + half : b1_off + 2 * half]
    n = sum(bin(b).count("1") for b in bitmap2)
    desc_off = (1 + sub_blocks + bm_blocks) * bs
    descs = [DESC.unpack_from(raw, desc_off + DESC.size * i) for i in range(n)]
    return Kdump(
        raw,
        h[0],
        h[1],
        tuple(x.rstrip(b"\0") for x in h[2:8]),
        h[8],
        h[9],
        h[10],
        bs,
        sub_blocks,
        bm_blocks,
        h[14],
        h[-1],
        sub,
        bitmap1,
        bitmap2,
        descs,
    )


def read(path: str) -> Kdump:
    with open(path, "rb") as f:
        return parse(f.read())
