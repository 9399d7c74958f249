"""The typed profile: frozen dataclasses built from a validated document.

Nothing downstream of ``elaborate`` sees raw dicts. Sizes and addresses are ints in bytes,
closed vocabularies are StrEnums, and ``Profile.spans`` keeps the source position of every
input value (dotted key path -> Span) for provenance and diagnostics.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from layoutc.diagnostics.diagnostic import Span
from layoutc.model.stack import StackSpec
from layoutc.model.units import Percent


class Arch(enum.StrEnum):
    X86_64 = "x86_64"
    ARM64 = "arm64"


class RangeType(enum.StrEnum):
    RAM = "ram"
    RESERVED = "reserved"
    ACPI = "acpi"
    NVS = "nvs"
    UNUSABLE = "unusable"
    PMEM = "pmem"


class CrashMemory(enum.StrEnum):
    CLASSIC = "classic"
    CMA = "cma"


class Target(enum.StrEnum):
    PMEM_WINDOW = "pmem-window"
    DISK = "disk"


class WindowMode(enum.StrEnum):
    MOVABLE = "movable"
    HOTPLUG = "hotplug"


class Release(enum.StrEnum):
    KMEM = "kmem"
    REBOOT = "reboot"


class DevdaxMap(enum.StrEnum):
    MEM = "mem"
    DEV = "dev"


class Kaslr(enum.StrEnum):
    AUTO = "auto"
    OFF = "off"
    ON = "on"


class Compression(enum.StrEnum):
    ZLIB = "zlib"
    ZSTD = "zstd"
    SNAPPY = "snappy"
    NONE = "none"


class DumpFormat(enum.StrEnum):
    KDUMP = "kdump"
    ELF = "elf"


class Dumper(enum.StrEnum):
    LAYOUTC = "layoutc"
    MAKEDUMPFILE = "makedumpfile"


class BootSelection(enum.StrEnum):
    EFI = "efi"
    GRUBENV = "grubenv"
    HOOK = "hook"


class BootLoader(enum.StrEnum):
    """What loads the production kernel and initrd (``boot.loader``; layoutc.kernel.bootloader)."""

    DIRECT = "direct"  # QEMU -kernel/-initrd (x86_load_linux)
    GRUB_BIOS = "grub-bios"
    GRUB_EFI = "grub-efi"
    SYSTEMD_BOOT = "systemd-boot"


class Strategy(enum.StrEnum):
    """The named combinations of ``layoutc import --strategy``."""

    PMEM_MOVABLE = "pmem-movable"
    PMEM_HOTPLUG = "pmem-hotplug"
    CMA = "cma"
    CMA_DISK = "cma-disk"
    CLASSIC_DISK = "classic-disk"
    CMA_HOTPLUG = "cma-hotplug"


@dataclass(frozen=True, slots=True, order=True)
class KernelVersion:
    major: int
    minor: int
    patch: int = 0

    @classmethod
    def parse(cls, text: str) -> KernelVersion:
        parts = [int(p) for p in text.split(".")]
        return cls(parts[0], parts[1], parts[2] if len(parts) > 2 else 0)

    def at_least(self, major: int, minor: int) -> bool:
        return (self.major, self.minor) >= (major, minor)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}" + (f".{self.patch}" if self.patch else "")


@dataclass(frozen=True, slots=True)
class MemRange:
    """One entry of the first kernel's physical map; ``end`` is exclusive."""

    start: int
    end: int
    type: RangeType
    node: int | None

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class MemoryMap:
    ranges: tuple[MemRange, ...]
    block_size: int
    srat: bool
    early_reserved: Mapping[int, int] = field(default_factory=dict)

    @property
    def ram(self) -> tuple[MemRange, ...]:
        return tuple(r for r in self.ranges if r.type is RangeType.RAM)

    @property
    def nodes(self) -> tuple[int, ...]:
        return tuple(sorted({r.node or 0 for r in self.ram}))

    @property
    def total_ram(self) -> int:
        return sum(r.size for r in self.ram)

    @property
    def end_of_ram(self) -> int:
        return max(r.end for r in self.ram)

    def node_ram(self, node: int) -> tuple[MemRange, ...]:
        return tuple(r for r in self.ram if (r.node or 0) == node)


