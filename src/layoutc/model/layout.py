"""The solved layout: what every boot stage's kernel will do, and why (frozen data, no logic).

``solve`` builds it; ``model.layout_json`` writes it as layout.json (schema in
``schemas/layout/v1``) and reads layout.json back into this same value, which is what render,
the lab and the review tools use. Addresses and sizes are bytes, ends are exclusive. Every closed
vocabulary is a str-valued enum whose values are the strings layout.json holds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from layoutc.kernel.memblock import EarlyTop
from layoutc.kernel.pmem import Devdax
from layoutc.model.profile import Arch, CrashMemory, MemoryMap, Release, Strategy, Target, WindowMode
from layoutc.model.units import Percent


class RegionKind(enum.StrEnum):
    """What a placed region is (layout.json ``regions[].kind``)."""

    CRASHKERNEL = "crashkernel"
    CRASHKERNEL_LOW = "crashkernel_low"
    CRASH_CMA = "crash_cma"
    DUMP_WINDOW = "dump_window"
    GUARD = "guard"
    KERNEL_IMAGE = "kernel_image"
    INITRD = "initrd"  # the production initrd where the boot loader puts it (exact)
    INITRD_BOUND = "initrd_bound"  # every byte the initrd may occupy when the firmware chooses
    KERNEL_IMAGE_BOUND = "kernel_image_bound"  # every byte the image may occupy (arm64 EFI stub: physical KASLR)
    SWIOTLB = "swiotlb"  # the default 64 MiB bounce buffer (arm64: top-down below the DMA zone's end)
    CMA = "cma"  # the kernel's default CMA areas (CONFIG_CMA_SIZE_MBYTES; 7.x arm64 NUMA: one per node too)


class KaslrGuard(enum.StrEnum):
    """What keeps the kernel image out of the dump window (layout.json ``kaslr_guard``)."""

    NOKASLR = "nokaslr"
    RUNTIME_CHECK = "runtime-check"
    MEMMAP_AVOIDED = "memmap-avoided"
    NOT_NEEDED = "not-needed"


@dataclass(frozen=True, slots=True)
class Cmdlines:
    """The parameters layoutc owns, per boot stage, space-separated (board basics excluded)."""

    production: str
    crash: str
    recovery: str


@dataclass(frozen=True, slots=True)
class StrategyChoice:
    crash_memory: CrashMemory
    target: Target
    window_mode: WindowMode | None  # None: a disk target
    name: Strategy


@dataclass(frozen=True, slots=True, order=True)
class MovableZone:
    node: int
    start: int
    end: int


@dataclass(frozen=True, slots=True, order=True)
class Region:
    """A named physical range the layout places or keeps clear; ``kind`` is a closed vocabulary."""

    start: int
    end: int
    kind: RegionKind
    name: str
    node: int | None

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Guard:
    """The unmovable top of one node: early memblock allocations, rounded out to whole blocks."""

    node: int
    start: int
    end: int
    early: EarlyTop
    early_start: int  # lowest byte of the modelled early allocations (before block rounding)


@dataclass(frozen=True, slots=True)
class DumpWindow:
    start: int
    size: int
    node: int
    mode: WindowMode
    release: Release
    devdax: Devdax

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass(frozen=True, slots=True)
class Input:
    path: str
    file: str
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class Provenance:
    """Why a value of layout.json is what it is: the rule, its kernel source, the profile inputs."""

    pointer: str
    rule: str
    source: str
    inputs: tuple[Input, ...]


@dataclass(frozen=True, slots=True)
class Unsafe:
    """A pin accepted with ``unsafe: true`` although it breaks a rule."""

    pin: str
    value: str
    rule: int
    message: str


@dataclass(frozen=True, slots=True)
class Crashkernel:
    """The crashkernel= parameters chosen (sizes in bytes)."""

    size: int
    offset: int | None
    cma_size: int | None
    needed: int  # what the crash kernel needs in the reservation (kernel + initrd + runtime)


@dataclass(frozen=True, slots=True)
class RecoveryBoot:
    """The distinct one-shot recovery boot (movable windows): its ids in GRUB and BLS, the fixed entry
    (``kernel``, ``initrd``: what GRUB boots when no installed kernel matches, and what the lab boots) and
    the installed kernels the entries follow (``kernel_glob``, ``initrd_glob``: one '*' for the KVER)."""

    bls_id: str
    grub_id: str
    title: str
    kernel: str
    initrd: str
    kernel_glob: str
    initrd_glob: str


@dataclass(frozen=True, slots=True)
class BootModules:
    """The kernel modules each boot of the cycle loads (modprobe), from the capability table and
    ``kernel.config``: only options built ``=m`` (layoutc.kernel.capabilities.stage_modules)."""

    crash: tuple[str, ...]  # capture-init.sh in the crash kernel: the window's /dev/pmem, the dump's file system
    recovery: tuple[str, ...]  # recover.sh after the crash: the same, plus devdax and kmem to return the window


@dataclass(frozen=True, slots=True)
class Layout:
    board: str
    description: str
    profile: str
    layers: tuple[str, ...]
    arch: Arch
    kernel_version: str
    memory: MemoryMap
    board_cmdline: str
    crash_board_cmdline: str
    crash_kernel_path: str
    crash_initrd_path: str
    cmdline: Cmdlines
    strategy: StrategyChoice
    crashkernel: Crashkernel
    movablecore: int | Percent | None
    movable_zone: tuple[MovableZone, ...]
    regions: tuple[Region, ...]
    guards: tuple[Guard, ...]
    dump_window: DumpWindow | None
    kaslr: bool
    kaslr_guard: KaslrGuard
    memmap_on_memory_off: bool
    armed_overhead: int
    recovery_boot: RecoveryBoot | None
    # arm64 windows: the recovery boot's mem= (its first byte not in memblock, the window's start); every
    # byte from here to the end of RAM is unavailable to the recovery boot only. None: no mem= cap.
    recovery_mem_limit: int | None
    boot_modules: BootModules
    unsafe: tuple[Unsafe, ...]
    provenance: tuple[Provenance, ...]
    notes: tuple[str, ...]

    def regions_of(self, *kinds: RegionKind) -> tuple[Region, ...]:
        return tuple(r for r in self.regions if r.kind in kinds)

    def bytes_of(self, *kinds: RegionKind) -> int:
        return sum(r.size for r in self.regions_of(*kinds))
