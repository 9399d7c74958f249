"""What ``layoutc status`` reads on the device: raw text of /proc, /sys, /dev and /var/lib/layoutc.

``read_facts(root)`` is the only function of the status room that touches files. It keeps every value as
the text (or bytes) the kernel gave, ``None`` where a file is missing or cannot be read; ``assess`` parses
them and never raises, so a strange kernel or a hostile file only changes the verdict. ``root`` prefixes
every path (``/`` on the device; a directory for tests and offline images). Standard library only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

STATE_DIR = "var/lib/layoutc"  # recover.sh's markers: stored-ID, uploaded-ID, released-BOOT, last-recovery
# the ext4 superblock starts at byte 1024 and s_magic sits 0x38 into it (fs/ext4/ext4.h struct ext4_super_block):
# capture.sh makes the window an ext4 filesystem, so these two bytes say whether a capture wrote to it
EXT4_MAGIC_OFFSET = 1080
# the new kexec sysfs directory first (v6.19: kernel/ksysfs.c), then the names it deprecates
CRASH_LOADED = ("sys/kernel/kexec/crash_loaded", "sys/kernel/kexec_crash_loaded")
CRASH_SIZE = ("sys/kernel/kexec/crash_size", "sys/kernel/kexec_crash_size")
CMA_RANGES = ("sys/kernel/kexec/crash_cma_ranges", "sys/kernel/kexec_crash_cma_ranges")
MAX_TEXT = 1 << 20  # no procfs or sysfs file the status reads is larger; a bigger one is cut here


@dataclass(frozen=True, slots=True)
class Sourced:
    """A file's text and the path it came from (without the root prefix); text None: missing or unreadable."""

    path: str
    text: str | None


@dataclass(frozen=True, slots=True)
class Block:
    """One memory block of /sys/devices/system/memory: its index, state and valid_zones (None: unreadable)."""

    index: int
    state: str | None
    zones: str | None


@dataclass(frozen=True, slots=True)
class Pmem:
    """A /dev/pmemN block device: its namespace's resource and size, and the two bytes at the ext4 magic."""

    name: str
    resource: str | None
    size: str | None
    magic: bytes | None  # None: the device cannot be read (no node, I/O error)
    read_error: str = ""


@dataclass(frozen=True, slots=True)
class Dax:
    """A /sys/bus/dax/devices entry: its resource, size and the driver holding it (kmem, device_dax, or "")."""

    name: str
    resource: str | None
    size: str | None
    driver: str


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the status reads, as read."""

    cmdline: str | None
    iomem: str | None
    meminfo: str | None
    boot_id: str | None
    crash_loaded: Sourced
    crash_size: Sourced
    cma_ranges: Sourced
    block_size: str | None
    blocks: tuple[Block, ...] = ()
    pmem: tuple[Pmem, ...] = ()
    dax: tuple[Dax, ...] = ()
    state_files: tuple[str, ...] = ()  # names in /var/lib/layoutc
    last_recovery: str | None = None  # /var/lib/layoutc/last-recovery


def _text(path: Path) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read(MAX_TEXT).decode("utf-8", errors="replace")
    except (OSError, ValueError):
        return None


def _first(root: Path, names: tuple[str, ...]) -> Sourced:
    for name in names:
        text = _text(root / name)
        if text is not None:
            return Sourced("/" + name, text)
    return Sourced("/" + names[0], None)


def _entries(path: Path, prefix: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(path) if n.startswith(prefix))
    except OSError:
        return []


def _magic(dev: Path) -> tuple[bytes | None, str]:
    try:
        with open(dev, "rb") as f:
            f.seek(EXT4_MAGIC_OFFSET)
            data = f.read(2)
    except OSError as exc:
        return None, exc.strerror or type(exc).__name__
    if len(data) != 2:
        return None, f"short read ({len(data)} of 2 bytes)"
    return data, ""


def _pmem(root: Path) -> tuple[Pmem, ...]:
    found = []
    for name in _entries(root / "sys/block", "pmem"):
        ns = root / "sys/block" / name / "device"
        magic, error = _magic(root / "dev" / name)
        found.append(Pmem(name, _text(ns / "resource"), _text(ns / "size"), magic, error))
    return tuple(found)


def _driver(path: Path) -> str:
    try:
        return os.path.basename(os.readlink(path))
    except OSError:
        return ""


def _dax(root: Path) -> tuple[Dax, ...]:
    base = root / "sys/bus/dax/devices"
    return tuple(
        Dax(name, _text(base / name / "resource"), _text(base / name / "size"), _driver(base / name / "driver"))
        for name in _entries(base, "dax")
    )


def _blocks(root: Path, wanted: range | None) -> tuple[Block, ...]:
    base = root / "sys/devices/system/memory"
    found = []
    for name in _entries(base, "memory"):
        index = name[len("memory"):]
        if not index.isdigit() or (wanted is not None and int(index) not in wanted):
            continue
        found.append(Block(int(index), _text(base / name / "state"), _text(base / name / "valid_zones")))
    return tuple(found)


def _block_range(size_text: str | None, window: tuple[int, int] | None) -> range | None:
    """The indexes of the memory blocks covering ``window`` [start, end) (None: read every block)."""
    try:
        size = int((size_text or "").strip(), 16)
    except ValueError:
        return None
    if window is None or size <= 0 or window[1] <= window[0]:
        return None
    return range(window[0] // size, (window[1] - 1) // size + 1)


def read_facts(root: Path, window: tuple[int, int] | None = None) -> Facts:
    """Read the device under ``root``; of the memory blocks, those covering ``window`` (None: all)."""
    state = root / STATE_DIR
    block_size = _text(root / "sys/devices/system/memory/block_size_bytes")
    return Facts(
        cmdline=_text(root / "proc/cmdline"),
        iomem=_text(root / "proc/iomem"),
        meminfo=_text(root / "proc/meminfo"),
        boot_id=_text(root / "proc/sys/kernel/random/boot_id"),
        crash_loaded=_first(root, CRASH_LOADED),
        crash_size=_first(root, CRASH_SIZE),
        cma_ranges=_first(root, CMA_RANGES),
        block_size=block_size,
        blocks=_blocks(root, _block_range(block_size, window)),
        pmem=_pmem(root),
        dax=_dax(root),
        state_files=tuple(_entries(state, "")),
        last_recovery=_text(state / "last-recovery"),
    )
