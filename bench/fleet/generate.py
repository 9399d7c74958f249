"""Write a synthetic fleet of board profiles for the compile benchmark.

    python bench/fleet/generate.py OUT_DIR [COUNT]

Boards vary RAM (2-64 GiB), node count (1-2), strategy (movable, hotplug, cma, disk) and window
size, so the fleet exercises every solver path. Output is deterministic (no randomness).
"""

from __future__ import annotations

import sys
from pathlib import Path

GiB = 1 << 30
MiB = 1 << 20
STRATEGIES = ("movable", "hotplug", "cma-movable", "classic-disk", "cma-disk")


def profile(index: int) -> str:
    ram_gib = (2, 4, 6, 8, 12, 16, 24, 32, 48, 64)[index % 10]
    nodes = 2 if ram_gib >= 8 and index % 3 == 0 else 1
    strategy = STRATEGIES[index % len(STRATEGIES)]
    low_top = 0xBFFE0000 if index % 2 else 0x7FFE0000
    high = ram_gib * GiB - low_top
    block = "2G" if 4 * GiB + high >= 64 * GiB else "128M"
    lines = [
        "schema_version: 1",
        f"board: fleet-{index:03d}",
        f"description: synthetic board {index} ({ram_gib} GiB, {nodes} node(s), {strategy})",
        "kernel:",
        f'  version: "{"7.2" if "cma" in strategy else "6.6"}"',
        "  cmdline: console=ttyS0,115200 root=/dev/vda1",
        "memory:",
        f"  block_size: {block}",
        "  srat: true",
        "  map:",
        "    - {start: 0x0, end: 0x9fc00, type: ram}",
        "    - {start: 0x9fc00, end: 0xa0000, type: reserved}",
        "    - {start: 0xf0000, end: 0x100000, type: reserved}",
        f"    - {{start: 0x100000, end: {low_top:#x}, type: ram}}",
        f"    - {{start: {low_top:#x}, end: {low_top + 0x20000:#x}, type: reserved}}",
    ]
    start = 4 * GiB
    if high < GiB:  # a small board: all RAM below 4 GiB, ZONE_MOVABLE comes out of DMA32
        nodes, high = 0, 0
        lines[-2] = f"    - {{start: 0x100000, end: {ram_gib * GiB - 0x20000:#x}, type: ram}}"
        lines[-1] = f"    - {{start: {ram_gib * GiB - 0x20000:#x}, end: {ram_gib * GiB:#x}, type: reserved}}"
    per_node = high // max(nodes, 1)
    for node in range(nodes):
        end = start + per_node
        lines.append(f"    - {{start: {start:#x}, end: {end:#x}, type: ram, node: {node}}}")
        start = end
    memory = "cma" if strategy.startswith("cma") else "classic"
    lines += ["crash:", f"  memory: {memory}", f"  target: {'disk' if 'disk' in strategy else 'pmem-window'}"]
    lines += ["  reserve: 128M", "  cma_size: 512M"] if memory == "cma" else ["  reserve: auto"]
    if "disk" in strategy:
        lines += ["disk:", "  device: /dev/disk/by-partlabel/crash"]
    else:
        mode = "hotplug" if strategy == "hotplug" else "movable"
        size = "auto" if index % 4 else "1G"
        lines += [
            "window:",
            f"  mode: {mode}",
            f"  size: {size}",
            f"  devdax_map: {'dev' if index % 5 == 0 else 'mem'}",
        ]
    lines += ["dump:", "  level: 31", "  compression: zstd"]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    out = Path(argv[1])
    count = int(argv[2]) if len(argv) > 2 else 200
    out.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (out / f"fleet-{index:03d}.yaml").write_text(profile(index))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
