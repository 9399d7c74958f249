"""The solved layout: what every boot stage's kernel will do, and why (frozen data, no logic).

``solve`` builds it; ``render`` serializes it (layout.json is its JSON form, schema in
``schemas/layout/v1``); the lab and review tools read that JSON. Addresses and sizes are
bytes, ends are exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass

from layoutc.kernel.memblock import EarlyTop
from layoutc.kernel.pmem import Devdax
from layoutc.model.profile import MemoryMap, Strategy
from layoutc.model.units import Percent


@dataclass(frozen=True, slots=True)
class Cmdlines:
    """The parameters layoutc owns, per boot stage, space-separated (board basics excluded)."""

    production: str
    crash: str
    recovery: str


@dataclass(frozen=True, slots=True)
class StrategyChoice:
    crash_memory: str  # classic | cma
    target: str  # pmem-window | disk
    window_mode: str | None  # movable | hotplug | None (disk)
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
    kind: str  # crashkernel | crashkernel_low | crash_cma | dump_window | guard | kernel_image
    name: str
    node: int | None


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
    mode: str  # movable | hotplug
    release: str  # kmem | reboot
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
    """The distinct one-shot recovery boot (movable windows): its ids in GRUB and BLS."""

    bls_id: str
    grub_id: str
    title: str
    kernel: str
    initrd: str


@dataclass(frozen=True, slots=True)
class Layout:
    board: str
    description: str
    profile: str
    layers: tuple[str, ...]
    arch: str
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
    kaslr_guard: str  # nokaslr | runtime-check | memmap-avoided | not-needed
    memmap_on_memory_off: bool
    armed_overhead: int
    recovery_boot: RecoveryBoot | None
    unsafe: tuple[Unsafe, ...]
    provenance: tuple[Provenance, ...]
    notes: tuple[str, ...]

    def regions_of(self, kind: str) -> tuple[Region, ...]:
        return tuple(r for r in self.regions if r.kind == kind)
