"""The memory facts of the device tree an arm64 kernel booted with (/sys/firmware/fdt, captured as ``fdt.dtb``).

The blob is read by layoutc's own reader (``layoutc.devicetree``); this module picks out what the kernel
reads about memory, the way it reads it (v6.1 and v7.2):

- RAM: every child of the root with ``device_type = "memory"`` that is not ``status = "disabled"``, its
  ``reg`` in the root's ``#address-cells``/``#size-cells``, ranges of size 0 skipped
  (LNX:drivers/of/fdt.c early_init_dt_scan_memory); the node's ``numa-node-id`` is its NUMA node
  (LNX:drivers/of/of_numa.c of_numa_parse_memory_nodes).
- Reservations: the memory reservation block (/memreserve/, memblock_reserve'd: still System RAM) and the
  children of ``/reserved-memory`` with a ``reg`` in that node's cells; ``no-map`` ones leave System RAM
  and show in /proc/iomem as top-level "reserved" (LNX:drivers/of/fdt.c __reserved_mem_reserve_reg, in
  drivers/of/of_reserved_mem.c by 7.2; LNX:arch/arm64/kernel/setup.c request_standard_resources).
  Children with only a ``size`` are placed by the kernel at boot: not part of the board's map.
- Windows: nodes with ``compatible = "pmem-region"``, ``reg`` in the parent's cells, ``volatile`` and
  ``numa-node-id`` (LNX:drivers/nvdimm/of_pmem.c of_pmem_region_probe).
- Crash kernel marks: /chosen ``linux,usable-memory-range`` and ``linux,elfcorehdr``, in the root's cells
  (LNX:drivers/of/fdt.c early_init_dt_check_for_usable_mem_range, early_init_dt_check_for_elfcorehdr),
  which kexec-tools writes only into a crash kernel's tree.

Any fault of the blob is one LC430 diagnostic; nothing here raises for bad input.
"""

from __future__ import annotations

from layoutc.devicetree.fdt import parse
from layoutc.devicetree.tree import FdtError, Node, Tree, reg_pairs
from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.importer import parse_report as report
from layoutc.importer.sysinfo_types import DtMemory, DtRange

MAX_RANGE_END = 1 << 64  # a physical address fits 64 bits (phys_addr_t)


def parse_fdt_memory(blob: bytes, display: str, diags: Diagnostics) -> DtMemory | None:
    """The memory facts of a DTB; None with one LC430 error when the blob or a memory property is malformed."""
    try:
        return _memory(parse(blob))
    except FdtError as exc:
        report.error(
            diags,
            "LC430",
            f"not a usable device tree: {exc}",
            file=display,
            value=exc.message,
            hint="capture /sys/firmware/fdt again as root, byte for byte (layoutc probe --raw DIR does)",
        )
        return None


def _memory(tree: Tree) -> DtMemory:
    root = tree.root
    cells = root.cell_widths()
    memory = tuple(
        r
        for child in root.children
        if _is_memory(child)
        for r in _ranges(child, f"/{child.name}", cells, _node_id(child))
    )
    reserved = [DtRange(a, a + s, "/memreserve/") for a, s in tree.reservations if s]
    holder = root.child("reserved-memory")
    if holder is not None:
        inner = holder.cell_widths()
        for child in holder.children:
            if child.has("reg") and _available(child):
                path = f"/reserved-memory/{child.name}"
                reserved.extend(
                    DtRange(r.start, r.end, path, no_map=child.has("no-map")) for r in _ranges(child, path, inner)
                )
    pmem = tuple(
        DtRange(r.start, r.end, r.path, _node_id(node), volatile=node.has("volatile"))
        for path, node, cells_here in _pmem_nodes(tree)
        for r in _ranges(node, path, cells_here)
    )
    chosen = root.child("chosen")
    usable: tuple[DtRange, ...] = ()
    elfcorehdr = None
    if chosen is not None:
        usable = _ranges(chosen, "/chosen", cells, prop="linux,usable-memory-range")
        headers = _ranges(chosen, "/chosen", cells, prop="linux,elfcorehdr")
        elfcorehdr = headers[0] if headers else None
    model = root.string("model") if root.has("model") else None
    return DtMemory(memory, tuple(reserved), pmem, usable, elfcorehdr, model)


def _is_memory(node: Node) -> bool:
    return node.prop("device_type") == b"memory\0" and _available(node)


def _available(node: Node) -> bool:
    """LNX:drivers/of/fdt.c of_fdt_device_is_available: no status, or "okay"/"ok"."""
    status = node.prop("status")
    return status is None or status in (b"okay\0", b"ok\0")


def _node_id(node: Node) -> int | None:
    return node.u32("numa-node-id") if node.has("numa-node-id") else None


def _pmem_nodes(tree: Tree) -> list[tuple[str, Node, tuple[int, int]]]:
    """Every ``pmem-region`` node with its path and its parent's cell widths."""
    found: list[tuple[str, Node, tuple[int, int]]] = []
    stack: list[tuple[str, Node]] = [("", tree.root)]
    while stack:
        path, node = stack.pop()
        for child in node.children:
            here = f"{path}/{child.name}"
            compatible = child.strings("compatible") if child.has("compatible") else ()
            if "pmem-region" in compatible and child.has("reg") and _available(child):
                found.append((here, child, node.cell_widths()))
            stack.append((here, child))
    return sorted(found, key=lambda item: item[0])


def _ranges(
    node: Node, path: str, cells: tuple[int, int], node_id: int | None = None, prop: str = "reg"
) -> tuple[DtRange, ...]:
    value = node.prop(prop)
    if value is None:
        return ()
    out = []
    for address, size in reg_pairs(value, *cells):
        if size == 0:
            continue
        if address + size > MAX_RANGE_END:
            raise FdtError(f"{prop} of {path} ends past the 64-bit address space: {address:#x} + {size:#x}")
        out.append(DtRange(address, address + size, path, node_id))
    return tuple(out)
