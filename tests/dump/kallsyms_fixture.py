"""A synthetic kallsyms table, as LNX:scripts/kallsyms.c write_src lays it out (v6.1 and v7.2).

``build`` encodes ``(name, type, address)`` symbols with a small token table (a few multi-character
tokens, the rest single characters) into one blob placed at ``base`` and returns the VMCOREINFO
lines naming its parts.  ``fmt="6.1"``: ``kallsyms_relative_base`` and x86_64's --absolute-percpu
offsets (``relative_base - 1 - offset`` for image symbols, absolute values for per-CPU ones);
``fmt="7.2"``: no relative base, each offset relative to its own slot.
"""

from __future__ import annotations

import struct

MULTI = {1: b"T_", 2: b"__", 3: b"start", 4: b"bss_", 5: b"D_"}
NUM, BASE, OFFSETS, NAMES, TABLE, INDEX = 0x0, 0x8, 0x100, 0x400, 0x1000, 0x1A00  # names end at the token table
SIZE = 0x2000  # whole pages


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
