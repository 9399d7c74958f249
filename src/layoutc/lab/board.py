"""Board emulation: a QEMU ``-machine pc`` whose kernel-visible memory map matches the profile's.

QEMU's own e820 for ``-machine pc`` with R bytes of RAM (SeaBIOS, QEMU 7.x; checked against the captures):

* ``lowmem = 0xc0000000`` when R >= 0xe0000000 (gigabyte-aligned PCI hole), else R;
* RAM ``[0, 0x9fc00)``, ``[0x100000, lowmem - 0x20000)`` (SeaBIOS keeps the top 128 KiB for its tables),
  and ``[4 GiB, 4 GiB + R - lowmem)`` when R > lowmem.

NUMA nodes are carved from guest RAM in address order (QEMU's SRAT walks the RAM, skipping the PCI hole), so
a node that ends at physical address P gets ``ram_offset(P) - ram_offset(previous end)`` bytes.

When the profile's RAM (above 1 MiB, where firmware details differ harmlessly) differs from QEMU's, the map is
imposed with ``memmap=exactmap`` plus one ``memmap=`` per entry; that needs the profile's RAM inside QEMU's
RAM.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from layoutc.lab.layoutview import LayoutView, MapEntry

GiB = 1 << 30
MiB = 1 << 20
FOUR_G = 4 * GiB
LOW_1M = MiB
SEABIOS_TOP = 0x20000  # SeaBIOS reserves the top 128 KiB of low RAM
CMDLINE_MAX = 2048  # x86 COMMAND_LINE_SIZE
_MEMMAP_OP = {"ram": "@", "acpi": "#", "reserved": "$", "nvs": "$", "unusable": "$", "pmem": "!"}


@dataclass(frozen=True, slots=True)
class Machine:
    """How to start QEMU for a profile, or why it cannot be done faithfully (``unfaithful`` non-empty)."""

    ram: int
    node_sizes: tuple[int, ...]  # empty: no -numa (no SRAT)
    memmap: tuple[str, ...]  # cmdline words imposing the map (empty when QEMU's own map matches)
    unfaithful: tuple[str, ...]
    notes: tuple[str, ...]


def lowmem(ram: int) -> int:
    return 0xC0000000 if ram >= 0xE0000000 else ram


def qemu_ram_ranges(ram: int) -> list[tuple[int, int]]:
    """QEMU/SeaBIOS e820 RAM ranges ``[(start, end)]`` for ``-machine pc -m ram``."""
    low = lowmem(ram)
    ranges = [(0, 0x9FC00), (LOW_1M, low - SEABIOS_TOP)]
    if ram > low:
        ranges.append((FOUR_G, FOUR_G + ram - low))
    return ranges


def ram_offset(phys: int, ram: int) -> int:
    """Offset into guest RAM of physical address ``phys`` (inverse of QEMU's placement)."""
    low = lowmem(ram)
    if phys <= low:
        return phys
    if phys <= FOUR_G:
        return low
    return phys - FOUR_G + low


def _above_1m(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    clipped = [(max(s, LOW_1M), e) for s, e in ranges if e > LOW_1M]
    merged: list[tuple[int, int]] = []
    for s, e in sorted(clipped):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def ram_for(top: int) -> int:
    """The smallest ``-m`` whose RAM reaches physical address ``top``."""
    if top <= 0xE0000000 - SEABIOS_TOP:
        return _round_up(top + SEABIOS_TOP, 2 * MiB)
    return _round_up(max(0xC0000000 + top - FOUR_G, 0xE0000000), 2 * MiB)


def _round_up(value: int, align: int) -> int:
    return -(-value // align) * align


def memmap_words(entries: Sequence[MapEntry]) -> tuple[str, ...]:
    """``memmap=exactmap`` plus one ``memmap=SIZE<op>START`` per entry.

    kernel-parameters: memmap=exactmap, memmap=nn[KMG]@ss[KMG] (RAM), #ss (ACPI), $ss (reserved), !ss (PRAM).
    """
    words = ["memmap=exactmap"]
    for e in sorted(entries, key=lambda e: e.start):
        op = _MEMMAP_OP.get(e.type, "$")
        words.append(f"memmap={e.end - e.start:#x}{op}{e.start:#x}")
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


def _node_sizes(layout: LayoutView, ram: int) -> tuple[tuple[int, ...], list[str]]:
    problems: list[str] = []
    nodes = sorted(set(layout.memory.nodes))
    ends: list[int] = []
    for n in nodes:
        spans = [e.end for e in layout.memory.map if e.node == n and e.type != "pmem"]
        if not spans:
            problems.append(f"node {n} has no memory in memory.map")
            return (), problems
        ends.append(max(spans))
    offsets = [ram_offset(end, ram) for end in ends]
    offsets[-1] = ram
    sizes: list[int] = []
    prev = 0
    for n, off in zip(nodes, offsets, strict=True):
        if off <= prev:
            problems.append(
                f"node {n} is not above the previous node in physical order (QEMU places nodes in order)"
            )
            return (), problems
        sizes.append(off - prev)
        prev = off
    return tuple(sizes), problems


def machine_for(layout: LayoutView, *, budget: int | None = None) -> Machine:
    """The QEMU machine that reproduces ``layout``'s first-kernel memory map."""
    unfaithful: list[str] = []
    notes: list[str] = []
    if layout.arch != "x86_64":
        unfaithful.append(f"arch {layout.arch}: the lab emulates x86_64 (-machine pc) only")
    ram_entries = layout.memory.ram
    if not ram_entries:
        return Machine(0, (), (), ("memory.map has no ram entries",), ())
    top = max(e.end for e in ram_entries)
    ram = ram_for(top)
    budget = host_ram_budget() if budget is None else budget
    if ram > budget:
        unfaithful.append(
            f"needs {ram / GiB:.1f} GiB of guest RAM; this host gives a VM at most {budget / GiB:.1f} GiB"
        )
    qemu = _above_1m(qemu_ram_ranges(ram))
    wanted = _above_1m([(e.start, e.end) for e in ram_entries])
    memmap: tuple[str, ...] = ()
    if wanted != qemu:
        outside = [(s, e) for s, e in wanted if not any(qs <= s and e <= qe for qs, qe in qemu)]
        if outside:
            spans = ", ".join(f"[{s:#x}, {e:#x})" for s, e in outside)
            unfaithful.append(f"RAM {spans} is not RAM in QEMU's pc map, so memmap=exactmap cannot impose it")
        memmap = memmap_words(layout.memory.map)
        notes.append(f"QEMU's own map differs; imposed with memmap=exactmap and {len(memmap) - 1} ranges")
        if len(memmap) - 1 > 4:
            notes.append("more than 4 memmap= ranges: physical KASLR falls back to the default load address")
    sizes: tuple[int, ...] = ()
    if layout.memory.srat:
        sizes, problems = _node_sizes(layout, ram)
        unfaithful += problems
    elif len(set(layout.memory.nodes)) > 1:
        unfaithful.append("several nodes without an SRAT cannot be described to the kernel")
    return Machine(ram, sizes, memmap, tuple(unfaithful), tuple(notes))


def check_cmdline_length(cmdline: str) -> str | None:
    """A problem string when the command line would be truncated (x86 COMMAND_LINE_SIZE = 2048)."""
    if len(cmdline.encode()) >= CMDLINE_MAX:
        return f"command line is {len(cmdline.encode())} bytes; x86 truncates at {CMDLINE_MAX - 1}"
    return None
