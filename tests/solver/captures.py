"""Read the real kernels' captures (tests/captures) into what the solver tests compare against."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from layoutc.model.profile import MemoryMap, MemRange, RangeType

ROOT = Path(__file__).resolve().parents[1] / "captures"
E820_RE = re.compile(r"BIOS-e820: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\]\s+(.*)$", re.M)
SRAT_RE = re.compile(r"SRAT: Node (\d+) PXM \d+ \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\]")
NODE_RANGE_RE = re.compile(r"node +(\d+): \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\]")
MOVABLE_RE = re.compile(r"^\s*\[[ .0-9]+\]\s+Node (\d+): 0x([0-9a-f]+)$")
TOTAL_RE = re.compile(r"Total pages: (\d+)")
HASH_RE = re.compile(r"(Dentry cache|Inode-cache) hash table entries: \d+ \(order: \d+, (\d+) bytes")


@dataclass(frozen=True)
class Capture:
    path: Path
    dmesg: str
    cmdline: str

    @property
    def memory(self) -> MemoryMap:
        """The firmware map (BIOS-e820) with nodes from the SRAT lines."""
        srat = [(int(n), int(a, 16), int(b, 16) + 1) for n, a, b in SRAT_RE.findall(self.dmesg)]
        ranges = []
        for a, b, kind in E820_RE.findall(self.dmesg):
            start, end = int(a, 16), int(b, 16) + 1
            ram = kind.strip() in ("System RAM", "usable")
            if not ram:
                ranges.append(MemRange(start, end, RangeType.RESERVED, None))
                continue
            # One e820 RAM entry may span nodes: the SRAT splits it.
            pieces = [(max(start, s), min(end, e), n) for n, s, e in srat if s < end and start < e]
            for s, e, n in pieces or [(start, end, 0)]:
                ranges.append(MemRange(s, e, RangeType.RAM, n))
        block = int((self.path / "block_size_bytes").read_text().strip(), 16)
        return MemoryMap(tuple(ranges), block, bool(srat))

    @property
    def node_ranges(self) -> list[tuple[int, int, int]]:
        """dmesg "Early memory node ranges": (node, start, end exclusive)."""
        return [(int(n), int(a, 16), int(b, 16) + 1) for n, a, b in NODE_RANGE_RE.findall(self.dmesg)]

    @property
    def movable_starts(self) -> dict[int, int]:
        lines = self.dmesg.splitlines()
        out: dict[int, int] = {}
        for i, line in enumerate(lines):
            if "Movable zone start for each node" in line:
                for follow in lines[i + 1 :]:
                    m = MOVABLE_RE.match(follow)
                    if not m:
                        break
                    out[int(m.group(1))] = int(m.group(2), 16)
        return out

    @property
    def total_pages(self) -> int:
        m = TOTAL_RE.search(self.dmesg)
        assert m
        return int(m.group(1))

    @property
    def hash_bytes(self) -> int:
        return sum(int(b) for _, b in HASH_RE.findall(self.dmesg))

    @property
    def offline(self) -> dict[str, object]:
        return json.loads((self.path / "offline-test.json").read_text())  # type: ignore[no-any-return]

    @property
    def kernel_image(self) -> tuple[int, int]:
        spans = [
            tuple(int(x, 16) for x in line.split(":")[0].strip().split("-"))
            for line in (self.path / "iomem").read_text().splitlines()
            if "Kernel " in line
        ]
        return min(s[0] for s in spans), max(s[1] for s in spans) + 1


ZONEINFO_RE = re.compile(r"^Node (\d+), zone +(\w+)$")


def zoneinfo_present(path: Path) -> dict[tuple[int, str], int]:
    """(node, zone name) -> "present" pages of /proc/zoneinfo, zones with pages only."""
    out: dict[tuple[int, str], int] = {}
    key: tuple[int, str] | None = None
    for line in (path / "zoneinfo").read_text().splitlines():
        m = ZONEINFO_RE.match(line)
        if m:
            key = (int(m.group(1)), m.group(2))
        elif key and line.strip().startswith("present "):
            pages = int(line.split()[1])
            if pages:
                out[key] = pages
            key = None
    return out


def iomem_memory(path: Path) -> MemoryMap:
    """A one-node map from the top-level "System RAM" lines of /proc/iomem (captures without dmesg)."""
    ranges = []
    for line in (path / "iomem").read_text().splitlines():
        if line.startswith(" ") or not line.endswith(": System RAM"):
            continue
        a, b = line.split(" : ")[0].split("-")
        ranges.append(MemRange(int(a, 16), int(b, 16) + 1, RangeType.RAM, 0))
    block = int((path / "block_size_bytes").read_text().strip(), 16)
    return MemoryMap(tuple(ranges), block, False)


def load(name: str) -> Capture:
    path = ROOT / name
    return Capture(path, (path / "dmesg").read_text(), (path / "cmdline").read_text().strip())
