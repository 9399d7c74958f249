"""Board emulation: a QEMU machine whose kernel-visible memory map matches the profile's.

QEMU's own e820 (SeaBIOS, QEMU 7.x; checked against the QEMU captures in tests/captures) for R bytes of RAM:

* ``-machine pc``: ``lowmem = 0xc0000000`` when R >= 0xe0000000 (gigabyte-aligned PCI hole), else R;
* ``-machine q35``: ``lowmem = 0x80000000`` when R >= 0xb0000000, else R (and 0xb0000000+ is PCIe ECAM);
* RAM ``[0, 0x9fc00)``, ``[0x100000, lowmem - 0x20000)`` (SeaBIOS keeps the top 128 KiB for its tables),
  and ``[4 GiB, 4 GiB + R - lowmem)`` when R > lowmem.

The machine type whose map equals the profile's RAM (above 1 MiB, where firmware details differ harmlessly)
is used as it is. Otherwise the profile's RAM must lie inside QEMU's, and what QEMU has as RAM but the profile
does not is carved out with ``memmap=SIZE$START`` (``#`` for ACPI entries). Not ``memmap=exactmap``: measured
on 6.1 and 7.2, the boot decompressor stops reading memmap= at ``exactmap``, so physical KASLR put the kernel
image into a range the imposed map removed (docs/lab.md). KASLR avoids at most 4 memmap= ranges.

NUMA nodes are carved from guest RAM in address order (QEMU's SRAT walks the RAM, skipping the PCI hole), so
a node that ends at physical address P gets ``ram_offset(P) - ram_offset(previous end)`` bytes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from layoutc.model.intervals import merge, subtract
from layoutc.model.layout import Layout
from layoutc.model.profile import MemRange

GiB = 1 << 30
MiB = 1 << 20
FOUR_G = 4 * GiB
LOW_1M = MiB
SEABIOS_TOP = 0x20000  # SeaBIOS reserves the top 128 KiB of low RAM
CMDLINE_MAX = 2048  # x86 COMMAND_LINE_SIZE
KASLR_MEMMAP_MAX = 4  # arch/x86/boot/compressed/kaslr.c MAX_MEMMAP_REGIONS
_CARVE_OP = {"acpi": "#", "pmem": "!"}  # everything else that is not RAM becomes reserved ($)
# machine type → (RAM size from which the PCI hole is fixed, lowmem then)
MACHINE_TYPES = {"pc": (0xE0000000, 0xC0000000), "q35": (0xB0000000, 0x80000000)}


@dataclass(frozen=True, slots=True)
class Machine:
    """How to start QEMU for a profile, or why it cannot be done faithfully (``unfaithful`` non-empty)."""

    ram: int
    node_sizes: tuple[int, ...]  # empty: no -numa (no SRAT)
    memmap: tuple[str, ...]  # cmdline words carving the map (empty when QEMU's own map matches)
    unfaithful: tuple[str, ...]
    notes: tuple[str, ...]
    type: str = "pc"  # QEMU -machine


def lowmem(ram: int, mtype: str = "pc") -> int:
    threshold, low = MACHINE_TYPES[mtype]
    return low if ram >= threshold else ram


def qemu_ram_ranges(ram: int, mtype: str = "pc") -> list[tuple[int, int]]:
    """QEMU/SeaBIOS e820 RAM ranges ``[(start, end)]`` for ``-machine TYPE -m ram``."""
    low = lowmem(ram, mtype)
    ranges = [(0, 0x9FC00), (LOW_1M, low - SEABIOS_TOP)]
    if ram > low:
        ranges.append((FOUR_G, FOUR_G + ram - low))
    return ranges


def ram_offset(phys: int, ram: int, mtype: str = "pc") -> int:
    """Offset into guest RAM of physical address ``phys`` (inverse of QEMU's placement)."""
    low = lowmem(ram, mtype)
    if phys <= low:
        return phys
    if phys <= FOUR_G:
        return low
    return phys - FOUR_G + low


def _above_1m(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    return list(merge((max(s, LOW_1M), e) for s, e in ranges if e > LOW_1M))


def ram_for(top: int, mtype: str = "pc") -> int:
    """The smallest ``-m`` whose RAM reaches physical address ``top`` on ``-machine mtype``."""
    threshold, low = MACHINE_TYPES[mtype]
    if top <= threshold - SEABIOS_TOP:
        return _round_up(top + SEABIOS_TOP, 2 * MiB)
    return _round_up(max(low + top - FOUR_G, threshold), 2 * MiB)


def _round_up(value: int, align: int) -> int:
    return -(-value // align) * align


def carve_words(entries: Sequence[MemRange], qemu: Sequence[tuple[int, int]]) -> tuple[str, ...]:
    """``memmap=SIZE$START`` (``#`` for ACPI) for every part of QEMU's RAM that is not RAM in the profile.

    kernel-parameters: memmap=nn[KMG]$ss[KMG] marks reserved, #ss ACPI data; the higher e820 type wins over RAM.
    """
    ram = sorted((e.start, e.end) for e in entries if e.type == "ram")
    words = []
    for qs, qe in qemu:
        if qe <= LOW_1M:
            continue
        holes = subtract([(max(qs, LOW_1M), qe)], ram)
        for hs, he in holes:
            typed = next((e for e in entries if e.type != "ram" and e.start <= hs < e.end), None)
            op = _CARVE_OP.get(typed.type, "$") if typed is not None else "$"
            words.append(f"memmap={he - hs:#x}{op}{hs:#x}")
    return tuple(words)


def host_ram_budget() -> int:
    """Largest guest RAM this host gives one VM: ``$LAYOUTC_LAB_MAX_GUEST_RAM`` or half of MemTotal."""
    env = os.environ.get("LAYOUTC_LAB_MAX_GUEST_RAM")
    if env:
        return int(env, 0)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024 // 2
    except OSError:
        pass
    return 8 * GiB


def _node_sizes(layout: Layout, ram: int, mtype: str) -> tuple[tuple[int, ...], list[str]]:
    problems: list[str] = []
    nodes = sorted(set(layout.memory.nodes))
    ends: list[int] = []
    for n in nodes:
        spans = [e.end for e in layout.memory.ranges if e.node == n and e.type != "pmem"]
        if not spans:
            problems.append(f"node {n} has no memory in memory.map")
            return (), problems
        ends.append(max(spans))
    offsets = [ram_offset(end, ram, mtype) for end in ends]
    offsets[-1] = ram
    sizes: list[int] = []
    prev = 0
    for n, off in zip(nodes, offsets, strict=True):
        if off <= prev:
            problems.append(f"node {n} is not above the previous node in physical order (QEMU places nodes in order)")
            return (), problems
        sizes.append(off - prev)
        prev = off
    return tuple(sizes), problems


def _choose_type(wanted: list[tuple[int, int]], top: int) -> tuple[str, int, list[tuple[int, int]]]:
    """The machine type whose own map equals ``wanted``, else the first whose RAM contains it, else pc."""
    candidates = []
    for mtype in MACHINE_TYPES:
        ram = ram_for(top, mtype)
        qemu = _above_1m(qemu_ram_ranges(ram, mtype))
        if qemu == wanted:
            return mtype, ram, qemu
        if all(any(qs <= s and e <= qe for qs, qe in qemu) for s, e in wanted):
            candidates.append((mtype, ram, qemu))
    if candidates:
        return candidates[0]
    ram = ram_for(top)
    return "pc", ram, _above_1m(qemu_ram_ranges(ram))


def machine_for(layout: Layout, *, budget: int | None = None) -> Machine:
    """The QEMU machine that reproduces ``layout``'s first-kernel memory map."""
    if layout.arch == "arm64":
        from layoutc.lab.boot.virt import virt_machine  # virt builds on this module's Machine

        return virt_machine(layout, budget=budget)
    unfaithful: list[str] = []
    notes: list[str] = []
    if layout.arch != "x86_64":
        unfaithful.append(f"arch {layout.arch}: the lab emulates x86_64 (-machine pc/q35) and arm64 (virt) only")
    ram_entries = layout.memory.ram
    if not ram_entries:
        return Machine(0, (), (), ("memory.map has no ram entries",), ())
    wanted = _above_1m([(e.start, e.end) for e in ram_entries])
    mtype, ram, qemu = _choose_type(wanted, max(e.end for e in ram_entries))
    budget = host_ram_budget() if budget is None else budget
    if ram > budget:
        unfaithful.append(
            f"needs {ram / GiB:.1f} GiB of guest RAM; this host gives a VM at most {budget / GiB:.1f} GiB"
        )
    memmap: tuple[str, ...] = ()
    if wanted != qemu:
        outside = [(s, e) for s, e in wanted if not any(qs <= s and e <= qe for qs, qe in qemu)]
        if outside:
            spans = ", ".join(f"[{s:#x}, {e:#x})" for s, e in outside)
            unfaithful.append(f"RAM {spans} is not RAM in QEMU's {mtype} map, so it cannot be imposed")
        memmap = carve_words(layout.memory.ranges, qemu)
        notes.append(f"QEMU's own {mtype} map differs; carved with {' '.join(memmap)}")
        if len(memmap) > KASLR_MEMMAP_MAX and layout.kaslr:
            unfaithful.append(f"{len(memmap)} memmap= ranges: physical KASLR avoids only {KASLR_MEMMAP_MAX}")
    sizes: tuple[int, ...] = ()
    if layout.memory.srat:
        sizes, problems = _node_sizes(layout, ram, mtype)
        unfaithful += problems
    elif len(set(layout.memory.nodes)) > 1:
        unfaithful.append("several nodes without an SRAT cannot be described to the kernel")
    return Machine(ram, sizes, memmap, tuple(unfaithful), tuple(notes), mtype)


def check_cmdline_length(cmdline: str) -> str | None:
    """A problem string when the command line would be truncated (x86 COMMAND_LINE_SIZE = 2048)."""
    if len(cmdline.encode()) >= CMDLINE_MAX:
        return f"command line is {len(cmdline.encode())} bytes; x86 truncates at {CMDLINE_MAX - 1}"
    return None
