"""Host-side checks of a dump that came out of the guest: kdump header, drgn, comparison with a reference.

The kdump-compressed layout is read from the format description (makedumpfile's ``diskdump_mod.h``):
block 0 the ``disk_dump_header``, then ``sub_hdr_size`` blocks of ``kdump_sub_header`` (``dump_level`` is
its second field), ``bitmap_blocks`` blocks holding bitmap 1 (present) and bitmap 2 (dumped), then one
``page_desc`` (offset, size, flags, page_flags) per dumped page.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layoutc.dump.read.elf_input import parse_vmcoreinfo

HEADER = struct.Struct("<8si65s65s65s65s65s65s6xqqIiiIIIIIIi")
SUB = struct.Struct("<Qi")
DESC = struct.Struct("<qIIQ")
DUMP_DH_COMPRESSED_INCOMPLETE = 0x8


@dataclass(frozen=True, slots=True)
class KdumpInfo:
    release: str
    status: int
    block_size: int
    max_mapnr: int
    dump_level: int
    present: int
    dumped: int
    bitmap2_sha: str
    pages_sha: str  # sha256 over the dumped pages' stored bytes, in pfn order

    @property
    def incomplete(self) -> bool:
        return bool(self.status & DUMP_DH_COMPRESSED_INCOMPLETE)


# disk_dump_header.status bits (makedumpfile diskdump_mod.h): the codec every page_desc of the file uses
STATUS_CODECS = {0x1: "zlib", 0x2: "lzo", 0x4: "snappy", 0x20: "zstd"}


def compression(status: int) -> str:
    """The codec a kdump header's status names (``none`` when no codec bit is set)."""
    names = [name for bit, name in STATUS_CODECS.items() if status & bit]
    return "+".join(names) or "none"


def _popcount(data: bytes) -> int:
    return int.from_bytes(data, "little").bit_count() if data else 0


def read_kdump(path: Path) -> tuple[KdumpInfo, bytes, list[tuple[int, int, int, int]], bytes]:
    """(info, bitmap 2, page descriptors, raw file)."""
    raw = path.read_bytes()
    if raw[:8] != b"KDUMP   ":
        raise ValueError(f"{path}: not a kdump-compressed file (signature {raw[:8]!r})")
    h = HEADER.unpack_from(raw, 0)
    bs, sub_blocks, bm_blocks, status, max_mapnr = h[11], h[12], h[13], h[10], h[14]
    _phys_base, level = SUB.unpack_from(raw, bs)
    half = bm_blocks * bs // 2
    b1 = (1 + sub_blocks) * bs
    bitmap1, bitmap2 = raw[b1 : b1 + half], raw[b1 + half : b1 + 2 * half]
    n = _popcount(bitmap2)
    desc_off = (1 + sub_blocks + bm_blocks) * bs
    descs = [DESC.unpack_from(raw, desc_off + DESC.size * i) for i in range(n)]
    digest = hashlib.sha256()
    for offset, size, flags, _ in descs:
        digest.update(struct.pack("<I", flags))
        digest.update(raw[offset : offset + size])
    info = KdumpInfo(
        h[4].rstrip(b"\0").decode(errors="replace"),
        status,
        bs,
        max_mapnr,
        level,
        _popcount(bitmap1),
        n,
        hashlib.sha256(bitmap2).hexdigest(),
        digest.hexdigest(),
    )
    return info, bitmap2, descs, raw


@dataclass(frozen=True, slots=True)
class Comparison:
    same: bool
    pfns_only_in_a: int
    pfns_only_in_b: int
    pages_differing: int
    summary: str


