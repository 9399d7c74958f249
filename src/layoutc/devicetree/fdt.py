"""The flattened devicetree (DTB) format: read a blob into a frozen ``Tree``, write a ``Tree`` back.

The format is DTSpec v0.4 chapter 5, "Flattened Devicetree (DTB) Format": a 40-byte header (5.2:
magic 0xd00dfeed, totalsize, the offsets of the three blocks, version 17, last_comp_version 16,
boot_cpuid_phys, size_dt_strings, size_dt_struct); the memory reservation block (5.3: 8-aligned
big-endian (address, size) u64 pairs ended by (0, 0); read, as libfdt does, up to the first size 0);
the structure block (5.4: 4-aligned tokens FDT_BEGIN_NODE with the NUL-terminated name, FDT_PROP with
len, nameoff and the value, FDT_END_NODE, FDT_NOP, FDT_END); the strings block (5.5: NUL-terminated
property names).

The reader trusts nothing: every offset and length is checked against its block before it is used,
the nesting depth and the total size are capped, names must be printable, and every fault is an
``FdtError`` carrying the byte offset, never another exception. FDT_NOP tokens (the kernel overwrites
``/chosen/rng-seed`` with them after use, LNX:drivers/of/fdt.c early_init_dt_scan_chosen) are dropped.

The writer lays a tree out as ``dtc -I dtb -O dtb`` does: the reservation block right after the header,
then the structure, then the strings, with no free space; each property name is stored once, at the
first offset where it already ends a stored name (dtc's flattree.c stringtable_insert), so the output
is deterministic and byte-for-byte what dtc writes for the same tree.
"""

from __future__ import annotations

import struct

from .tree import FdtError, Node, Property, Tree

FDT_MAGIC = 0xD00DFEED
FDT_BEGIN_NODE, FDT_END_NODE, FDT_PROP, FDT_NOP, FDT_END = 0x1, 0x2, 0x3, 0x4, 0x9  # DTSpec 5.4.1
HEADER = struct.Struct(">10I")
VERSION, LAST_COMP_VERSION = 17, 16
# arm64 booting: the DTB "must not exceed 2 megabytes" (LNX:Documentation/arch/arm64/booting.rst);
# kexec-tools refuses a larger one too (kexec/arch/arm64/kexec-arm64.c arm64_load_other_segments)
MAX_TOTAL_SIZE = 2 << 20
MAX_DEPTH = 64  # the kernel's unflattening depth limit, FDT_MAX_DEPTH (LNX:drivers/of/fdt.c)


def _printable(raw: bytes, what: str, offset: int, *, slash: bool = True) -> str:
    """A name as text: printable ASCII, non-empty, and (for node names) without '/'."""
    if not raw or any(b < 0x21 or b > 0x7E for b in raw) or (not slash and b"/" in raw):
        raise FdtError(f"{what} {raw[:40]!r} is not a printable name", offset)
    return raw.decode("ascii")


class _Reader:
    """One pass over one blob; ``self.pos`` is always an absolute offset into ``self.data``."""

    def __init__(self, data: bytes) -> None:
        if len(data) < HEADER.size:
            raise FdtError(f"a DTB has a {HEADER.size}-byte header; this is {len(data)} bytes", 0)
        fields = HEADER.unpack_from(data, 0)
        magic, total, self.off_struct, self.off_strings, self.off_rsv, version, last_comp = fields[:7]
        self.boot_cpuid, self.size_strings, self.size_struct = fields[7:]
        if magic != FDT_MAGIC:
            raise FdtError(f"bad magic {magic:#010x}, not {FDT_MAGIC:#010x}", 0)
        if version < VERSION or last_comp > VERSION:
            raise FdtError(f"version {version} (last compatible {last_comp}) is not readable as 17", 20)
        if not HEADER.size <= total <= min(len(data), MAX_TOTAL_SIZE):
            raise FdtError(f"totalsize {total} is outside [{HEADER.size}, {min(len(data), MAX_TOTAL_SIZE)}]", 4)
        self.data = data[:total]
        self._block(self.off_struct, self.size_struct, 4, "structure block", 8)
        self._block(self.off_strings, self.size_strings, 1, "strings block", 12)
        self._block(self.off_rsv, 16, 8, "memory reservation block", 16)
        self.struct_end = self.off_struct + self.size_struct
        self.pos = self.off_struct

    def _block(self, offset: int, size: int, align: int, what: str, field_at: int) -> None:
        if offset % align or offset < HEADER.size or offset + size > len(self.data):
            raise FdtError(f"{what} at {offset:#x}+{size:#x} is misaligned or outside the blob", field_at)

    def reservations(self) -> tuple[tuple[int, int], ...]:
        found: list[tuple[int, int]] = []
        at = self.off_rsv
        while True:
            if at + 16 > len(self.data):
                raise FdtError("memory reservation block has no (0, 0) terminator", at)
            address, size = struct.unpack_from(">QQ", self.data, at)
            if size == 0:  # DTSpec says (0, 0); libfdt and the kernel stop at any size 0
                return tuple(found)
            found.append((address, size))
            at += 16

    def u32(self) -> int:
        if self.pos + 4 > self.struct_end:
            raise FdtError("structure block ends inside a token", self.pos)
        (value,) = struct.unpack_from(">I", self.data, self.pos)
        self.pos += 4
        return int(value)

    def node_name(self) -> str:
        end = self.data.find(b"\0", self.pos, self.struct_end)
        if end < 0:
            raise FdtError("node name runs past the structure block", self.pos)
        raw, at = self.data[self.pos : end], self.pos
        self.pos = (end + 4) & ~3
        return "" if not raw else _printable(raw, "node name", at, slash=False)

    def prop(self) -> Property:
        at = self.pos - 4
        length, nameoff = self.u32(), self.u32()
        if length > self.struct_end - self.pos:
            raise FdtError(f"property value of {length} bytes runs past the structure block", at)
        value = self.data[self.pos : self.pos + length]
        self.pos = (self.pos + length + 3) & ~3
        if nameoff >= self.size_strings:
            raise FdtError(f"property name offset {nameoff:#x} is outside the strings block", at + 8)
        start = self.off_strings + nameoff
        end = self.data.find(b"\0", start, self.off_strings + self.size_strings)
        if end < 0:
            raise FdtError("property name runs past the strings block", start)
        return Property(_printable(self.data[start:end], "property name", start), value)


