"""The filter spec (``filter.json``) of one board, and the dump window's ext4 overhead.

``filter.json`` is the contract the bundled dumper executes (``schemas/filter-spec/v1``,
``docs/filter-spec.md``). It is built as a dict and serialized with ``json.dumps`` (never
templated); its ``makedumpfile`` member carries the equivalent makedumpfile(8) flags.

The byte budget is the window's size minus what the capture script's ``mke2fs`` costs and a
fixed allowance for the small files written next to the vmcore (see ``ext4_overhead`` and
docs/artifacts.md "Budget").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from layoutc.model import intervals
from layoutc.model.layout import Layout, MovableZone, RegionKind
from layoutc.model.profile import DumpFormat, Profile

FS_BLOCK = 4096
BLOCKS_PER_GROUP = 8 * FS_BLOCK  # one block bitmap block covers 32768 blocks
GROUP_DESC_SIZE = 64  # the 64bit feature: 64-byte group descriptors
INODES_PER_GROUP_MIN = 16  # -N 16: one 4 KiB inode table block of 256-byte inodes per group
ROOT_AND_LOST_FOUND = 1 + 4  # root directory block + lost+found (16 KiB) as mke2fs creates them
EXTENT_MAX_BLOCKS = 32768  # ext4: an initialized extent covers at most 32768 blocks
EXTENTS_PER_BLOCK = 340  # (4096 - 12) // 12
SMALL_FILES_ALLOWANCE = 4 * 1024 * 1024 + 16 * FS_BLOCK  # vmcore-dmesg.txt + checksums, markers, log

# The capture script's mkfs: explicit features so the overhead does not depend on the crash
# initramfs's /etc/mke2fs.conf (no journal, no resize inode, no orphan file, 16 inodes).
MKFS_ARGS: tuple[str, ...] = (
    "-F",
    "-q",
    "-t",
    "ext4",
    "-b",
    str(FS_BLOCK),
    "-m",
    "0",
    "-N",
    str(INODES_PER_GROUP_MIN),
    "-O",
    "none,ext_attr,dir_index,filetype,extent,64bit,flex_bg,sparse_super,large_file,huge_file,"
    "dir_nlink,extra_isize,metadata_csum",
    "-E",
    "nodiscard",
    "-L",
    "layoutc-dump",
)

# makedumpfile(8): -c zlib, -z zstd, -p snappy, -l lzo; no flag stores pages raw.
_COMPRESSION_FLAG = {"zlib": "-c", "zstd": "-z", "snappy": "-p", "lzo": "-l", "none": ""}
# dump-level bits that classify a page class (makedumpfile meaning), in the order we drop them
_DROP_CLASSES = (("free", 16), ("cache", 2), ("cache_private", 4), ("user", 8))


@dataclass(frozen=True, slots=True)
class Ext4Overhead:
    """What ``mke2fs MKFS_ARGS`` uses of a device of ``size`` bytes (4 KiB blocks)."""

    blocks: int
    groups: int
    metadata_blocks: int

    @property
    def free_bytes(self) -> int:
        return (self.blocks - self.metadata_blocks) * FS_BLOCK


def _has_backup(group: int) -> bool:
    """sparse_super: superblock + GDT copies in groups 0, 1 and powers of 3, 5 and 7."""
    if group <= 1:
        return True
    for base in (3, 5, 7):
        n = base
        while n < group:
            n *= base
        if n == group:
            return True
    return False


def _backup_groups(groups: int) -> int:
    """How many of groups 0..groups-1 hold a backup: 0, 1 and the powers of 3, 5 and 7.

    Counted per power, not per group, so a window of petabytes costs a few dozen steps.
    """
    count = min(groups, 2)
    for base in (3, 5, 7):
        n = base
        while n < groups:
            count += 1
            n *= base
    return count


def ext4_overhead(size: int) -> Ext4Overhead:
    """Blocks ``mke2fs MKFS_ARGS`` keeps for itself on a ``size``-byte device.

    Per group: block bitmap, inode bitmap, one inode-table block; groups with a superblock
    backup add 1 + ceil(groups * 64 / 4096) blocks; plus root and lost+found. mke2fs drops a
    last group too small to hold its own metadata plus 50 blocks (ext2fs_initialize). Checked
    against mke2fs 1.47 in tests/artifacts/test_filter.py.
    """
    blocks = size // FS_BLOCK
    while True:
        groups = -(-blocks // BLOCKS_PER_GROUP)
        gdt = -(-groups * GROUP_DESC_SIZE // FS_BLOCK)
        last = blocks - (groups - 1) * BLOCKS_PER_GROUP
        last_meta = 3 + ((1 + gdt) if _has_backup(groups - 1) else 0)
        if groups > 1 and last < last_meta + 50:
            blocks -= last
            continue
        break
    meta = 3 * groups + (1 + gdt) * _backup_groups(groups) + ROOT_AND_LOST_FOUND
    return Ext4Overhead(blocks, groups, meta)


def window_budget(size: int) -> int:
    """Bytes the vmcore may take in a window of ``size`` bytes (never negative)."""
    fs = ext4_overhead(size)
    free = fs.free_bytes - SMALL_FILES_ALLOWANCE
    backups = _backup_groups(fs.groups)
    extents = -(-max(free, 0) // (EXTENT_MAX_BLOCKS * FS_BLOCK)) + backups
    index_blocks = 0 if extents <= 4 else 1 + -(-extents // EXTENTS_PER_BLOCK)
    return max(0, free - index_blocks * FS_BLOCK)


def _reason(text: str) -> str:
    # the filter-spec reason pattern is ^[a-z][a-z0-9_]*$; profile reasons may hold dashes
    return text.replace("-", "_")


def exclude_ranges(profile: Profile, layout: Layout) -> list[dict[str, Any]]:
    """The layout's dump window, plus the profile's dump.exclude.

    Nothing the kernel places by itself, because the layout's ranges for those are predictions and
    /proc/vmcore already leaves the real ones out:

    - Not the crashkernel reservation: kexec-tools and kexec_file_load leave the "Crash kernel" ranges out
      of the elfcorehdr, and ``crashkernel=SIZE`` is placed by the kernel: the lab saw the reservation at
      0x65000000 instead of the predicted 0x6d000000 (KASLR had put the kernel image below it), and
      excluding the predicted range dropped kernel page tables from the dump (drgn could not read
      init_uts_ns).
    - Not the crash CMA ranges (``crashkernel=SIZE,cma``, regions of kind ``crash_cma``): the kernel
      places them itself (cma_declare_contiguous, bottom-up from 4 GiB; docs/reference/kernel-rules.md §1.5), and
      kexec_file_load, which arm.sh always uses for cma, already leaves them out of the elfcorehdr:
      LNX:arch/x86/kernel/crash.c prepare_elf_headers() -> elf_header_exclude_ranges() calls
      crash_exclude_mem_range() on each crashk_cma_ranges[i], i < crashk_cma_cnt (read at torvalds/linux
      01f492e1817e; arch_crash_handle_hotplug_event() rebuilds the elfcorehdr with the same function).
      Excluding the predicted ranges too is redundant when the prediction is right and drops real pages
      of the crashed kernel when it is wrong; arm.sh warns when the kernel's ranges differ from the
      layout's.
    """
    out = [{"start": r.start, "end": r.end, "reason": "dump_window"} for r in layout.regions_of(RegionKind.DUMP_WINDOW)]
    out += [{"start": e.start, "end": e.end, "reason": _reason(e.reason)} for e in profile.dump.exclude]
    unique = {(r["start"], r["end"], r["reason"]): r for r in out}
    return sorted(unique.values(), key=lambda r: (r["start"], r["end"], r["reason"]))


def drop_order(level: int, movable: Sequence[MovableZone], window: tuple[int, int] | None) -> list[Any]:
    """Page classes the dump level keeps, cheapest loss first; then ZONE_MOVABLE (mostly user pages).

    No ``tail``: when the listed drops are not enough the dumper truncates and marks the dump
    INCOMPLETE, which is what recovery should report.
    """
    order: list[Any] = [name for name, bit in _DROP_CLASSES if not level & bit]
    for zone in sorted(movable, key=lambda z: (z.start, z.end)):
        pieces = intervals.subtract([(zone.start, zone.end)], [window] if window is not None else [])
        order += [{"start": s, "end": e, "reason": "movable"} for s, e in pieces]
    return order


def makedumpfile_args(level: int, compression: str, fmt: str, budget: int | None) -> list[str]:
    """makedumpfile(8) flags equivalent to the spec, as far as makedumpfile can express it."""
    args = ["-d", str(level)]
    if fmt == "elf":
        args.append("-E")
    elif _COMPRESSION_FLAG[compression]:
        args.append(_COMPRESSION_FLAG[compression])
    if fmt == "flat":
        args.append("-F")
    if budget is not None:
        args += ["-L", str(budget)]  # --size-limit: writes an incomplete dump beyond it
    return args


def filter_spec(profile: Profile, layout: Layout) -> dict[str, Any]:
    """The filter spec document for this board (validated against the schema in tests)."""
    window = layout.dump_window
    span = (window.start, window.end) if window else None
    budget = window_budget(span[1] - span[0]) if span else None
    fmt = "elf" if profile.dump.format is DumpFormat.ELF else "kdump"
    compression = str(profile.dump.compression)
    excludes = exclude_ranges(profile, layout)
    note = (
        "makedumpfile cannot exclude physical ranges: it reads the excluded ranges "
        f"({', '.join(sorted({r['reason'] for r in excludes})) or 'none'}) like any other memory, "
        "so pages of the dump window it keeps hold the new filesystem, not the crashed kernel's data; "
        "-L truncates at the budget instead of dropping by drop_order"
    )
    return {
        "schema_version": 1,
        "dump_level": profile.dump.level,
        "compression": compression,
        "format": fmt,
        "exclude": excludes,
        "budget": budget,
        "drop_order": drop_order(profile.dump.level, layout.movable_zone, span),
        "makedumpfile": {
            "args": makedumpfile_args(profile.dump.level, compression, fmt, budget),
            "note": note,
        },
    }


def serialize(spec: Mapping[str, Any]) -> bytes:
    """The one serialization of filter.json: sorted keys, 2-space indent, trailing newline."""
    return (json.dumps(spec, sort_keys=True, indent=2) + "\n").encode()
