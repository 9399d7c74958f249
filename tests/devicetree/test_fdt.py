"""The DTB reader and writer on small trees built here: round trips, the layout, and every refusal."""

from __future__ import annotations

import struct

import pytest

from layoutc.devicetree import FdtError, Node, Property, Tree, parse, serialize
from layoutc.devicetree.fdt import FDT_NOP, HEADER, MAX_DEPTH, MAX_TOTAL_SIZE
from layoutc.devicetree.tree import encode_reg, reg_pairs

from .conftest import qemu_dtb

SMALL = Tree(
    Node("", (Property.u32("#address-cells", 2), Property.u32("#size-cells", 2), Property.string("model", "t")),
         (Node("memory@40000000", (Property.string("device_type", "memory"),
                                   Property("reg", encode_reg(((0x40000000, 1 << 32),), 2, 2)))),
          Node("chosen", (Property.string("bootargs", "console=ttyAMA0"), Property("kaslr-seed", bytes(8)))))),
    reservations=((0x48000000, 0x1000), (0x1_0000_0000, 0x2000)),
    boot_cpuid_phys=3,
)  # fmt: skip


def header(blob: bytes) -> list[int]:
    return list(HEADER.unpack_from(blob, 0))


def with_header(blob: bytes, index: int, value: int) -> bytes:
    fields = header(blob)
    fields[index] = value
    return HEADER.pack(*fields) + blob[HEADER.size :]


def test_a_tree_round_trips_with_its_reservations_and_boot_cpu() -> None:
    blob = serialize(SMALL)
    assert parse(blob) == SMALL
    assert serialize(parse(blob)) == blob
    magic, total, off_struct, off_strings, off_rsv, version, last_comp, cpu, size_strings, size_struct = header(blob)
    assert (magic, total, version, last_comp, cpu) == (0xD00DFEED, len(blob), 17, 16, 3)
    assert off_rsv == 40 and off_struct == 40 + 16 * 3 and off_strings == off_struct + size_struct
    assert off_strings + size_strings == total


def test_property_names_are_stored_once_and_shared_as_suffixes() -> None:
    root = Node("", (Property.u32("#size-cells", 1), Property.u32("size-cells", 1), Property.u32("#size-cells-x", 1)))
    blob = serialize(Tree(root))
    strings = blob[header(blob)[3] :]
    assert strings == b"#size-cells\0#size-cells-x\0"  # "size-cells" is the tail of "#size-cells"
    assert parse(blob).root == root


def test_cells_strings_and_reg_helpers() -> None:
    tree = parse(serialize(SMALL))
    assert tree.reg("/memory@40000000") == ((0x40000000, 1 << 32),)
    assert tree.root.cell_widths() == (2, 2)
    assert tree.find("/chosen") is not None and tree.find("/chosen").string("bootargs") == "console=ttyAMA0"  # type: ignore[union-attr]
    assert tree.find("/chosen").u64("kaslr-seed") == 0  # type: ignore[union-attr]
    assert tree.find("/nope") is None and tree.find("/chosen/nope") is None
    assert [p for p, _ in tree.walk()] == ["/", "/memory@40000000", "/chosen"]
    assert reg_pairs(bytes.fromhex("00000001 00000002 00000003 00000004"), 1, 1) == ((1, 2), (3, 4))
    assert Node("", ()).cell_widths() == (2, 1)  # DTSpec 2.3.5 defaults
    with pytest.raises(FdtError, match="does not fit"):
        encode_reg(((1 << 32, 1),), 1, 1)
    with pytest.raises(FdtError, match="not whole"):
        reg_pairs(b"\0" * 12, 2, 2)
    with pytest.raises(FdtError, match="not one u32"):
        tree.find("/chosen").u32("kaslr-seed")  # type: ignore[union-attr]
    with pytest.raises(FdtError, match="not cells"):
        tree.root.u32("model")
    with pytest.raises(FdtError, match="no property"):
        tree.root.u32("absent")


def test_nops_are_skipped() -> None:
    """The kernel NOPs /chosen/rng-seed out of its boot tree; such a blob must still read."""
    blob = bytearray(serialize(SMALL))
    off_struct = header(bytes(blob))[2]
    at = blob.index(b"\0\0\0\x03", off_struct + 8)  # the first FDT_PROP: "#address-cells"
    blob[at : at + 16] = struct.pack(">I", FDT_NOP) * 4  # token, len, nameoff and the one cell
    tree = parse(bytes(blob))
    assert not tree.root.has("#address-cells") and tree.root.has("#size-cells")


def test_qemu_blob_with_free_space_reads() -> None:
    blob = qemu_dtb("virt-4G")
    assert header(blob)[1] == len(blob) == 1 << 20
    tree = parse(blob)
    assert tree.find("/chosen").has("kaslr-seed")  # type: ignore[union-attr]
    assert parse(serialize(tree)) == tree