@dataclass(frozen=True, slots=True)
class CrashSpec:
    memory: CrashMemory
    target: Target
    reserve: int | None  # None = auto
    cma_size: int | None
    kernel_size: int
    initrd_size: int
    cpus: int
    kernel_path: str
    initrd_path: str
    cmdline: str
    unsafe: str | None = None  # why an explicit reserve/cma_size below the sizing model is accepted
    modules: tuple[str, ...] = ()  # crash.modules: what capture-init.sh also loads (e.g. the boot disk's driver)


@dataclass(frozen=True, slots=True)
class WindowSpec:
    mode: WindowMode
    size: int | None  # None = auto
    devdax_map: DevdaxMap
    devdax_align: int
    release: Release


@dataclass(frozen=True, slots=True)
class DiskSpec:
    device: str
    fstype: str


@dataclass(frozen=True, slots=True)
class ExcludeRange:
    start: int
    end: int
    reason: str


@dataclass(frozen=True, slots=True)
class DumpSpec:
    level: int
    compression: Compression
    format: DumpFormat
    dumper: Dumper
    exclude: tuple[ExcludeRange, ...]


@dataclass(frozen=True, slots=True)
class RecoverySpec:
    store: str
    upload: tuple[str, ...]
    boot_selection: BootSelection
    hook: tuple[str, ...]
    # the installed kernels the recovery boot entries follow: one '*' for the kernel version (KVER)
    kernel_glob: str
    initrd_glob: str  # each kernel's initrd: its '*' replaced by the KVER
    # grubenv: the block device of the file system holding grub/grubenv, mounted by capture.sh when the crash
    # kernel has no /boot/grub/grubenv ("": it must have one), and that file system's type
    grubenv_device: str = ""
    grubenv_fstype: str = "ext4"


@dataclass(frozen=True, slots=True)
class BootSpec:
    """``boot``: the production boot loader and the size of the initrd it loads (bytes)."""

    loader: BootLoader
    initrd_size: int


@dataclass(frozen=True, slots=True)
class Pin:
    value: int | Percent
    unsafe: bool


@dataclass(frozen=True, slots=True)
class Pins:
    movablecore: Pin | None = None
    window_base: Pin | None = None
    crashkernel_offset: Pin | None = None


@dataclass(frozen=True, slots=True)
class KernelConfig:
    """``kernel.config``: the kernel's build options layoutc checks, each y, m or n.

    ``stated`` is False when the profile gives none and Debian-like defaults were assumed
    (``layoutc.kernel.capabilities.assumed_config``).
    """

    options: Mapping[str, str]
    stated: bool

    def state(self, symbol: str) -> str:
        return self.options.get(symbol, "n")


@dataclass(frozen=True, slots=True)
class Profile:
    """One board, fully typed. ``file`` is the profile's display path (relative, as given)."""

    file: str
    board: str
    description: str
    abstract: bool
    arch: Arch
    kernel_version: KernelVersion
    board_cmdline: str
    kernel_image_size: int
    memory: MemoryMap
    crash: CrashSpec
    window: WindowSpec | None
    disk: DiskSpec | None
    dump: DumpSpec
    recovery: RecoverySpec
    kaslr: Kaslr
    prove_movability: bool
    pins: Pins
    spans: Mapping[str, Span]
    layers: tuple[str, ...] = ()
    kernel_config: KernelConfig | None = None  # None only for profiles built without elaborate
    boot: BootSpec | None = None  # None: the initrd's place is not modelled (no boot: section)
    stack: StackSpec = StackSpec()  # crash.stack: layoutc's own, or a distribution's kdump stack

    def span(self, path: str) -> Span | None:
        """Source position of the input at dotted ``path`` (or its closest parent)."""
        probe = path
        while probe:
            if probe in self.spans:
                return self.spans[probe]
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        return self.spans.get("")

    @property
    def strategy(self) -> Strategy:
        if self.crash.target is Target.DISK:
            return Strategy.CMA_DISK if self.crash.memory is CrashMemory.CMA else Strategy.CLASSIC_DISK
        assert self.window is not None
        if self.window.mode is WindowMode.HOTPLUG:
            return Strategy.CMA_HOTPLUG if self.crash.memory is CrashMemory.CMA else Strategy.PMEM_HOTPLUG
        return Strategy.CMA if self.crash.memory is CrashMemory.CMA else Strategy.PMEM_MOVABLE
