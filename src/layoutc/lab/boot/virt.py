"""arm64 boards: QEMU ``-machine virt`` with a direct ``-kernel`` boot and QEMU's own device tree.

QEMU virt (7.2, measured with Debian's 6.1 and 7.2 arm64 kernels) puts guest RAM at 0x40000000, one
contiguous range of ``-m`` bytes; with ``-numa`` the nodes follow each other in order (node0 from 0x40000000,
node1 right after it), each a DT memory node with ``numa-node-id``. arm64 has no ``memmap=`` to carve or move
RAM and ``-dtb`` cannot shrink it (QEMU re-creates the memory nodes from ``-m``), so a board whose RAM starts
elsewhere, or has holes, cannot be emulated faithfully: the lab says so and boots nothing.

The CPU is ``-cpu max,pauth-impdef=on`` (the QARMA pointer-authentication emulation of plain ``max`` makes TCG
boots 3x slower), under TCG with ``-smp 1``; the console is the PL011 (``console=ttyAMA0``).
"""

from __future__ import annotations

from layoutc.lab.boot.machine import GiB, Machine, host_ram_budget
from layoutc.model.intervals import merge
from layoutc.model.layout import Layout

VIRT_RAM_BASE = 0x40000000
CONSOLE = "ttyAMA0"


def virt_machine(layout: Layout, *, budget: int | None = None) -> Machine:
    """The QEMU virt machine for an arm64 ``layout``, or why there is none (``unfaithful``)."""
    ram = merge([(e.start, e.end) for e in layout.memory.ram])
    if not ram:
        return Machine(0, (), (), ("memory.map has no ram entries",), (), "virt")
    unfaithful: list[str] = []
    if ram[0][0] != VIRT_RAM_BASE:
        unfaithful.append(
            f"RAM starts at {ram[0][0]:#x}: QEMU virt's RAM starts at {VIRT_RAM_BASE:#x} and arm64 has no memmap= "
            "to move it, so this board cannot be emulated"
        )
    if len(ram) > 1:
        holes = ", ".join(f"[{a[1]:#x}, {b[0]:#x})" for a, b in zip(ram, ram[1:], strict=False))
        unfaithful.append(f"RAM has holes ({holes}): QEMU virt's RAM is one range and arm64 has no memmap= to carve it")
    size = ram[-1][1] - VIRT_RAM_BASE
    budget = host_ram_budget() if budget is None else budget
    if size > budget:
        unfaithful.append(
            f"needs {size / GiB:.1f} GiB of guest RAM; this host gives a VM at most {budget / GiB:.1f} GiB"
        )
    sizes, problems = _node_sizes(layout, ram[-1][1])
    notes = (f"QEMU virt, {size / GiB:g} GiB at {VIRT_RAM_BASE:#x}, direct -kernel boot with QEMU's device tree",)
    return Machine(size, sizes, (), (*unfaithful, *problems), notes, "virt")


def _node_sizes(layout: Layout, top: int) -> tuple[tuple[int, ...], list[str]]:
    """One ``-numa`` node per profile node, in address order; none for a single node (measured: with one
    ``-numa`` node the 7.2 kernel still says "NUMA: Faking a node", as without)."""
    nodes = sorted(set(layout.memory.nodes))
    if len(nodes) < 2:
        return (), []
    ends = []
    for n in nodes:
        spans = [e.end for e in layout.memory.ram if e.node == n]
        if not spans:
            return (), [f"node {n} has no memory in memory.map"]
        ends.append(max(spans))
    ends[-1] = top
    sizes, prev = [], VIRT_RAM_BASE
    for n, end in zip(nodes, ends, strict=True):
        if end <= prev:
            return (), [f"node {n} is not above the previous node in physical order (QEMU places nodes in order)"]
        sizes.append(end - prev)
        prev = end
    return tuple(sizes), []