def _close(name: str, props: list[Property], children: list[Node], at: int) -> Node:
    """A finished node; sibling names and property names must be unique (DTSpec 2.2.1, 2.2.4)."""
    for kind, names in (("property", [p.name for p in props]), ("child node", [c.name for c in children])):
        if len(set(names)) != len(names):
            duplicate = next(n for n in names if names.count(n) > 1)
            raise FdtError(f"node {name or '/'!r} has two of {kind} {duplicate!r}", at)
    return Node(name, tuple(props), tuple(children))


def _structure(reader: _Reader) -> Node:
    """The root node from the structure block's tokens (DTSpec 5.4)."""
    stack: list[tuple[str, list[Property], list[Node], int]] = []
    root: Node | None = None
    while True:
        at = reader.pos
        token = reader.u32()
        if token == FDT_NOP:
            continue
        if root is not None:
            if token != FDT_END:
                raise FdtError(f"token {token:#x} after the root node; expected FDT_END", at)
            return root
        if token == FDT_BEGIN_NODE:
            if len(stack) >= MAX_DEPTH:
                raise FdtError(f"nodes nested deeper than {MAX_DEPTH}", at)
            name = reader.node_name()
            if (name == "") != (not stack):
                raise FdtError("the root node must come first and be the only node with an empty name", at)
            stack.append((name, [], [], at))
        elif token == FDT_PROP and stack:
            if stack[-1][2]:
                raise FdtError("property after a child node (DTSpec 5.4.1)", at)
            stack[-1][1].append(reader.prop())
        elif token == FDT_END_NODE and stack:
            node = _close(*stack.pop())
            if stack:
                stack[-1][2].append(node)
            else:
                root = node
        else:
            raise FdtError(f"unexpected token {token:#x}", at)


def parse(data: bytes) -> Tree:
    """The tree in a DTB; an ``FdtError`` (with the byte offset) if it is not a valid one."""
    reader = _Reader(bytes(data))
    reservations = reader.reservations()
    return Tree(_structure(reader), reservations, reader.boot_cpuid)


class _Strings:
    """The strings block as dtc builds it: a name is stored once, found anywhere it ends a stored name."""

    def __init__(self) -> None:
        self.table = bytearray()

    def offset(self, name: str) -> int:
        key = name.encode("ascii") + b"\0"
        found = self.table.find(key)
        if found >= 0:
            return found
        self.table += key
        return len(self.table) - len(key)


def _pad4(raw: bytes) -> bytes:
    return raw + b"\0" * (-len(raw) % 4)


def _emit(node: Node, out: bytearray, strings: _Strings, depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise FdtError(f"nodes nested deeper than {MAX_DEPTH}")
    if depth and "/" in node.name:
        raise FdtError(f"node name {node.name!r} contains '/'")
    name = node.name.encode("ascii")
    if depth:
        _printable(name, "node name", -1, slash=False)
    out += struct.pack(">I", FDT_BEGIN_NODE) + _pad4(name + b"\0")
    seen: set[str] = set()
    for prop in node.properties:
        _printable(prop.name.encode("ascii"), "property name", -1)
        if prop.name in seen:
            raise FdtError(f"node {node.name or '/'!r} has two of property {prop.name!r}")
        seen.add(prop.name)
        out += struct.pack(">III", FDT_PROP, len(prop.value), strings.offset(prop.name)) + _pad4(prop.value)
    if len({c.name for c in node.children}) != len(node.children):
        raise FdtError(f"node {node.name or '/'!r} has two children of one name")
    for child in node.children:
        _emit(child, out, strings, depth + 1)
    out += struct.pack(">I", FDT_END_NODE)


def serialize(tree: Tree) -> bytes:
    """The DTB of ``tree``: version 17, packed, deterministic (dtc's layout; see the module text)."""
    if tree.root.name:
        raise FdtError(f"the root node has the name {tree.root.name!r}; it must be empty")
    body = bytearray()
    strings = _Strings()
    _emit(tree.root, body, strings, 0)
    body += struct.pack(">I", FDT_END)
    if any(size == 0 for _, size in tree.reservations):
        raise FdtError("a memory reservation of size 0 would end the list for every reader")
    rsv = b"".join(struct.pack(">QQ", a, s) for a, s in tree.reservations) + bytes(16)
    off_rsv = HEADER.size
    off_struct = off_rsv + len(rsv)
    off_strings = off_struct + len(body)
    total = off_strings + len(strings.table)
    if total > MAX_TOTAL_SIZE:
        raise FdtError(f"the tree needs {total} bytes, over the {MAX_TOTAL_SIZE}-byte limit")
    header = HEADER.pack(FDT_MAGIC, total, off_struct, off_strings, off_rsv, VERSION, LAST_COMP_VERSION,
                         tree.boot_cpuid_phys, len(strings.table), len(body))
    return header + rsv + bytes(body) + bytes(strings.table)
