"""A tree as devicetree source text (DTSpec v0.4 chapter 6, "Devicetree Source (DTS) Format").

What ``show`` prints: close to ``dtc -I dtb -O dts`` so the two read alike, not meant to be compiled
back. A value prints as strings when it is NUL-terminated printable text, as 32-bit cells when its
length is a multiple of four, and as bytes otherwise (the same guess dtc makes).
"""

from __future__ import annotations

from .tree import Node, Property, Tree


def _as_strings(value: bytes) -> list[str] | None:
    if not value.endswith(b"\0") or value.startswith(b"\0") or b"\0\0" in value:
        return None
    parts = value[:-1].split(b"\0")
    if not all(0x20 <= b < 0x7F for part in parts for b in part):
        return None
    return [part.decode("ascii") for part in parts]


def format_value(value: bytes) -> str:
    """The right-hand side of ``name = ...;`` (empty for a property without a value)."""
    texts = _as_strings(value)
    if texts is not None:
        return ", ".join('"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"' for t in texts)
    if len(value) % 4 == 0:
        cells = (int.from_bytes(value[i : i + 4], "big") for i in range(0, len(value), 4))
        return "<" + " ".join(f"{c:#04x}" for c in cells) + ">"
    return "[" + " ".join(f"{b:02x}" for b in value) + "]"


def _property(prop: Property, indent: str) -> str:
    return f"{indent}{prop.name};" if not prop.value else f"{indent}{prop.name} = {format_value(prop.value)};"


def _node(node: Node, depth: int, out: list[str]) -> None:
    indent = "\t" * depth
    out.append(f"{indent}{node.name or '/'} {{")
    out += [_property(p, indent + "\t") for p in node.properties]
    for child in node.children:
        out.append("")
        _node(child, depth + 1, out)
    out.append(f"{indent}}};")


def to_dts(tree: Tree) -> str:
    """The whole tree as text: the header, the reservations, then the nodes."""
    out = ["/dts-v1/;", ""]
    out += [f"/memreserve/\t{address:#018x} {size:#018x};" for address, size in tree.reservations]
    if tree.reservations:
        out.append("")
    _node(tree.root, 0, out)
    return "\n".join(out) + "\n"
