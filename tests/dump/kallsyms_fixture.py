"""A synthetic kallsyms table, as LNX:scripts/kallsyms.c write_src lays it out (v6.1 and v7.2).

:func:`build` leaves ``kallsyms_markers`` and ``kallsyms_seqs_of_names`` out (the walk needs
neither); :func:`build_ordered` places both in either output order (6.1.60 to 6.3, or 6.4+).

``build`` encodes ``(name, type, address)`` symbols with a small token table (a few multi-character
tokens, the rest single characters) into one blob placed at ``base`` and returns the VMCOREINFO
lines naming its parts.  ``fmt="6.1"``: ``kallsyms_relative_base`` and x86_64's --absolute-percpu
offsets (``relative_base - 1 - offset`` for image symbols, absolute values for per-CPU ones);
``fmt="7.2"``: no relative base, each offset relative to its own slot.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

MULTI = {1: b"T_", 2: b"__", 3: b"start", 4: b"bss_", 5: b"D_"}
NUM, BASE, OFFSETS, NAMES, TABLE, INDEX = 0x0, 0x8, 0x100, 0x400, 0x1000, 0x1A00  # names end at the token table
SIZE = 0x2000  # whole pages

TABLE_VA = 0xFFFFFFFF82000000  # where the tests' tables sit
IMAGE_VA = 0xFFFFFFFF81000000  # _stext of the tests' kernel image
# the section bounds the hold-back reads, at a 6.1 x86_64 image's offsets, in kallsyms order
SECTIONS = [
    ("_stext", "T", IMAGE_VA),
    ("_etext", "T", IMAGE_VA + 0xE01EF2),
    ("__start_rodata", "D", IMAGE_VA + 0x1000000),
    ("__end_rodata", "D", IMAGE_VA + 0x1827000),
    ("_sdata", "D", IMAGE_VA + 0x1A00000),
    ("_edata", "D", IMAGE_VA + 0x1C45E00),
    ("__bss_start", "B", IMAGE_VA + 0x22B1000),
    ("__bss_stop", "B", IMAGE_VA + 0x2800000),
]
# the 6.1 vmcores' decrypted bss: its unused part ends where bss does, on a 2 MiB boundary
DECRYPTED = [
    ("__start_bss_decrypted_unused", "B", IMAGE_VA + 0x2603000),
    ("__end_bss_decrypted", "B", IMAGE_VA + 0x2800000),
]


def tokens() -> list[bytes]:
    return [MULTI.get(b, b"zz" if b == 0 else bytes([b])) for b in range(256)]


def encode(name: bytes) -> bytes:
    toks = tokens()
    longest = sorted(MULTI, key=lambda b: -len(toks[b]))
    out, i = bytearray(), 0
    while i < len(name):
        b = next((b for b in longest if name.startswith(toks[b], i)), name[i])
        out.append(b)
        i += len(toks[b])
    return bytes(out)


def build(symbols: list[tuple[str, str, int]], base: int, fmt: str = "6.1") -> tuple[dict[str, str], bytes]:
    """The blob at virtual ``base`` and its VMCOREINFO lines; symbols sorted by address as the kernel's are."""
    syms = sorted(symbols, key=lambda s: s[2])
    blob = bytearray(SIZE)
    struct.pack_into("<I", blob, NUM, len(syms))
    image = [a for _, t, a in syms if t != "A"]
    relative_base = min(image)
    for i, (_, kind, addr) in enumerate(syms):
        slot = base + OFFSETS + 4 * i
        if fmt == "6.1":
            offset = addr if kind == "A" else relative_base - addr - 1
        else:
            offset = addr - slot
        struct.pack_into("<i", blob, OFFSETS + 4 * i, offset)
    names = bytearray()
    for name, kind, _ in syms:
        enc = encode(kind.encode() + name.encode())
        names += bytes([len(enc)]) + enc
    blob[NAMES : NAMES + len(names)] = names
    table, index = bytearray(), []
    for tok in tokens():
        index.append(len(table))
        table += tok + b"\0"
    blob[INDEX : INDEX + 512] = struct.pack("<256H", *index)
    blob[TABLE : TABLE + len(table)] = table
    info = {
        "SYMBOL(kallsyms_names)": f"{base + NAMES:x}",
        "SYMBOL(kallsyms_num_syms)": f"{base + NUM:x}",
        "SYMBOL(kallsyms_token_table)": f"{base + TABLE:x}",
        "SYMBOL(kallsyms_token_index)": f"{base + INDEX:x}",
        "SYMBOL(kallsyms_offsets)": f"{base + OFFSETS:x}",
    }
    if fmt == "6.1":
        struct.pack_into("<Q", blob, BASE, relative_base)
        info["SYMBOL(kallsyms_relative_base)"] = f"{base + BASE:x}"
    return info, bytes(blob)


