"""Fake device roots for ``layoutc status``: each state of the crash cycle as files under a directory.

The layouts are the compiled goldens of qemu-4g (classic reservation) and qemu-4g-cma; the window is
[0x127000000, 0x138000000) in 128 MiB memory blocks 36-38. ``Arm64Device`` is an arm64 board's root, its layout
compiled from a bundled arm64 profile (``compiled_doc``): the same window, its RAM from 0x40000000.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.review.pipeline import compile_document

from ..conftest import REPO

GOLDEN = REPO / "tests" / "render" / "golden"
WINDOW_START, WINDOW_END = 0x127000000, 0x138000000
WINDOW_BLOCKS = (36, 37, 38)
BOOT_ID = "0f6a9d3c-5b0e-4c43-9a55-2f1b0d7e6a10"


def layout_doc(board: str = "qemu-4g") -> dict[str, object]:
    doc: dict[str, object] = json.loads((GOLDEN / board / "layout.json").read_text())
    return doc


@cache
def compiled_doc(profile: str) -> str:
    """layout.json (as JSON text) of the bundled ``profile`` (a path under profiles/), compiled now."""
    diags = Diagnostics()
    compiled = compile_document(REPO / "profiles" / profile, f"profiles/{profile}", diags)
    assert compiled is not None, [d.message for d in diags.items]
    return json.dumps(compiled.doc)


class Device:
    """A root directory written file by file."""

    def __init__(self, root: Path, board: str = "qemu-4g", doc: dict[str, object] | None = None) -> None:
        self.root = root
        self.doc = doc if doc is not None else layout_doc(board)
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

    console = "BOOT_IMAGE=/vmlinuz console=ttyS0"

    def cmdline(self, stage: str) -> Device:
        words = self.doc["cmdline"]
        assert isinstance(words, dict)
        self.write("proc/cmdline", f"{self.console} {words[stage]}\n")
        return self

    def iomem(self, crash_start: int, crash_size: int) -> str:
        return ("00000000-00000fff : Reserved\n00001000-0009fbff : System RAM\n"
                "00100000-bffdffff : System RAM\n  01000000-01ffffff : Kernel code\n"
                f"  {crash_start:08x}-{crash_start + crash_size - 1:08x} : Crash kernel\n"
                "100000000-13fffffff : System RAM\n")  # fmt: skip

    def armed(self, loaded: int = 1, crash_size: int = 256 << 20, iomem_size: int = 256 << 20,
              crash_start: int = 0xAD000000, new_abi: bool = False) -> Device:  # fmt: skip
        kexec = "sys/kernel/kexec/crash_" if new_abi else "sys/kernel/kexec_crash_"
        self.write(kexec + "loaded", f"{loaded}\n")
        self.write(kexec + "size", f"{crash_size}\n")
        self.write("proc/iomem", self.iomem(crash_start, iomem_size))
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


class Arm64Device(Device):
    """An arm64 board's root (QEMU virt: RAM from 0x40000000, console ttyAMA0); ``recovery_boot`` ends System RAM at
    the window's start, as the recovery boot's mem= does."""

    console = "console=ttyAMA0 loglevel=7 root=/dev/vda2"

    def __init__(self, root: Path, profile: str = "arm64/chromebook-4g.yaml", recovery_boot: bool = False) -> None:
        super().__init__(root, doc=json.loads(compiled_doc(profile)))
        self.ram_end = WINDOW_START if recovery_boot else 0x140000000

    def iomem(self, crash_start: int, crash_size: int) -> str:
        return (f"09000000-09000fff : pl011@9000000\n40000000-{self.ram_end - 1:x} : System RAM\n"
                "  40210000-4166ffff : Kernel code\n  41670000-41a8ffff : reserved\n"
                f"  {crash_start:08x}-{crash_start + crash_size - 1:08x} : Crash kernel\n")  # fmt: skip