def compare_dumps(a: Path, b: Path) -> Comparison:
    """Same pages dumped (bitmap 2) with the same stored bytes? Header timestamps do not count."""
    ia, bm_a, desc_a, raw_a = read_kdump(a)
    ib, bm_b, desc_b, raw_b = read_kdump(b)
    if ia.bitmap2_sha == ib.bitmap2_sha and ia.pages_sha == ib.pages_sha:
        return Comparison(True, 0, 0, 0, f"identical: {ia.dumped} pages")
    va, vb = int.from_bytes(bm_a, "little"), int.from_bytes(bm_b, "little")
    only_a, only_b = (va & ~vb).bit_count(), (vb & ~va).bit_count()
    differing = 0
    if only_a == 0 and only_b == 0:
        for (oa, sa, fa, _), (ob, sb, fb, _) in zip(desc_a, desc_b, strict=True):
            if fa != fb or raw_a[oa : oa + sa] != raw_b[ob : ob + sb]:
                differing += 1
    summary = (
        f"{ia.dumped} vs {ib.dumped} pages dumped; {only_a} pfns only in the first, {only_b} only in the "
        f"second; {differing} pages with different contents"
    )
    return Comparison(False, only_a, only_b, differing, summary)


def only_in_first(a: Path, b: Path) -> list[int]:
    """pfns dumped in ``a`` but not in ``b``."""
    _, bm_a, _, _ = read_kdump(a)
    _, bm_b, _, _ = read_kdump(b)
    diff = int.from_bytes(bm_a, "little") & ~int.from_bytes(bm_b.ljust(len(bm_a), b"\0"), "little")
    out: list[int] = []
    while diff:
        low = diff & -diff
        out.append(low.bit_length() - 1)
        diff ^= low
    return out


def vmcoreinfo(raw: bytes) -> dict[str, str]:
    """The VMCOREINFO a dump carries (its text starts with ``OSRELEASE=`` and ends at a NUL or the end of
    ``raw``), parsed as the dumper parses it; empty when ``raw`` holds none."""
    at = raw.find(b"OSRELEASE=")
    if at < 0:
        return {}
    end = raw.find(b"\0", at)
    return parse_vmcoreinfo(raw[at : end if end >= 0 else None])


def vmcoreinfo_symbol(raw: bytes, name: str) -> int | None:
    """``SYMBOL(name)=hex`` from the VMCOREINFO text the dump carries (Debian's System.map is a placeholder)."""
    try:
        return int(vmcoreinfo(raw)[f"SYMBOL({name})"], 16)
    except (KeyError, ValueError):
        return None


def drgn_open(path: Path, release: str, *, absent: tuple[tuple[int, int], ...]) -> tuple[bool, str]:
    """Open ``path`` with drgn; read ``init_uts_ns`` (address from VMCOREINFO, through the dump's own page
    tables) and expect ``Linux`` and ``release``; check that each ``absent`` physical range faults."""
    try:
        import drgn  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return False, "drgn is not importable (pip install drgn; requirements/pip-test.txt)"
    prog: Any = drgn.Program()
    try:
        prog.set_core_dump(str(path))
    except Exception as exc:  # noqa: BLE001 - any drgn failure is the observation
        return False, f"drgn could not open the dump: {exc}"
    with path.open("rb") as fh:
        head = fh.read(1 << 20)
    addr = vmcoreinfo_symbol(head, "init_uts_ns")
    if addr is None:
        return False, "no SYMBOL(init_uts_ns) in the dump's VMCOREINFO"
    notes: list[str] = []
    ok = True
    try:
        uts = bytes(prog.read(addr, 65 * 6 + 64, False))  # new_utsname: sysname, nodename, release, ...
        at = uts.find(b"Linux\0")
        rel = uts[at + 130 : at + 195].split(b"\0")[0].decode(errors="replace") if at >= 0 else ""
        notes.append(f"init_uts_ns (virtual {addr:#x}) reads Linux {rel}")
        ok = rel == release
    except Exception as exc:  # noqa: BLE001
        ok = False
        notes.append(f"init_uts_ns read failed: {type(exc).__name__}: {exc}")
    for start, end in absent:
        try:
            prog.read(start, 4096, True)
            ok = False
            notes.append(f"{start:#x} (excluded by the filter spec) is readable")
        except Exception:  # noqa: BLE001 - drgn.FaultError: excluded as promised
            notes.append(f"{start:#x}..{end:#x} excluded")
    return ok, "; ".join(notes)
