"""The frozen device tree: nodes, properties as bytes, and the cell helpers.

What a flattened device tree holds, after DTSpec v0.4 chapter 2 ("The Devicetree"): a root node with an
empty name, each node a unique name among its siblings (2.2.1) and a list of uniquely named properties
whose values are big-endian bytes (2.2.4). A ``reg`` is (address, size) pairs whose widths are the
parent's ``#address-cells`` and ``#size-cells`` (2.3.5: defaults 2 and 1 when absent). Standard library
only: this package ships to devices, which have no dtc.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

MAX_CELLS = 4  # libfdt's FDT_MAX_NCELLS: the most #address-cells / #size-cells a reader accepts
DEFAULT_ADDRESS_CELLS = 2  # DTSpec 2.3.5
DEFAULT_SIZE_CELLS = 1


class FdtError(ValueError):
    """A device tree that cannot be used; ``offset`` is the byte offset of the fault, or -1 for a path."""

    def __init__(self, message: str, offset: int = -1) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset

    def __str__(self) -> str:
        return self.message if self.offset < 0 else f"{self.message} (at byte {self.offset:#x})"


@dataclass(frozen=True)
class Property:
    """One property: a name and its raw big-endian value."""

    name: str
    value: bytes = b""

    @classmethod
    def u32(cls, name: str, *cells: int) -> Property:
        return cls(name, b"".join(c.to_bytes(4, "big") for c in cells))

    @classmethod
    def string(cls, name: str, *texts: str) -> Property:
        return cls(name, b"".join(t.encode("ascii") + b"\0" for t in texts))


@dataclass(frozen=True)
class Node:
    """One node: its name (``""`` for the root), its properties and its children, in stored order."""

    name: str
    properties: tuple[Property, ...] = ()
    children: tuple[Node, ...] = field(default=())

    def prop(self, name: str) -> bytes | None:
        return next((p.value for p in self.properties if p.name == name), None)

    def has(self, name: str) -> bool:
        return any(p.name == name for p in self.properties)

    def child(self, name: str) -> Node | None:
        return next((c for c in self.children if c.name == name), None)

    def cells(self, name: str) -> tuple[int, ...]:
        """The property as 32-bit big-endian cells."""
        value = self._required(name)
        if len(value) % 4:
            raise FdtError(f"property {name!r} of node {self.name or '/'!r} is {len(value)} bytes, not cells")
        return tuple(int.from_bytes(value[i : i + 4], "big") for i in range(0, len(value), 4))

    def u32(self, name: str) -> int:
        cells = self.cells(name)
        if len(cells) != 1:
            raise FdtError(f"property {name!r} of node {self.name or '/'!r} is not one u32")
        return cells[0]

    def u64(self, name: str) -> int:
        value = self._required(name)
        if len(value) != 8:
            raise FdtError(f"property {name!r} of node {self.name or '/'!r} is not one u64")
        return int.from_bytes(value, "big")

    def strings(self, name: str) -> tuple[str, ...]:
        """A string-list property (DTSpec 2.2.4.2: NUL-terminated strings, concatenated)."""
        value = self._required(name)
        if not value.endswith(b"\0"):
            raise FdtError(f"property {name!r} of node {self.name or '/'!r} is not NUL-terminated")
        try:
            return tuple(part.decode("ascii") for part in value[:-1].split(b"\0"))
        except UnicodeDecodeError:
            raise FdtError(f"property {name!r} of node {self.name or '/'!r} is not ASCII text") from None

    def string(self, name: str) -> str:
        return self.strings(name)[0]

    def cell_widths(self) -> tuple[int, int]:
        """(#address-cells, #size-cells) this node gives its children's ``reg``."""
        widths = []
        for name, default in (("#address-cells", DEFAULT_ADDRESS_CELLS), ("#size-cells", DEFAULT_SIZE_CELLS)):
            width = self.u32(name) if self.has(name) else default
            if width > MAX_CELLS:
                raise FdtError(f"{name} = {width} of node {self.name or '/'!r} is over {MAX_CELLS}")
            widths.append(width)
        return widths[0], widths[1]

    def with_property(self, prop: Property) -> Node:
        """This node with ``prop`` set: replaced in place if present, else appended."""
        if self.has(prop.name):
            return replace(self, properties=tuple(prop if p.name == prop.name else p for p in self.properties))
        return replace(self, properties=(*self.properties, prop))

    def without_property(self, name: str) -> Node:
        return replace(self, properties=tuple(p for p in self.properties if p.name != name))

    def with_child(self, node: Node) -> Node:
        """This node with ``node`` as a child: replaced in place if one has its name, else appended."""
        if self.child(node.name) is not None:
            return replace(self, children=tuple(node if c.name == node.name else c for c in self.children))
        return replace(self, children=(*self.children, node))

    def _required(self, name: str) -> bytes:
        value = self.prop(name)
        if value is None:
            raise FdtError(f"node {self.name or '/'!r} has no property {name!r}")
        return value


def reg_pairs(value: bytes, address_cells: int, size_cells: int) -> tuple[tuple[int, int], ...]:
    """(address, size) pairs of a ``reg`` value in the given cell widths (DTSpec 2.3.6)."""
    step = 4 * (address_cells + size_cells)
    if step == 0 or len(value) % step:
        raise FdtError(f"reg of {len(value)} bytes is not whole <{address_cells} {size_cells}> pairs")
    pairs = []
    for i in range(0, len(value), step):
        address = int.from_bytes(value[i : i + 4 * address_cells], "big")
        size = int.from_bytes(value[i + 4 * address_cells : i + step], "big")
        pairs.append((address, size))
    return tuple(pairs)


def encode_reg(pairs: tuple[tuple[int, int], ...], address_cells: int, size_cells: int) -> bytes:
    """The ``reg`` value of (address, size) pairs; a value that does not fit its cells is an error."""
    out = b""
    for address, size in pairs:
        for number, cells, what in ((address, address_cells, "address"), (size, size_cells, "size")):
            if number < 0 or number >= 1 << (32 * cells):
                raise FdtError(f"{what} {number:#x} does not fit in {cells} cell(s)")
            out += number.to_bytes(4 * cells, "big")
    return out


@dataclass(frozen=True)
class Tree:
    """A whole flattened tree: the root, the memory reservation block and the boot CPU."""

    root: Node
    reservations: tuple[tuple[int, int], ...] = ()
    boot_cpuid_phys: int = 0

    def find(self, path: str) -> Node | None:
        """The node at an absolute path (``/chosen``, ``/soc/pmem@0``), or None."""
        if not path.startswith("/"):
            raise FdtError(f"path {path!r} is not absolute")
        node: Node | None = self.root
        for part in (p for p in path.split("/") if p):
            node = node.child(part) if node is not None else None
        return node

    def reg(self, path: str) -> tuple[tuple[int, int], ...]:
        """The ``reg`` pairs of the node at ``path``, read in its parent's cell widths."""
        parent_path, _, _ = path.rstrip("/").rpartition("/")
        parent, node = self.find(parent_path or "/"), self.find(path)
        if parent is None or node is None or node is self.root:
            raise FdtError(f"no node {path!r} with a parent")
        return reg_pairs(node._required("reg"), *parent.cell_widths())

    def walk(self) -> Iterator[tuple[str, Node]]:
        """Every node with its absolute path, depth first in stored order."""
        stack: list[tuple[str, Node]] = [("/", self.root)]
        while stack:
            path, node = stack.pop()
            yield path, node
            prefix = path.rstrip("/") + "/"
            stack.extend((prefix + c.name, c) for c in reversed(node.children))
