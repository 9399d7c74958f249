"""A test board for the arm64 device side: QEMU virt, 4 GiB at 0x40000000, a 256 MiB window in ZONE_MOVABLE.

Its numbers are the ones measured on Debian arm64 7.2 and 6.1 under QEMU virt with direct boot
(docs/arm64.md): RAM 0x40000000-0x13fffffff, movablecore=512M makes 0x120000000-0x13fffffff Movable, the
unmovable early allocations fill the top block (0x138000000-), crashkernel=256M lands at 0xec000000, and
the window is 0x128000000 + 256M (blocks 37 and 38): the layout measured in the lab, with exact numbers the
tests can name. The typed ``Layout`` starts from the bundled arm64-chromebook-4g's (the same QEMU virt
machine) and is given those numbers by hand, within the solver's contract for arm64 pmem windows (arch
arm64, the window in ZONE_MOVABLE, ``cma=0`` on the crash cmdline and no elfcorehdr, ``mem=`` on the
recovery cmdline); the real writer then makes it layout.json. The second board has no NUMA nodes, so its
window returns at the next normal boot (release reboot; kmem needs a node).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from layoutc.kernel.pmem import devdax
from layoutc.model import layout_json
from layoutc.model.layout import (
    Cmdlines,
    Crashkernel,
    DumpWindow,
    KaslrGuard,
    Layout,
    MovableZone,
    Region,
    RegionKind,
)
from layoutc.model.profile import (
    Arch,
    BootSelection,
    KernelVersion,
    MemoryMap,
    MemRange,
    Profile,
    RangeType,
    Release,
    WindowMode,
)

MiB = 1 << 20
BLOCK = 128 * MiB
RAM = (0x4000_0000, 0x1_4000_0000)
WINDOW = (0x1_2800_0000, 256 * MiB)
CRASH = (0xEC00_0000, 0xFC00_0000)
KERNEL = (0x4020_0000, 0x4020_0000 + 48 * MiB)
MOVABLE = (0x1_2000_0000, 0x1_4000_0000)
RECOVERY_MEM = "mem=3712M"  # 0x40000000 + 3712 MiB = the window's start: arm64 mem= is an amount of RAM
NAME = "arm64-virt-4g"
NAMES = (NAME, f"{NAME}-reboot")  # release kmem with NUMA nodes; release reboot without them (kmem needs a node)


def _memory(srat: bool) -> MemoryMap:
    return MemoryMap(ranges=(MemRange(RAM[0], RAM[1], RangeType.RAM, 0 if srat else None),),
                     block_size=BLOCK, srat=srat)


def board(name: str, base: Profile, base_layout: Layout) -> tuple[Profile, dict[str, Any]]:
    """(profile, layout.json document) of test board ``name`` (one of NAMES), from an arm64 board's as a base."""
    kmem = name == NAME
    release = Release.KMEM if kmem else Release.REBOOT
    assert base.window is not None and base_layout.dump_window is not None and base_layout.recovery_boot is not None
    memory = _memory(srat=kmem)
    window = dataclasses.replace(base.window, release=release, size=WINDOW[1])
    prof = dataclasses.replace(
        base, file=f"tests/artifacts/{name} (test board)", board=name, arch=Arch.ARM64,
        description="QEMU virt arm64, 4 GiB; window in ZONE_MOVABLE through a DT pmem-region (test board)",
        kernel_version=KernelVersion(7, 2), board_cmdline="console=ttyAMA0",
        memory=memory, window=window, crash=dataclasses.replace(base.crash, cmdline="console=ttyAMA0"),
        recovery=dataclasses.replace(base.recovery, boot_selection=BootSelection.HOOK,
                                     hook=("fw_setenv", "layoutc_next", "recovery")))
    dax = devdax(WINDOW[0], WINDOW[1], window.devdax_map, window.devdax_align, BLOCK)
    node = 0 if kmem else None
    regions = (Region(KERNEL[0], KERNEL[1], RegionKind.KERNEL_IMAGE, "kernel_image", node),
               Region(CRASH[0], CRASH[1], RegionKind.CRASHKERNEL, "crashkernel", node),
               Region(WINDOW[0], WINDOW[0] + WINDOW[1], RegionKind.DUMP_WINDOW, "dump_window", 0),
               Region(0x1_3800_0000, RAM[1], RegionKind.GUARD, "guard_node0", 0))
    guard = base_layout.guards[0]
    lay = dataclasses.replace(
        base_layout, board=name, description=prof.description, profile=prof.file, layers=(prof.file,),
        arch=Arch.ARM64, kernel_version=str(prof.kernel_version), memory=memory, board_cmdline="console=ttyAMA0",
        crash_board_cmdline="console=ttyAMA0",
        cmdline=Cmdlines(production="crashkernel=256M movablecore=512M",
                         crash="cma=0 nr_cpus=1 reset_devices",
                         recovery=f"crashkernel=256M {RECOVERY_MEM}"),
        crashkernel=Crashkernel(size=CRASH[1] - CRASH[0], offset=None, cma_size=None, needed=200 * MiB),
        movablecore=512 * MiB, movable_zone=(MovableZone(0, *MOVABLE),), regions=regions,
        guards=(dataclasses.replace(guard, start=0x1_3800_0000, end=RAM[1]),),
        dump_window=DumpWindow(WINDOW[0], WINDOW[1], 0, WindowMode.MOVABLE, release, dax),
        kaslr=True, kaslr_guard=KaslrGuard.RUNTIME_CHECK, memmap_on_memory_off=False, recovery_mem_limit=WINDOW[0],
        recovery_boot=dataclasses.replace(base_layout.recovery_boot, bls_id=f"layoutc-recovery-{name}",
                                          grub_id=f"layoutc-recovery-{name}", title=f"Crash dump recovery ({name})"),
        provenance=(), notes=())
    doc: dict[str, Any] = json.loads(layout_json.write(lay))
    return prof, doc
