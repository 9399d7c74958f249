"""The crash kernel's device tree edit, as data: what to add and remove, applied and then verified.

An edit (``schemas/devicetree-edit/v1``) adds one ``pmem-region`` node per window under the root, named
``pmem@<base>`` (DTSpec 2.2.1: the unit address is the first ``reg`` address), with
``compatible = "pmem-region"``, ``reg = <base size>`` in the root's ``#address-cells``/``#size-cells``,
``volatile`` when the window is ordinary DRAM, and ``numa-node-id`` when given (the bindings:
LNX:Documentation/devicetree/bindings/pmem/pmem-region.txt, and
LNX:Documentation/devicetree/bindings/numa.txt for ``numa-node-id``). It
also removes ``/chosen/kaslr-seed`` and ``/chosen/rng-seed``: kexec-tools refuses a second DTB whose
kaslr-seed is not zero (kexec/arch/arm64/kexec-arm64.c setup_2nd_dtb, "kaslr-seed is not wiped to 0"),
takes an absent one as "no kaslr-seed found", and never reads rng-seed, which is the first boot's spent
entropy. Deleting both is the route measured to boot. The edit leaves ``/chosen/linux,elfcorehdr`` and
``/chosen/linux,usable-memory-range`` alone: kexec-tools adds both when it loads a crash kernel
(setup_2nd_dtb, ``on_crash``), and ``bootargs`` and the initrd properties (kexec/dt-ops.c).

``verify`` re-derives the result from the bytes alone: the tree re-parses, every node has the right
compatible, reg, volatile and numa-node-id, no seed is left, and a window that lies inside a memory node
with a ``numa-node-id`` carries the same one (the kmem hand-back rejects a region of node -1).
Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .fdt import parse, serialize
from .tree import FdtError, Node, Property, Tree, encode_reg, reg_pairs

SCHEMA_VERSION = 1
SEEDS = ("kaslr-seed", "rng-seed")
MAX_REGIONS = 16
COMPATIBLE = "pmem-region"
_TOP_KEYS = {"schema_version", "pmem_regions", "remove_seeds"}
_REGION_KEYS = {"base", "size", "volatile", "numa_node_id"}


class EditError(ValueError):
    """An edit document that cannot be used, or a tree the edit cannot be applied to."""


@dataclass(frozen=True)
class PmemRegion:
    """One ``pmem-region`` window: [base, base + size)."""

    base: int
    size: int
    volatile: bool
    numa_node_id: int | None = None

    @property
    def node_name(self) -> str:
        return f"pmem@{self.base:x}"

    @property
    def path(self) -> str:
        return "/" + self.node_name


@dataclass(frozen=True)
class Edit:
    """The whole edit: the windows to declare and whether to remove the boot seeds."""

    pmem_regions: tuple[PmemRegion, ...]
    remove_seeds: bool = True

    def to_json(self) -> dict[str, Any]:
        regions = []
        for r in self.pmem_regions:
            entry: dict[str, Any] = {"base": f"{r.base:#x}", "size": f"{r.size:#x}", "volatile": r.volatile}
            if r.numa_node_id is not None:
                entry["numa_node_id"] = r.numa_node_id
            regions.append(entry)
        return {"schema_version": SCHEMA_VERSION, "pmem_regions": regions, "remove_seeds": self.remove_seeds}


def _hex(value: object, where: str) -> int:
    text = value if isinstance(value, str) else ""
    digits = text[2:] if text[:2] in ("0x", "0X") else ""
    if not digits or len(digits) > 16 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise EditError(f"{where}: {value!r} is not a hexadecimal string of at most 16 digits such as \"0x1000\"")
    return int(digits, 16)


def _keys(doc: object, allowed: set[str], required: set[str], where: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise EditError(f"{where}: expected an object, got {type(doc).__name__}")
    unknown, missing = sorted(set(doc) - allowed), sorted(required - set(doc))
    if unknown or missing:
        raise EditError(f"{where}: unknown keys {unknown}, missing keys {missing}")
    return doc


def _region(doc: object, where: str) -> PmemRegion:
    d = _keys(doc, _REGION_KEYS, {"base", "size", "volatile"}, where)
    base, size = _hex(d["base"], f"{where}.base"), _hex(d["size"], f"{where}.size")
    if size == 0 or base + size > 1 << 64:
        raise EditError(f"{where}: [{base:#x}, +{size:#x}) is empty or ends past 2^64")
    if not isinstance(d["volatile"], bool):
        raise EditError(f"{where}.volatile: expected true or false")
    numa = d.get("numa_node_id")
    if numa is not None and (type(numa) is not int or not 0 <= numa < 0xFFFFFFFF):
        raise EditError(f"{where}.numa_node_id: {numa!r} is not a node number (a u32 below 0xffffffff)")
    return PmemRegion(base, size, d["volatile"], numa)


def edit_from_json(doc: object) -> Edit:
    """The validated ``Edit`` of a parsed JSON document; ``EditError`` says what is wrong and where."""
    d = _keys(doc, _TOP_KEYS, {"schema_version", "pmem_regions"}, "edit")
    if type(d["schema_version"]) is not int or d["schema_version"] != SCHEMA_VERSION:
        raise EditError(f"edit.schema_version: {d['schema_version']!r}; this reader knows {SCHEMA_VERSION}")
    raw = d["pmem_regions"]
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_REGIONS:
        raise EditError(f"edit.pmem_regions: expected a list of 1 to {MAX_REGIONS} regions")
    regions = tuple(_region(r, f"edit.pmem_regions[{i}]") for i, r in enumerate(raw))
    ordered = sorted(regions, key=lambda r: r.base)
    for low, high in zip(ordered, ordered[1:], strict=False):
        if high.base < low.base + low.size:
            raise EditError(f"edit.pmem_regions: {low.node_name} and {high.node_name} overlap")
    remove = d.get("remove_seeds", True)
    if not isinstance(remove, bool):
        raise EditError("edit.remove_seeds: expected true or false")
    return Edit(regions, remove)


def _region_node(region: PmemRegion, root: Node) -> Node:
    address_cells, size_cells = root.cell_widths()
    try:
        reg = encode_reg(((region.base, region.size),), address_cells, size_cells)
    except FdtError as err:
        raise EditError(f"{region.node_name}: {err} (the root has <{address_cells} {size_cells}> cells)") from None
    props = [Property.string("compatible", COMPATIBLE), Property("reg", reg)]
    if region.volatile:
        props.append(Property("volatile"))
    if region.numa_node_id is not None:
        props.append(Property.u32("numa-node-id", region.numa_node_id))
    return Node(region.node_name, tuple(props))


def _other_windows(root: Node, skip: set[str]) -> list[tuple[str, int, int]]:
    """The pmem-region nodes already under the root (name, base, end), except those named in ``skip``."""
    found = []
    for child in root.children:
        if child.name in skip or child.prop("compatible") is None or COMPATIBLE not in child.strings("compatible"):
            continue
        for base, size in reg_pairs(child.prop("reg") or b"", *root.cell_widths()):
            found.append((child.name, base, base + size))
    return found


def apply_to_tree(tree: Tree, edit: Edit) -> Tree:
    """The edited tree (not yet verified); ``EditError`` when the tree cannot take the edit."""
    root = tree.root
    names = {r.node_name for r in edit.pmem_regions}
    for region in edit.pmem_regions:
        existing = root.child(region.node_name)
        if existing is not None and (existing.prop("compatible") or b"").split(b"\0")[0] != COMPATIBLE.encode():
            raise EditError(f"/{region.node_name} exists and is not a {COMPATIBLE}; refusing to replace it")
        for name, base, end in _other_windows(root, names):
            if base < region.base + region.size and region.base < end:
                raise EditError(f"{region.node_name} overlaps the existing {COMPATIBLE} /{name}")
        root = root.with_child(_region_node(region, root))
    chosen = root.child("chosen")
    if edit.remove_seeds and chosen is not None:
        for seed in SEEDS:
            chosen = chosen.without_property(seed)
        root = root.with_child(chosen)
    return replace(tree, root=root)


def apply(data: bytes, edit: Edit) -> bytes:
    """The edited DTB, verified; ``FdtError`` for a bad input blob, ``EditError`` for a refused edit."""
    out = serialize(apply_to_tree(parse(data), edit))
    problems = verify(out, edit)
    if problems:
        raise EditError("the edited tree does not verify: " + "; ".join(problems))
    return out


def _memory_node_of(tree: Tree, region: PmemRegion) -> tuple[str, int] | None:
    """(path, numa-node-id) of a memory node that holds the whole window and names its NUMA node."""
    for child in tree.root.children:
        if child.prop("device_type") != b"memory\0" or not child.has("numa-node-id"):
            continue
        for base, size in reg_pairs(child.prop("reg") or b"", *tree.root.cell_widths()):
            if base <= region.base and region.base + region.size <= base + size:
                return "/" + child.name, child.u32("numa-node-id")
    return None


def _region_problems(tree: Tree, region: PmemRegion) -> list[str]:
    node = tree.find(region.path)
    if node is None:
        return [f"{region.path} is missing"]
    problems = []
    if node.prop("compatible") != Property.string("compatible", COMPATIBLE).value:
        problems.append(f"{region.path}: compatible is {node.prop('compatible')!r}, not {COMPATIBLE!r}")
    if tree.reg(region.path) != ((region.base, region.size),):
        problems.append(f"{region.path}: reg reads back as {tree.reg(region.path)}")
    if node.has("volatile") != region.volatile or node.prop("volatile") not in (None, b""):
        problems.append(f"{region.path}: volatile is {node.prop('volatile')!r}, wanted {region.volatile}")
    numa = node.u32("numa-node-id") if node.has("numa-node-id") else None
    if numa != region.numa_node_id:
        problems.append(f"{region.path}: numa-node-id is {numa}, wanted {region.numa_node_id}")
    memory = _memory_node_of(tree, region)
    if memory is not None and memory[1] != numa:
        problems.append(f"{region.path} lies in {memory[0]} of NUMA node {memory[1]} but has numa-node-id {numa}")
    return problems


def verify(data: bytes, edit: Edit) -> list[str]:
    """What in the DTB ``data`` does not match ``edit`` (empty when it all does); never raises."""
    try:
        tree = parse(data)
        problems = [p for region in edit.pmem_regions for p in _region_problems(tree, region)]
        chosen = tree.find("/chosen")
        if edit.remove_seeds and chosen is not None:
            problems += [f"/chosen/{seed} is still present" for seed in SEEDS if chosen.has(seed)]
    except FdtError as err:
        return [str(err)]
    return problems
