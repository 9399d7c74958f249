"""The crashed kernel's never-freed image sections, from its own kallsyms (docs/dumper.md, "The idt_table page").

VMCOREINFO names the kallsyms tables (``SYMBOL(kallsyms_*)``, Linux 6.0+) but not the section
bounds; the table does.  Only the symbols in ``WANTED`` and ``OPTIONAL`` are looked for, first by
binary search of ``kallsyms_seqs_of_names`` where the table has one (6.1.60 and 6.2 on:
:mod:`layoutc.dump.read.kallsyms_seqs`).  When that declines, ``kallsyms_names`` is read as one
blob (it ends before ``kallsyms_token_table`` in every output order), a record whose first token
cannot start a wanted name is stepped over without expanding it, and the walk stops once all are
found.  Every count, length and index is bounded before it is used, so a hostile table ends in a
:class:`Refused` with a reason, never a hang or another exception.

The layout is the kernel's (LNX:kernel/kallsyms.c kallsyms_expand_symbol, kallsyms_sym_address;
LNX:scripts/kallsyms.c write_src; v6.1 and v7.2): ``kallsyms_names`` is one record per symbol, a
length byte (``len & 0x80``: two bytes, ``(len & 0x7F) | next << 7``) and that many token bytes;
token ``b`` is the NUL-terminated string at ``kallsyms_token_table[kallsyms_token_index[b]]``; the
first character of a name is its type.  Addresses: with ``kallsyms_relative_base`` (6.1) a
negative offset is ``relative_base - 1 - offset`` (x86_64 SMP's --absolute-percpu encoding), any
other ``relative_base + offset``; without it (7.2) an offset is relative to its own slot,
``&kallsyms_offsets[i] + offset``.
"""

from __future__ import annotations

import struct

from layoutc.dump import extents
from layoutc.dump.extents import Extent
from layoutc.dump.read.pagetable import PageTable
from layoutc.dump.read.vmcoreinfo import VmcoreInfo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from layoutc.dump.read.pagetable import ReadPhys

    ReadVirt = Callable[[int, int], bytes | None]

SECTIONS = (
    ("_stext", "_etext"),
    ("__start_rodata", "__end_rodata"),
    ("_sdata", "_edata"),
    ("__bss_start", "__bss_stop"),
)
WANTED = tuple(name for pair in SECTIONS for name in pair)
# Ranges inside those sections that the kernel frees after boot, cut out when both bounds exist.
# x86's unused decrypted bss (LNX:arch/x86/mm/mem_encrypt_amd.c mem_encrypt_free_decrypted_mem, from
# free_initmem; the .bss..decrypted output section, PMD-aligned inside .bss:
# LNX:arch/x86/kernel/vmlinux.lds.S BSS_DECRYPTED; v6.1/v7.2). And the alignment gap before it,
# which a 2025 x86 patch frees in mark_rodata_ro ("unused kernel image (bss_decrypted gap)");
# neither v6.1 nor v7.2 has __start_bss_decrypted_gap, so on them nothing is cut there.
FREED = (
    ("__start_bss_decrypted_unused", "__end_bss_decrypted"),
    ("__start_bss_decrypted_gap", "__start_bss_decrypted"),
)
OPTIONAL = tuple(name for pair in FREED for name in pair)
KSYM_NAME_LEN = 512  # LNX:include/linux/kallsyms.h, v6.1/v7.2: no name (nor its encoding) is longer
MAX_SYMS = 1 << 22  # a real table holds about 10^5
MAX_NAMES = 64 << 20  # bytes of kallsyms_names at most (a real one is 1.4-2.8 MiB)
MAX_TOKENS = 1 << 16  # bytes of kallsyms_token_table (a real one is about 1 KiB)
MAX_SPAN = 1 << 30  # KERNEL_IMAGE_SIZE: no section is larger
TYPES = "TtDdBbRrAaVvWw"

S32 = struct.Struct("<i")
U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")



class Refused(Exception):
    """The table cannot be used; ``str()`` says why."""