@pytest.mark.parametrize(
    ("corrupt", "message", "offset"),
    [
        (lambda b: b[:20], "40-byte header", 0),
        (lambda b: b"\0" + b[1:], "bad magic", 0),
        (lambda b: with_header(b, 5, 16), "version 16", 20),
        (lambda b: with_header(b, 6, 18), "last compatible 18", 20),
        (lambda b: with_header(b, 1, len(b) + 4), "totalsize", 4),
        (lambda b: with_header(b, 1, 39), "totalsize", 4),
        (lambda b: with_header(b, 2, 3), "structure block", 8),
        (lambda b: with_header(b, 9, 1 << 31), "structure block", 8),
        (lambda b: with_header(b, 3, 1 << 31), "strings block", 12),
        (lambda b: with_header(b, 4, 12), "memory reservation block", 16),
        (lambda b: with_header(b, 8, 0), "outside the strings block", None),
        (lambda b: b[: header(b)[1] - 1], "totalsize", 4),
    ],
)
def test_a_corrupt_header_is_refused_with_its_offset(corrupt: object, message: str, offset: int | None) -> None:
    blob = corrupt(serialize(SMALL))  # type: ignore[operator]
    with pytest.raises(FdtError, match=message) as caught:
        parse(blob)
    if offset is not None:
        assert caught.value.offset == offset
    assert f"{caught.value.offset:#x}" in str(caught.value)


def _root_body(inner: bytes, strings: bytes = b"") -> bytes:
    """A blob whose structure block is BEGIN_NODE("") + inner + END_NODE + END."""
    body = struct.pack(">II", 1, 0) + inner + struct.pack(">II", 2, 9)
    off_struct = HEADER.size + 16
    total = off_struct + len(body) + len(strings)
    head = HEADER.pack(0xD00DFEED, total, off_struct, off_struct + len(body), HEADER.size, 17, 16, 0,
                       len(strings), len(body))  # fmt: skip
    return head + bytes(16) + body + strings


def _node(name: bytes, inner: bytes = b"") -> bytes:
    raw = name + b"\0"
    return struct.pack(">I", 1) + raw + b"\0" * (-len(raw) % 4) + inner + struct.pack(">I", 2)


def _prop(nameoff: int, value: bytes, length: int | None = None) -> bytes:
    head = struct.pack(">III", 3, len(value) if length is None else length, nameoff)
    return head + value + b"\0" * (-len(value) % 4)


@pytest.mark.parametrize(
    ("inner", "strings", "message"),
    [
        (_node(b"a") + _node(b"a"), b"", "two of child node 'a'"),
        (_prop(0, b"") + _prop(0, b""), b"x\0", "two of property 'x'"),
        (_node(b"a") + _prop(0, b""), b"x\0", "property after a child node"),
        (_prop(0, b"", length=1 << 20), b"x\0", "runs past the structure block"),
        (_prop(0, b""), b"xx", "runs past the strings block"),
        (_prop(0, b""), b"\x01\0", "not a printable name"),
        (_node(b"a/b"), b"", "not a printable name"),
        (_node(b""), b"", "only node with an empty name"),
        (struct.pack(">I", 7), b"", "unexpected token 0x7"),
        (_node(b"a", struct.pack(">I", 9)), b"", "unexpected token 0x9"),
    ],
)
def test_a_corrupt_structure_is_refused(inner: bytes, strings: bytes, message: str) -> None:
    with pytest.raises(FdtError, match=message):
        parse(_root_body(inner, strings))


def test_nesting_and_size_are_capped() -> None:
    deep = b""
    for _ in range(MAX_DEPTH):
        deep = _node(b"n", deep)
    with pytest.raises(FdtError, match="nested deeper"):
        parse(_root_body(deep))
    chain = Node("n")
    for _ in range(MAX_DEPTH):
        chain = Node("n", (), (chain,))
    with pytest.raises(FdtError, match="nested deeper"):
        serialize(Tree(Node("", (), (chain,))))
    with pytest.raises(FdtError, match="over the"):
        serialize(Tree(Node("", (Property("big", bytes(MAX_TOTAL_SIZE)),))))


def test_a_blob_without_end_or_after_the_root_is_refused() -> None:
    blob = _root_body(b"")
    no_end = with_header(blob[:-4], 1, len(blob) - 4)
    no_end = with_header(no_end, 9, header(blob)[9] - 4)
    no_end = with_header(no_end, 3, len(blob) - 4)
    with pytest.raises(FdtError, match="ends inside a token"):
        parse(no_end)
    body = struct.pack(">II", 1, 0) + struct.pack(">I", 2) + _node(b"x") + struct.pack(">I", 9)
    total = HEADER.size + 16 + len(body)
    extra = HEADER.pack(0xD00DFEED, total, 56, total, 40, 17, 16, 0, 0, len(body)) + bytes(16) + body
    with pytest.raises(FdtError, match="after the root node"):
        parse(extra)


def test_the_writer_refuses_what_a_reader_would() -> None:
    for root in (Node("x"), Node("", (), (Node("a/b"),)), Node("", (), (Node("a"), Node("a"))),
                 Node("", (Property("p"), Property("p")))):  # fmt: skip
        with pytest.raises(FdtError):
            serialize(Tree(root))


def test_a_reservation_of_size_zero_ends_the_list() -> None:
    """libfdt (fdt_num_mem_rsv) and the kernel stop at the first entry of size 0, whatever its address."""
    blob = bytearray(serialize(SMALL))
    blob[40 + 8 : 40 + 16] = bytes(8)  # the first entry's size
    assert parse(bytes(blob)).reservations == ()
    with pytest.raises(FdtError, match="size 0"):
        serialize(Tree(SMALL.root, ((0x1000, 0),)))
