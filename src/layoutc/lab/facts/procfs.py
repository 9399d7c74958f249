"""Parsers for what the guest's kernel exposes: /proc/zoneinfo, iomem, meminfo, dmesg, block lists.

/proc/iomem and /proc/zoneinfo are read by the importer's parsers (the same files a device capture
holds); the rest are the lab's own: meminfo, the guest's block listing, the crash CMA ranges and the
dmesg lines the lab checks (crash reservations and CMA messages, which the importer does not read).
Each parser is pure (text in, frozen data out).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.importer import iomem as importer_iomem
from layoutc.importer import zoneinfo as importer_zoneinfo
from layoutc.importer.sysinfo_types import IomemEntry, ZoneStats

PAGE = 4096


def parse_zoneinfo(text: str) -> tuple[ZoneStats, ...]:
    """/proc/zoneinfo, read by the importer's parser (``importer.zoneinfo``); nothing when it refuses the text."""
    return importer_zoneinfo.parse_zoneinfo(text, "zoneinfo", Diagnostics()) or ()


def movable_starts(zones: tuple[ZoneStats, ...]) -> dict[int, tuple[int, int]]:
    """``node → (start, end)`` of every non-empty ZONE_MOVABLE."""
    out: dict[int, tuple[int, int]] = {}
    for z in zones:
        if z.name == "Movable" and z.spanned > 0 and z.start is not None and z.end is not None:
            out[z.node] = (z.start, z.end)
    return out


def parse_iomem(text: str) -> tuple[IomemEntry, ...]:
    """/proc/iomem, read by the importer's parser (``importer.iomem``; exclusive ends, ``depth`` 0 at the
    top); nothing when it refuses the text."""
    return importer_iomem.parse_iomem(text, "iomem", Diagnostics()) or ()


def resources_named(resources: tuple[IomemEntry, ...], *names: str) -> tuple[IomemEntry, ...]:
    return tuple(r for r in resources if r.name in names)


def parse_meminfo(text: str) -> dict[str, int]:
    """``/proc/meminfo`` in bytes (values given in kB are multiplied out)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        m = re.match(r"^(\S+):\s+(\d+)(?:\s+kB)?\s*$", line)
        if m:
            out[m.group(1)] = int(m.group(2)) * (1024 if line.rstrip().endswith("kB") else 1)
    return out


@dataclass(frozen=True, slots=True)
class Block:
    index: int
    state: str
    node: int
    zones: str


def parse_blocks(text: str) -> tuple[Block, ...]:
    """Our guest's block listing: ``index state node valid_zones`` per line."""
    out: list[Block] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].isdigit():
            out.append(Block(int(parts[0]), parts[1], int(parts[2]), parts[3] if len(parts) > 3 else ""))
    return tuple(sorted(out, key=lambda b: b.index))


@dataclass(frozen=True, slots=True)
class GuestDmesgFacts:
    movable_starts: dict[int, int]  # "Movable zone start for each node"
    crash_reserved: tuple[tuple[int, int], ...]  # "crashkernel reserved: 0x… - 0x…" (exclusive end)
    crash_low_reserved: tuple[tuple[int, int], ...]
    crash_failures: tuple[str, ...]
    cma_reserved: tuple[int, int] | None  # (MiB, ranges) from "crashkernel CMA reserved: N MB in K ranges"
    cma_messages: tuple[str, ...]  # every crashkernel/CMA warning or activation failure
    e820_user: bool  # "user-defined physical RAM map" printed
    kaslr_aborted: bool


_TS = r"^(?:<\d+>)?(?:\[\s*[\d.]+\] ?)?"


def parse_dmesg(text: str) -> GuestDmesgFacts:
    movable: dict[int, int] = {}
    crash: list[tuple[int, int]] = []
    low: list[tuple[int, int]] = []
    failures: list[str] = []
    cma_messages: list[str] = []
    cma: tuple[int, int] | None = None
    in_movable = False
    for raw in text.splitlines():
        line = re.sub(_TS, "", raw).rstrip()
        if line.startswith("Movable zone start for each node"):
            in_movable = True
            continue
        if in_movable:
            m = re.match(r"^\s*Node (\d+): (0x[0-9a-fA-F]+)$", line)
            if m:
                movable[int(m.group(1))] = int(m.group(2), 16)
                continue
            in_movable = False
        m = re.search(r"crashkernel (low memory )?reserved: (0x[0-9a-f]+) - (0x[0-9a-f]+)", line)
        if m:
            # the kernel prints the exclusive end (crash_base + crash_size)
            (low if m.group(1) else crash).append((int(m.group(2), 16), int(m.group(3), 16)))
            continue
        m = re.search(r"Reserving (\d+)MB of (low )?memory at (\d+)MB for crashkernel", line)  # x86 before 6.7
        if m:
            base, size = int(m.group(3)) << 20, int(m.group(1)) << 20
            (low if m.group(2) else crash).append((base, base + size))
            continue
        m = re.search(r"crashkernel CMA reserved: (\d+) MB in (\d+) ranges", line)
        if m:
            cma = (int(m.group(1)), int(m.group(2)))
        if "cannot allocate crashkernel" in line or "crashkernel reservation failed" in line:
            failures.append(line.strip())
        if ("CMA" in line and "crashkernel" in line) or "could not be activated" in line:
            cma_messages.append(line.strip())
    return GuestDmesgFacts(
        movable_starts=movable,
        crash_reserved=tuple(crash),
        crash_low_reserved=tuple(low),
        crash_failures=tuple(failures),
        cma_reserved=cma,
        cma_messages=tuple(cma_messages),
        e820_user="user-defined physical RAM map" in text,
        kaslr_aborted="Aborted memory entries scan" in text,
    )


def parse_cma_ranges(text: str) -> tuple[tuple[int, int], ...]:
    """``/sys/kernel/kexec_crash_cma_ranges``: ``start-end`` per line, inclusive end (exclusive here)."""
    out: list[tuple[int, int]] = []
    for line in text.splitlines():
        m = re.match(r"^\s*([0-9a-fA-F]+)-([0-9a-fA-F]+)\s*$", line)
        if m:
            out.append((int(m.group(1), 16), int(m.group(2), 16) + 1))
    return tuple(out)
