#!/usr/bin/env python3
"""Generate a large synthetic ELF vmcore with realistic page content, for the dumper benchmark.

Content comes in runs of 1-256 pages, each run of one kind (weights below): zero pages (free
memory, often in long runs), code and data pages copied from the ELF binaries and libraries of
this machine, text (man pages and docs, as in the page cache), and random bytes (encrypted or
already compressed data).  Zero runs are written as file holes, so an 8 GiB source uses much less
disk.  No VMCOREINFO: makedumpfile then runs at ``-d 1`` without needing a kernel image.

    python3 bench/dump/make_vmcore.py --size 1G /var/tmp/vmcore-1g
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import struct
from pathlib import Path

PS = 4096
CHUNK_PAGES = 1024
WEIGHTS = {"zero": 45, "binary": 33, "text": 15, "random": 7}
POOL_BYTES = 48 << 20  # per non-zero kind


def pool_binary() -> bytes:
    out = bytearray()
    roots = [Path("/usr/lib/x86_64-linux-gnu"), Path("/usr/bin"), Path("/usr/lib/python3.11")]
    for root in roots:
        for path in sorted(root.rglob("*")):
            if len(out) >= POOL_BYTES:
                return bytes(out)
            try:
                if path.is_file() and not path.is_symlink() and path.stat().st_size > 65536:
                    with open(path, "rb") as f:
                        if f.read(4) == b"\x7fELF":
                            f.seek(0)
                            out += f.read(4 << 20)
            except OSError:
                continue
    return bytes(out)


def pool_text() -> bytes:
    out = bytearray()
    for root in (Path("/usr/share/man"), Path("/usr/share/doc")):
        for path in sorted(root.rglob("*")):
            if len(out) >= POOL_BYTES:
                return bytes(out)
            try:
                if path.suffix == ".gz" and path.is_file():
                    out += gzip.decompress(path.read_bytes())
                elif path.is_file() and path.suffix in ("", ".txt", ".html", ".md"):
                    out += path.read_bytes()
            except (OSError, EOFError, gzip.BadGzipFile):
                continue
    return bytes(out)


def ram_ranges(total: int) -> list[tuple[int, int]]:
    """(start, size) PT_LOADs like an x86 e820 map: low RAM, RAM up to the 3 GiB hole, RAM above 4 GiB."""
    low = (0x1000, 0x9F000 - 0x1000)
    left = total - low[1]
    below = min(left, 0xC0000000 - 0x100000)
    out = [low, (0x100000, below)]
    if left > below:
        out.append((0x100000000, left - below))
    return out


def write(path: str, size: int, seed: int) -> None:
    rng = random.Random(seed)
    pools = {"binary": pool_binary(), "text": pool_text(), "random": rng.randbytes(POOL_BYTES)}
    for k, v in pools.items():
        pools[k] = v[: len(v) - len(v) % PS]
    npages = size // PS
    ranges = ram_ranges(npages * PS)
    note = b""
    for _cpu in range(2):
        desc = bytes(336)
        note += struct.pack("<III", 5, len(desc), 1) + b"CORE\0\0\0\0" + desc
    phnum = 1 + len(ranges)
    data_off = -(-(64 + 56 * phnum + len(note)) // PS) * PS
    with open(path, "wb") as f:
        ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
        f.write(struct.pack("<16sHHIQQQIHHHHHH", ident, 4, 62, 1, 0, 64, 0, 0, 64, 56, phnum, 0, 0, 0))
        f.write(struct.pack("<IIQQQQQQ", 4, 0, 64 + 56 * phnum, 0, 0, len(note), len(note), 0))
        pos = data_off
        for start, s in ranges:
            f.write(struct.pack("<IIQQQQQQ", 1, 7, pos, 0xFFFF888000000000 + start, start, s, s, 0))
            pos += s
        f.write(note)
        f.truncate(pos)
        f.seek(data_off)
        kinds = list(WEIGHTS)
        weights = list(WEIGHTS.values())
        left = npages
        offset = data_off
        run_kind, run_left = "zero", 0
        while left:
            n = min(CHUNK_PAGES, left)
            parts: list[bytes] = []
            zero_only = True
            for _ in range(n):
                if run_left == 0:
                    run_kind = rng.choices(kinds, weights)[0]
                    run_left = rng.randint(1, 256)
                run_left -= 1
                if run_kind == "zero":
                    parts.append(bytes(PS))
                    continue
                zero_only = False
                pool = pools[run_kind]
                at = rng.randrange(len(pool) // PS) * PS
                parts.append(pool[at : at + PS])
            if not zero_only:  # zero chunks stay holes
                f.seek(offset)
                f.write(b"".join(parts))
            offset += n * PS
            left -= n
    os.utime(path)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="1G", help="RAM size: 1G, 8G, 512M")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("output")
    args = p.parse_args()
    units = {"M": 1 << 20, "G": 1 << 30}
    size = int(args.size[:-1]) * units[args.size[-1].upper()]
    write(args.output, size, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
