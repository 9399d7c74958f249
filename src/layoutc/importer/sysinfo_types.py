"""What a device told us about its memory: frozen dataclasses, one per source.

Every range here is ``[start, end)`` with an exclusive end, whatever the source printed (iomem,
lsmem, e820 and SRAT print inclusive ends; the parsers convert). ``SysInfo`` is what
``layoutc probe`` prints as JSON and what ``layoutc import`` reads.
"""

from __future__ import annotations

from dataclasses import dataclass

FORMAT = "layoutc-sysinfo/1"
ZONE_PAGE = 4096


@dataclass(frozen=True, slots=True)
class IomemEntry:
    """One /proc/iomem resource; ``depth`` 0 is top level (no indent)."""

    start: int
    end: int
    name: str
    depth: int


@dataclass(frozen=True, slots=True)
class LsmemRow:
    """One lsmem row: a run of memory blocks with the same split columns."""

    start: int
    end: int
    state: str
    removable: bool | None
    first_block: int | None
    last_block: int | None
    node: int | None
    zones: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Lsmem:
    """lsmem output; ``source`` is the file or method it came from (lsmem.json, lsmem.txt, sysfs)."""

    rows: tuple[LsmemRow, ...]
    source: str
    block_size: int | None  # from the text summary 'Memory block size:' when present


@dataclass(frozen=True, slots=True)
class ZoneStats:
    """One /proc/zoneinfo zone; ``start_pfn`` is None for an empty zone."""

    node: int
    name: str
    start_pfn: int | None
    spanned: int
    present: int
    managed: int

    @property
    def start(self) -> int | None:
        """First byte (4 KiB pages, as /proc/zoneinfo counts on x86_64 and arm64), or None when empty."""
        return None if self.start_pfn is None else self.start_pfn * ZONE_PAGE

    @property
    def end(self) -> int | None:
        """Exclusive end of the zone's span, or None when empty."""
        return None if self.start_pfn is None else (self.start_pfn + self.spanned) * ZONE_PAGE


@dataclass(frozen=True, slots=True)
class E820Entry:
    """One BIOS-e820 line; ``kind`` is the profile's range type (ram, reserved, acpi, ...)."""

    start: int
    end: int
    kind: str
    label: str  # as printed: 'usable', 'System RAM', 'device reserved', ...


@dataclass(frozen=True, slots=True)
class SratRange:
    """One 'ACPI: SRAT: Node N PXM P [mem ...]' memory affinity line."""

    node: int
    pxm: int
    start: int
    end: int
    hotplug: bool


@dataclass(frozen=True, slots=True)
class CrashReservation:
    """A crashkernel reservation reported in dmesg (kind: high, low or cma)."""

    kind: str
    start: int | None
    end: int | None
    size: int


@dataclass(frozen=True, slots=True)
class MovableStart:
    """'Movable zone start for each node' entry: ZONE_MOVABLE's first byte on ``node``."""

    node: int
    start: int


@dataclass(frozen=True, slots=True)
class DmesgFacts:
    """The memory-layout facts of a kernel log (everything else in dmesg is ignored)."""

    e820: tuple[E820Entry, ...]
    srat_table: bool
    srat: tuple[SratRange, ...]
    numa_off: bool  # 'No NUMA configuration found' or 'Faking a node'
    movable_start: tuple[MovableStart, ...]
    crash: tuple[CrashReservation, ...]
    command_line: str | None
    linux_version: str | None


@dataclass(frozen=True, slots=True)
class KconfigOption:
    """One kernel configuration option of the documented list (``value`` y, m or n)."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class KernelModule:
    """A module file of the running kernel's module directory; ``builtin`` from modules.builtin."""

    name: str
    builtin: bool


@dataclass(frozen=True, slots=True)
class RawFile:
    """A capture file as read (probe or raw directory), kept so probe --raw can write it back."""

    name: str
    text: str


@dataclass(frozen=True, slots=True)
class InitrdFile:
    """The running kernel's initrd as probe found it: the name that matched, the file it is, its size.

    ``path`` is the device path tried (``/boot/initrd.img-RELEASE``, ..., ``/initrd.img``); ``target`` the
    regular file it led to through symbolic links (equal to ``path`` without links). Paths are the
    device's, without probe's root prefix.
    """

    path: str
    target: str
    size: int


@dataclass(frozen=True, slots=True)
class BootFacts:
    """How the device boots, as probe saw it: its initrd (None: none of the names is a file) and UEFI."""

    initrd: InitrdFile | None
    efi: bool | None  # /sys/firmware/efi present (started through UEFI); None: no /sys to tell


@dataclass(frozen=True, slots=True)
class DtRange:
    """A memory range of the device tree; ``path`` is the node that gave it, ``node`` its numa-node-id."""

    start: int
    end: int
    path: str
    node: int | None = None
    no_map: bool = False  # /reserved-memory children: 'no-map' (the kernel leaves it out of System RAM)
    volatile: bool = False  # pmem-region nodes: 'volatile' (DRAM lent as a window, not persistent memory)


@dataclass(frozen=True, slots=True)
class DtMemory:
    """What the device tree the kernel booted with says about memory (/sys/firmware/fdt, ``fdt.dtb``).

    ``memory``: the ``device_type = "memory"`` nodes' ``reg`` ranges; ``reserved``: the memory
    reservation block (/memreserve/) and the /reserved-memory children with a ``reg``; ``pmem``: the
    ``pmem-region`` nodes; ``usable`` and ``elfcorehdr``: /chosen's ``linux,usable-memory-range`` and
    ``linux,elfcorehdr``, which kexec puts only into a crash kernel's tree.
    """

    memory: tuple[DtRange, ...]
    reserved: tuple[DtRange, ...]
    pmem: tuple[DtRange, ...]
    usable: tuple[DtRange, ...]
    elfcorehdr: DtRange | None
    model: str | None


@dataclass(frozen=True, slots=True)
class SysInfo:
    """Everything probe read. Optional sources are None when the device did not offer them."""

    source: str
    iomem: tuple[IomemEntry, ...] | None
    lsmem: Lsmem | None
    block_size: int | None
    cmdline: str | None
    kernel_release: str | None
    zones: tuple[ZoneStats, ...] | None
    dmesg: DmesgFacts | None
    notes: tuple[str, ...] = ()
    raw: tuple[RawFile, ...] = ()
    kconfig: tuple[KconfigOption, ...] | None = None  # the documented options; None: no config captured
    modules: tuple[KernelModule, ...] | None = None  # None: no module directory captured
    boot: BootFacts | None = None  # None: the capture has no boot facts (no 'boot' file)
    devicetree: DtMemory | None = None  # None: no fdt.dtb (x86, or an ACPI arm64 server)
    fdt: bytes | None = None  # fdt.dtb as read (probe --raw writes it back); not in the JSON