def keep_pfns(raw_info: dict[str, str], read_phys: ReadPhys, page_size: int) -> tuple[list[Extent], list[str]]:
    """The pfns of the never-freed image sections, and notes.

    ``([], [])`` when VMCOREINFO names no kallsyms table (before Linux 6.0) or no page table; a
    refused table gives no pfns and one note.
    """
    info = VmcoreInfo(raw_info)
    if info.symbol("kallsyms_names") is None:
        return [], []
    table = PageTable.from_vmcoreinfo(info, read_phys)
    if table is None:
        return [], []
    try:
        found = lookup(info, table.read)
        return translate(table, sections(found, page_size), page_size), []
    except Refused as exc:
        return [], [f"kernel image sections not held back from the page classes: {exc}"]


def sections(found: dict[str, int], ps: int = 4096) -> list[tuple[int, int]]:
    """``[start, end)`` virtual ranges of ``SECTIONS``, checked, less the pages the kernel frees."""
    out = []
    for start, end in SECTIONS:
        lo, hi = found[start], found[end]
        if not 0 < hi - lo <= MAX_SPAN:
            raise Refused(f"{start}..{end} is not a section ({lo:#x}..{hi:#x})")
        out.append((lo, hi))
    # A kernel without CONFIG_AMD_MEM_ENCRYPT has no decrypted bss and none of these symbols: nothing to cut.
    for start, end in FREED:
        if start in found and end in found:
            lo, hi = found[start], found[end]
            if not 0 <= hi - lo <= MAX_SPAN:
                raise Refused(f"{start}..{end} is not a range ({lo:#x}..{hi:#x})")
            out = cut(out, -(-lo // ps) * ps, hi - hi % ps)  # whole pages, as free_reserved_area frees
    return out


def cut(ranges: list[tuple[int, int]], lo: int, hi: int) -> list[tuple[int, int]]:
    """``ranges`` without ``[lo, hi)``."""
    out = []
    for start, end in ranges:
        out += [(s, e) for s, e in ((start, min(end, lo)), (max(start, hi), end)) if s < e]
    return out


def translate(table: PageTable, ranges: list[tuple[int, int]], ps: int) -> list[Extent]:
    """Pfn extents of the pages that ``ranges`` touch (unmapped pages left out)."""
    out: list[Extent] = []
    for lo, hi in ranges:
        va, end = lo - lo % ps, hi
        while va < end:
            m = table.mapping(va)
            if m is None:
                va += ps
                continue
            stop = min(end, m.va + m.size)
            pa = m.pa + (va - m.va)
            out.append((pa // ps, -(-(pa + stop - va) // ps)))
            va = stop + (-stop % ps)
    return extents.normalize(out)


def lookup(
    info: VmcoreInfo, read: ReadVirt, wanted: tuple[str, ...] = WANTED, optional: tuple[str, ...] = OPTIONAL
) -> dict[str, int]:
    """Addresses of ``wanted`` (all, or :class:`Refused`) and of those of ``optional`` the table has."""
    keys = ("kallsyms_names", "kallsyms_num_syms", "kallsyms_token_table", "kallsyms_token_index", "kallsyms_offsets")
    maybe = {k: info.symbol(k) for k in keys}
    lacking = [f"SYMBOL({k})" for k, v in maybe.items() if v is None]
    if lacking:
        raise Refused(f"VMCOREINFO lacks {', '.join(lacking)}")
    addr = {k: v for k, v in maybe.items() if v is not None}
    count = _u(read, addr["kallsyms_num_syms"], U32, "kallsyms_num_syms")
    if not 0 < count <= MAX_SYMS:
        raise Refused(f"kallsyms_num_syms is {count}")
    tokens = _tokens(read, addr["kallsyms_token_table"], addr["kallsyms_token_index"])
    names_va, size = addr["kallsyms_names"], addr["kallsyms_token_table"] - addr["kallsyms_names"]
    if not 0 < size <= MAX_NAMES:
        raise Refused(f"kallsyms_names is {size} bytes before kallsyms_token_table")
    base_va = info.symbol("kallsyms_relative_base")
    from layoutc.dump.read import kallsyms_seqs  # it builds on this module

    hits = kallsyms_seqs.search(read, addr, base_va, count, tokens, wanted, optional, TYPES)
    if hits is None:
        blob = read(names_va, size)
        if blob is None:
            raise Refused(f"kallsyms_names at {names_va:#x} ({size} bytes) is not in the dump")
        hits = _walk(blob, count, tokens, wanted + optional)
    found = {name: _address(read, addr["kallsyms_offsets"], base_va, i) for name, i in hits.items()}
    lacking = [n for n in wanted if n not in found]
    if lacking:
        raise Refused(f"kallsyms lacks {', '.join(lacking)}")
    return found


def _walk(blob: bytes, count: int, tokens: list[bytes], names: tuple[str, ...]) -> dict[str, int]:
    """Index of each of ``names`` found in the first ``count`` records of ``blob``.

    A record is expanded only when its first two tokens can begin a wanted name (``pairs``, 64 Ki
    flags); a record of one token or with a two-byte length takes the checked slow path.
    """
    want = {f"{t}{n}".encode(): n for n in names for t in TYPES}
    prefixes = {w[:i] for w in want for i in range(1, len(w) + 1)}
    first = [b for b, tok in enumerate(tokens) if tok and tok in prefixes]
    pairs = bytearray(1 << 16)
    for b in first:
        for c, tok in enumerate(tokens):
            pairs[b << 8 | c] = tokens[b] + tok in prefixes
    found: dict[str, int] = {}
    pos, index = 0, 0
    try:
        for index in range(count):
            n = blob[pos]
            if n < 2 or n & 0x80:
                pos, n = _length(blob, pos, index)
                hit = want.get(b"".join(tokens[b] for b in blob[pos : pos + n]))
            elif pairs[blob[pos + 1] << 8 | blob[pos + 2]]:
                pos += 1
                hit = want.get(b"".join(tokens[b] for b in blob[pos : pos + n]))
            else:
                pos += n + 1
                continue
            if hit is not None and hit not in found:
                found[hit] = index
                if len(found) == len(names):
                    break
            pos += n
    except IndexError:
        raise Refused(f"kallsyms_names runs out at symbol {index} of {count}") from None
    if pos > len(blob):
        raise Refused(f"kallsyms_names runs past kallsyms_token_table ({pos - len(blob)} bytes)")
    return found


def _length(blob: bytes, pos: int, index: int) -> tuple[int, int]:
    """Where the tokens of the record at ``pos`` start, and how many there are (checked)."""
    n = blob[pos]
    if n & 0x80:
        n = (n & 0x7F) | blob[pos + 1] << 7
        pos += 1
    if not 0 < n <= KSYM_NAME_LEN:
        raise Refused(f"symbol {index} is an empty name" if not n else f"symbol {index} is {n} tokens long")
    return pos + 1, n


def _u(read: ReadVirt, va: int, fmt: struct.Struct, what: str) -> int:
    raw = read(va, fmt.size)
    if raw is None:
        raise Refused(f"{what} at {va:#x} is not in the dump")
    return int(fmt.unpack(raw)[0])


def _tokens(read: ReadVirt, table_va: int, index_va: int) -> list[bytes]:
    raw = read(index_va, 512)
    if raw is None:
        raise Refused(f"kallsyms_token_index at {index_va:#x} is not in the dump")
    index = struct.unpack("<256H", raw)
    size = max(index) + KSYM_NAME_LEN
    if size > MAX_TOKENS:
        raise Refused(f"kallsyms_token_index points {max(index)} bytes into the token table")
    blob = _readable(read, table_va, size)
    out = []
    for b, at in enumerate(index):
        end = blob.find(b"\0", at, at + KSYM_NAME_LEN)
        if end < 0:
            raise Refused(f"kallsyms token {b} (at {at}) is not terminated")
        out.append(blob[at:end])
    return out


def _readable(read: ReadVirt, va: int, size: int) -> bytes:
    """Up to ``size`` bytes from ``va``, as far as whole pages of them are in the dump."""
    got = read(va, size)
    if got is not None:
        return got
    out = []
    end = va + size
    while va < end:
        n = min(end, va - va % 4096 + 4096) - va
        page = read(va, n)
        if page is None:
            break
        out.append(page)
        va += n
    return b"".join(out)


def _address(read: ReadVirt, offsets_va: int, base_va: int | None, index: int) -> int:
    slot = offsets_va + 4 * index
    offset = _u(read, slot, S32, "kallsyms_offsets")
    if base_va is None:  # 7.2: relative to its own slot
        return (slot + offset) & (1 << 64) - 1
    base = _u(read, base_va, U64, "kallsyms_relative_base")
    return (base - 1 - offset if offset < 0 else base + offset) & (1 << 64) - 1
