"""Fake device roots for ``layoutc status``: each state of the crash cycle as files under a directory.

The layouts are the compiled goldens of qemu-4g (classic reservation) and qemu-4g-cma; the window is
[0x127000000, 0x138000000) in 128 MiB memory blocks 36-38.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..conftest import REPO

GOLDEN = REPO / "tests" / "render" / "golden"
WINDOW_START, WINDOW_END = 0x127000000, 0x138000000
WINDOW_BLOCKS = (36, 37, 38)
BOOT_ID = "0f6a9d3c-5b0e-4c43-9a55-2f1b0d7e6a10"


def layout_doc(board: str = "qemu-4g") -> dict[str, object]:
    doc: dict[str, object] = json.loads((GOLDEN / board / "layout.json").read_text())
    return doc


class Device:
    """A root directory written file by file."""

    def __init__(self, root: Path, board: str = "qemu-4g") -> None:
        self.root = root
        self.doc = layout_doc(board)
        self.write("usr/lib/layoutc/layout.json", json.dumps(self.doc))
        self.write("proc/sys/kernel/random/boot_id", BOOT_ID + "\n")
        self.write("sys/devices/system/memory/block_size_bytes", "8000000\n")
        self.write("proc/meminfo", "MemTotal:        4028536 kB\nCmaTotal:              0 kB\n")

    def write(self, rel: str, text: str | bytes) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        return path

    def remove(self, rel: str) -> None:
        (self.root / rel).unlink()

    def cmdline(self, stage: str) -> Device:
        words = self.doc["cmdline"]
        assert isinstance(words, dict)
        self.write("proc/cmdline", f"BOOT_IMAGE=/vmlinuz console=ttyS0 {words[stage]}\n")
        return self

    def armed(self, loaded: int = 1, crash_size: int = 256 << 20, iomem_size: int = 256 << 20,
              crash_start: int = 0xAD000000, new_abi: bool = False) -> Device:  # fmt: skip
        kexec = "sys/kernel/kexec/crash_" if new_abi else "sys/kernel/kexec_crash_"
        self.write(kexec + "loaded", f"{loaded}\n")
        self.write(kexec + "size", f"{crash_size}\n")
        self.write("proc/iomem", "00000000-00000fff : Reserved\n00001000-0009fbff : System RAM\n"
                   "00100000-bffdffff : System RAM\n  01000000-01ffffff : Kernel code\n"
                   f"  {crash_start:08x}-{crash_start + iomem_size - 1:08x} : Crash kernel\n"
                   "100000000-13fffffff : System RAM\n")  # fmt: skip
        return self

    def cma(self, ranges: str) -> Device:
        self.write("sys/kernel/kexec/crash_cma_ranges", ranges)
        return self

    def blocks(self, state: str = "online", zones: str = "Movable", indexes: tuple[int, ...] = WINDOW_BLOCKS) -> Device:
        for i in (*range(32, 36), *indexes):
            here = i in indexes
            self.write(f"sys/devices/system/memory/memory{i}/state", f"{state if here else 'online'}\n")
            self.write(f"sys/devices/system/memory/memory{i}/valid_zones", f"{zones if here else 'Normal'}\n")
        return self

    def pmem(self, magic: bytes | None = b"\x53\xef", size: int = WINDOW_END - WINDOW_START) -> Device:
        """/dev/pmem0 at the window (magic None: no device node, as when it cannot be read)."""
        self.write("sys/block/pmem0/device/resource", f"{WINDOW_START:#x}\n")
        self.write("sys/block/pmem0/device/size", f"{size}\n")
        if magic is not None:
            self.write("dev/pmem0", bytes(1080) + magic + bytes(4096 - 1082))
        return self

    def dax(self, driver: str, start: int = WINDOW_START + (2 << 20)) -> Device:
        base = self.root / "sys/bus/dax/devices/dax0.0"
        self.write("sys/bus/dax/devices/dax0.0/resource", f"{start:#x}\n")
        self.write("sys/bus/dax/devices/dax0.0/size", f"{WINDOW_END - start}\n")
        target = self.root / "sys/bus/dax/drivers" / driver
        target.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(target, base), base / "driver")
        return self

    def state(self, *names: str, last: str = "") -> Device:
        for name in names:
            self.write(f"var/lib/layoutc/{name}", "")
        if last:
            self.write("var/lib/layoutc/last-recovery", last)
        return self