def vmcoreinfo_lines(info: dict[str, str]) -> str:
    return "".join(f"{k}={v}\n" for k, v in info.items())


def build_ordered(
    symbols: list[tuple[str, str, int]], base: int, fmt: str = "7.2", order: str = "6.4", align: int = 8
) -> tuple[dict[str, str], bytes, dict[str, int]]:
    """A table with ``kallsyms_markers`` and ``kallsyms_seqs_of_names``, in write_src's output order.

    ``order="6.2"``: offsets, [relative_base], num_syms, names, markers, seqs_of_names, token_table,
    token_index (6.1.60 to 6.3); ``order="6.4"``: num_syms, names, markers, token_table, token_index,
    offsets, [relative_base], seqs_of_names.  Each label is aligned to ``align``; ``fmt`` as in
    :func:`build`.  Returns the VMCOREINFO lines, the blob at ``base`` and each label's offset in it.
    """
    syms = sorted(symbols, key=lambda s: s[2])
    count = len(syms)
    names, markers = bytearray(), []
    for i, (name, kind, _) in enumerate(syms):
        if i % 256 == 0:
            markers.append(len(names))
        enc = encode(kind.encode() + name.encode())
        names += (bytes([len(enc)]) if len(enc) < 0x80 else bytes([len(enc) & 0x7F | 0x80, len(enc) >> 7])) + enc
    by_name = sorted(range(count), key=lambda i: (syms[i][0].encode(), syms[i][2], i))
    table, index = bytearray(), []
    for tok in tokens():
        index.append(len(table))
        table += tok + b"\0"
    sizes = {
        "offsets": 4 * count,
        "relative_base": 8 if fmt == "6.1" else 0,
        "num_syms": 4,
        "names": len(names),
        "markers": 4 * len(markers),
        "seqs_of_names": 3 * count,
        "token_table": len(table),
        "token_index": 512,
    }
    old = ["offsets", "relative_base", "num_syms", "names", "markers", "seqs_of_names", "token_table", "token_index"]
    new = ["num_syms", "names", "markers", "token_table", "token_index", "offsets", "relative_base", "seqs_of_names"]
    at, pos = {}, 0
    for label in old if order == "6.2" else new:
        if sizes[label] or label == "relative_base" and fmt == "6.1":
            pos = -(-pos // align) * align
            at[label] = pos
            pos += sizes[label]
    blob = bytearray(-(-pos // 0x1000) * 0x1000)
    struct.pack_into("<I", blob, at["num_syms"], count)
    blob[at["names"] : at["names"] + len(names)] = names
    struct.pack_into(f"<{len(markers)}I", blob, at["markers"], *markers)
    blob[at["seqs_of_names"] : at["seqs_of_names"] + 3 * count] = b"".join(i.to_bytes(3, "big") for i in by_name)
    blob[at["token_table"] : at["token_table"] + len(table)] = table
    struct.pack_into("<256H", blob, at["token_index"], *index)
    relative_base = min(a for _, t, a in syms if t != "A")
    for i, (_, kind, addr) in enumerate(syms):
        slot = at["offsets"] + 4 * i
        if fmt == "6.1":
            offset = addr if kind == "A" else relative_base - addr - 1
        else:
            offset = addr - (base + slot)
        struct.pack_into("<i", blob, slot, offset)
    if fmt == "6.1":
        struct.pack_into("<Q", blob, at["relative_base"], relative_base)
    named = ["names", "num_syms", "token_table", "token_index", "offsets"] + (["relative_base"] if fmt == "6.1" else [])
    info = {f"SYMBOL(kallsyms_{k})": f"{base + at[k]:x}" for k in named}
    return info, bytes(blob), at


def memory(blob: bytes, base: int = TABLE_VA) -> Callable[[int, int], bytes | None]:
    """A kernel-virtual reader of ``blob`` placed at ``base``."""

    def read(va: int, n: int) -> bytes | None:
        return blob[va - base : va - base + n] if base <= va and va - base + n <= len(blob) else None

    return read
