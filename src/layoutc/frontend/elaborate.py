"""Meaning checks and typing: a shape-checked document becomes a frozen ``Profile``.

The schema has already checked shape; here live the rules that need arithmetic or several
keys at once (overlapping ranges, kernel-version gates, strategy combinations), each with a
stable code and the kernel rule it enforces.
"""

from __future__ import annotations

from typing import Any

from layoutc.diagnostics.diagnostic import Diagnostics, Related, Severity, Span
from layoutc.frontend.capability_rules import check_capabilities
from layoutc.frontend.cmdline_rules import check_cmdline
from layoutc.frontend.recovery_rules import DEFAULT_INITRD_GLOB, DEFAULT_KERNEL_GLOB, check_glob
from layoutc.frontend.stack_rules import crash_stack
from layoutc.frontend.yaml_source import Document, Key, dotted
from layoutc.kernel.physaddr import MAX_PHYSMEM_BITS, NARROW_PHYSMEM_BITS, address_limit, min_block_size
from layoutc.model.profile import (
    Arch,
    BootLoader,
    BootSelection,
    BootSpec,
    Compression,
    CrashMemory,
    CrashSpec,
    DevdaxMap,
    DiskSpec,
    Dumper,
    DumpFormat,
    DumpSpec,
    ExcludeRange,
    Kaslr,
    KernelVersion,
    MemoryMap,
    MemRange,
    Pin,
    Pins,
    Profile,
    RangeType,
    RecoverySpec,
    Release,
    Target,
    WindowMode,
    WindowSpec,
)
from layoutc.model.units import GiB, MiB, UnitError, format_addr, format_size, parse_size, parse_size_or_percent

# crashkernel=,cma: commits 35c18f2933c5/ab475510e042, Linux 6.17 (docs/reference/kernel-rules.md §1)
CMA_MIN_VERSION = (6, 17)
DEFAULT_BLOCK_SIZE = 128 * MiB  # x86 probe_memory_block_size below 64 GiB (docs/reference/kernel-rules.md §4.1)
DUMP_LEVEL_USER = 8
# Kernel code to bss of Debian's 6.1 and 7.2 kernels spans about 52 MiB in /proc/iomem (captures).
DEFAULT_IMAGE_SIZE = 64 * MiB


class _Reader:
    """Typed access to the merged document with position-aware errors."""

    def __init__(self, doc: Document, diags: Diagnostics) -> None:
        self.doc = doc
        self.diags = diags

    def get(self, path: Key, default: Any = None) -> Any:
        node: Any = self.doc.data
        for part in path:
            if isinstance(node, dict) and isinstance(part, str) and part in node:
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
            else:
                return default
        return node

    def has(self, path: Key) -> bool:
        return self.get(path, _MISSING) is not _MISSING

    def span(self, path: Key) -> Span:
        return self.doc.span(path)

    def size(self, path: Key, default: int | None = None) -> int | None:
        value = self.get(path)
        if value is None or value == "auto":
            return default
        return parse_size(value)

    def error(self, code: str, path: Key, message: str, *, rule: str, hint: str,
              value: object = None, related: tuple[Related, ...] = ()) -> None:
        shown = None if value is None else str(value)
        self.diags.error(code, message, span=self.span(path), path=dotted(path), value=shown, rule=rule,
                         hint=hint, related=related)


_MISSING = object()


def elaborate(doc: Document, layers: tuple[str, ...], diags: Diagnostics) -> Profile | None:
    """Build the typed Profile, reporting every meaning error found (not just the first)."""
    r = _Reader(doc, diags)
    before = len(diags)
    abstract = bool(r.get(("abstract",), False))
    if not abstract:
        for path, example in ((("kernel", "version"), 'kernel: {version: "6.6"}'),
                              (("memory", "map"), "memory: {map: [...]}")):
            if not r.has(path):
                r.error("LC212", path[:1], f"missing '{dotted(path)}'", rule="a concrete board needs "
                        "kernel.version and memory.map (a family base marked abstract: true may leave them "
                        "to its boards)", hint=f"add {example}, or mark the file abstract: true")
    memory = _memory(r)
    version = KernelVersion.parse(str(r.get(("kernel", "version"), "0.0")))
    arch = Arch(r.get(("arch",), "x86_64"))
    crash = _crash(r)
    window = _window(r, crash, memory)
    disk = _disk(r, crash)
    _check_versions(r, arch, version, crash, window)
    _check_cmdline(r, ("kernel", "cmdline"), memory)
    _check_cmdline(r, ("crash", "cmdline"), memory)
    dump = _dump(r, crash, arch)
    stack = crash_stack(r, crash, version)
    recovery = _recovery(r, window)
    pins = _pins(r, arch)
    errors = any(d.severity is Severity.ERROR for d in diags.items[before:])
    config, window = check_capabilities(doc, diags, arch, version, crash, window, disk, quiet=abstract or errors)
    if len(diags) > before and diags.has_errors:
        return None
    spans = {dotted(path): span for path, span in doc.value_spans.items()}
    return Profile(
        file=doc.file, board=str(r.get(("board",))), description=str(r.get(("description",), "")),
        abstract=abstract, arch=arch, kernel_version=version,
        board_cmdline=str(r.get(("kernel", "cmdline"), "")),
        kernel_image_size=r.size(("kernel", "image_size"), DEFAULT_IMAGE_SIZE) or 0,
        memory=memory, crash=crash, window=window, disk=disk, dump=dump, recovery=recovery,
        kaslr=Kaslr(r.get(("kaslr",), "auto")), prove_movability=bool(r.get(("arm", "prove_movability"), False)),
        pins=pins, spans=spans, layers=layers, kernel_config=config, boot=_boot(r), stack=stack,
    )


def _boot(r: _Reader) -> BootSpec | None:
    """``boot``: absent means the initrd's place is not modelled (layoutc.kernel.bootloader)."""
    if not r.has(("boot",)):
        return None
    return BootSpec(BootLoader(r.get(("boot", "loader"))), r.size(("boot", "initrd_size")) or 0)


def _memory(r: _Reader) -> MemoryMap:
    arch = Arch(r.get(("arch",), "x86_64"))
    ranges: list[tuple[MemRange, Key]] = []
    for index, item in enumerate(r.get(("memory", "map"), []) or []):
        path: Key = ("memory", "map", index)
        start = parse_size(item["start"])
        has_end, has_size = "end" in item, "size" in item
        if has_end == has_size:
            r.error("LC203", path, "give exactly one of 'end' or 'size'", rule="a range is start + end, "
                    "or start + size", hint="keep the one you measured; end is exclusive", value=None)
            continue
        end = parse_size(item["end"]) if has_end else start + parse_size(item["size"])
        if end <= start:
            r.error("LC201", (*path, "end" if has_end else "size"), f"range is empty or reversed: "
                    f"[{format_addr(start)}, {format_addr(end)})", rule="ranges are [start, end) with end > start",
                    hint="end is the first byte after the range", value=item.get("end", item.get("size")))
            continue
        if not _within_address_width(r, arch, end, (*path, "end" if has_end else "size"),
                                     item.get("end", item.get("size"))):
            continue
        kind = RangeType(item["type"])
        node = item.get("node", 0) if kind is RangeType.RAM else item.get("node")
        ranges.append((MemRange(start, end, kind, node), path))
    ranges.sort(key=lambda pair: pair[0].start)
    for (a, apath), (b, bpath) in zip(ranges, ranges[1:], strict=False):
        if b.start < a.end:
            r.error("LC202", bpath, f"range [{format_addr(b.start)}, {format_addr(b.end)}) {b.type} overlaps "
                    f"[{format_addr(a.start)}, {format_addr(a.end)}) {a.type}",
                    rule="the first kernel's map has no overlapping entries (e820 semantics)",
                    hint="fix the boundaries; a reserved hole inside RAM splits the RAM range in two",
                    related=(Related(r.span(apath), "the other range"),))
    srat = bool(r.get(("memory", "srat"), False))
    ram_end = max((m.end for m, _ in ranges if m.type is RangeType.RAM), default=0)
    block_size = _block_size(r, arch, ram_end)
    mems = tuple(m for m, _ in ranges)
    nodes = sorted({m.node or 0 for m in mems if m.type is RangeType.RAM})
    declared_ram = any(isinstance(i, dict) and i.get("type") == "ram" for i in r.get(("memory", "map"), []) or [])
    if r.has(("memory", "map")) and not declared_ram:
        r.error("LC211", ("memory", "map"), "the map has no ram range", rule="a board has System RAM",
                hint="add the RAM ranges (type: ram) from /proc/iomem or e820")
    if len(nodes) > 1 and not srat:
        r.error("LC219", ("memory", "srat"), f"{len(nodes)} NUMA nodes but srat is false",
                rule="NUMA nodes come from the firmware's SRAT; without one the kernel sees a single node",
                hint="set memory.srat: true, or put every range on node 0", value=srat)
    early = {int(k): parse_size(v) for k, v in (r.get(("memory", "early_reserved"), {}) or {}).items()}
    return MemoryMap(mems, block_size, srat, early)


def _within_address_width(r: _Reader, arch: Arch, end: int, path: Key, raw: object) -> bool:
    """An address (or a range's end) inside the widest physical address space of ``arch``.

    Nothing past it can be memory (kernel/physaddr.py cites MAX_PHYSMEM_BITS), and every later
    computation is then bounded by it instead of by whatever number the profile holds.
    """
    limit = address_limit(arch)
    if end <= limit:
        return True
    bits, narrow = MAX_PHYSMEM_BITS[arch], NARROW_PHYSMEM_BITS[arch]
    source = "arch/x86/include/asm/sparsemem.h" if arch is Arch.X86_64 else "arch/arm64/include/asm/sparsemem.h"
    r.error("LC240", path, f"{format_addr(end)} is past the end of the {bits}-bit physical address space of "
            f"{arch} ({format_addr(limit)}, {format_size(limit)})",
            rule=f"{arch} physical addresses are below 2^{bits} (MAX_PHYSMEM_BITS is {bits} at most, {narrow} on "
            f"narrower configurations; {source})",
            hint="check the value for a typo (1E is 2^60 bytes); copy the ranges from /proc/iomem or the e820 table",
            value=raw)
    return False


def _block_size(r: _Reader, arch: Arch, ram_end: int) -> int:
    """memory.block_size, or the kernel's default; 0 is an error, never the default.

    LNX:drivers/base/memory.c memory_dev_init() panics unless memory_block_size_bytes() is a power
    of two >= MIN_MEMORY_BLOCK_SIZE (one section; kernel/physaddr.py).
    """
    default = default_block_size(arch, ram_end)
    block_size = r.size(("memory", "block_size"), default)
    if block_size is None:
        return default
    raw, smallest = r.get(("memory", "block_size")), min_block_size(arch)
    if block_size & (block_size - 1):
        r.error("LC204", ("memory", "block_size"), f"block size {format_size(block_size)} is not a power of two",
                rule="memory block size is a power of two >= the section size (docs/reference/kernel-rules.md §4.1)",
                hint="read /sys/devices/system/memory/block_size_bytes (hex) on the board", value=raw)
    elif block_size < smallest:
        r.error("LC204", ("memory", "block_size"), f"block size {format_size(block_size)} is smaller than one "
                f"memory section ({format_size(smallest)} on {arch})",
                rule="memory block size is a power of two >= the section size (drivers/base/memory.c "
                "memory_dev_init)", hint="read /sys/devices/system/memory/block_size_bytes (hex) on the board, "
                f"or leave block_size out for the kernel's default ({format_size(default)} here)", value=raw)
    elif block_size > address_limit(arch):
        _within_address_width(r, arch, block_size, ("memory", "block_size"), raw)
    return block_size


def default_block_size(arch: Arch, ram_end: int) -> int:
    """The kernel's own memory block size when the profile does not give one.

    x86_64: arch/x86/mm/init_64.c probe_memory_block_size(): 128 MiB when boot memory ends below
    64 GiB, else 2 GiB on bare metal (fe124c95df9e; a VM may get less: give block_size then).
    arm64: one section, 128 MiB with 4K pages (SECTION_SIZE_BITS 27 since 5.12, f0b13ee23241).
    """
    if arch is Arch.X86_64 and ram_end >= 64 * GiB:
        return 2 * GiB
    return DEFAULT_BLOCK_SIZE


def _crash(r: _Reader) -> CrashSpec:
    memory = CrashMemory(r.get(("crash", "memory"), "classic"))
    cma_size = r.size(("crash", "cma_size"))
    if memory is CrashMemory.CMA and cma_size is None:
        r.error("LC209", ("crash",), "crash.memory is cma but crash.cma_size is missing",
                rule="crashkernel=X,cma needs its size X (docs/reference/kernel-rules.md §1.5)",
                hint="add crash.cma_size, e.g. 256M")
    if memory is CrashMemory.CLASSIC and cma_size is not None:
        r.error("LC209", ("crash", "cma_size"), "crash.cma_size is set but crash.memory is classic",
                rule="only crash.memory: cma uses crashkernel=,cma", hint="remove cma_size or set memory: cma",
                value=r.get(("crash", "cma_size")))
    return CrashSpec(
        memory=memory, target=Target(r.get(("crash", "target"), "pmem-window")),
        reserve=r.size(("crash", "reserve")), cma_size=cma_size,
        kernel_size=r.size(("crash", "kernel_size"), 12 * MiB) or 0,
        initrd_size=r.size(("crash", "initrd_size"), 8 * MiB) or 0,
        cpus=int(r.get(("crash", "cpus"), 1)),
        kernel_path=str(r.get(("crash", "kernel_path"), "/boot/crash/vmlinuz")),
        initrd_path=str(r.get(("crash", "initrd_path"), "/boot/crash/initrd.img")),
        cmdline=str(r.get(("crash", "cmdline"), "")),
        unsafe=r.get(("crash", "unsafe")),
        modules=tuple(dict.fromkeys(str(m).replace("-", "_") for m in r.get(("crash", "modules"), []) or [])),
    )


def _window(r: _Reader, crash: CrashSpec, memory: MemoryMap) -> WindowSpec | None:
    if crash.target is not Target.PMEM_WINDOW:
        if r.has(("window",)):
            r.error("LC217", ("window",), "a window section is given but crash.target is disk",
                    rule="only the pmem-window target has a window", hint="remove window: or set target: pmem-window")
        return None
    mode = WindowMode(r.get(("window", "mode"), "movable"))
    release_text = r.get(("window", "release"), "auto")
    if release_text == "auto":
        release = Release.KMEM if memory.srat else Release.REBOOT
    else:
        release = Release(release_text)
    if mode is WindowMode.HOTPLUG and not memory.srat:
        r.error("LC206", ("window", "mode"), "window mode hotplug needs an SRAT (memory.srat: true)",
                rule="dax/kmem refuses a region with no NUMA node ('invalid node: -1'; "
                    "docs/reference/kernel-rules.md §3.5)",
                hint="use window mode movable (released by a reboot), or declare the SRAT if the firmware has one",
                value=mode)
    elif release is Release.KMEM and not memory.srat:
        r.error("LC206", ("window", "release"), "release kmem needs an SRAT (memory.srat: true)",
                rule="dax/kmem refuses a region with no NUMA node ('invalid node: -1'; "
                    "docs/reference/kernel-rules.md §3.5)",
                hint="use release: reboot, or declare the SRAT if the firmware has one", value=release_text)
    return WindowSpec(
        mode=mode, size=r.size(("window", "size")),
        devdax_map=DevdaxMap(r.get(("window", "devdax_map"), "mem")),
        devdax_align=_devdax_align(r),
        release=release,
    )


# drivers/nvdimm/pfn_devs.c nd_pfn_supported_alignments() (v6.1, v7.2): PAGE_SIZE, HPAGE_PMD_SIZE and
# HPAGE_PUD_SIZE, i.e. 4K, 2M and 1G with 4 KiB pages on x86_64 and arm64; ndctl --align takes one of them
DEVDAX_ALIGNMENTS = (4 * 1024, 2 * MiB, 1024 * MiB)


def _devdax_align(r: _Reader) -> int:
    """window.devdax_align: one of the alignments a pfn/devdax namespace supports (default 2M); 0 is an error."""
    align = r.size(("window", "devdax_align"), 2 * MiB)
    if align is None:
        return 2 * MiB
    if align not in DEVDAX_ALIGNMENTS:
        r.error("LC241", ("window", "devdax_align"), f"devdax alignment {format_size(align)} is not one the "
                "kernel offers (4K, 2M or 1G)",
                rule="a devdax namespace is aligned to one of supported_alignments (drivers/nvdimm/pfn_devs.c "
                "nd_pfn_supported_alignments)", hint="leave devdax_align out for 2M, or write 4K or 1G",
                value=r.get(("window", "devdax_align")))
        return 2 * MiB
    return align


def _disk(r: _Reader, crash: CrashSpec) -> DiskSpec | None:
    if crash.target is Target.DISK:
        if not r.has(("disk",)):
            r.error("LC208", ("crash", "target"), "crash.target is disk but there is no disk section",
                    rule="the disk target names the device the crash kernel writes",
                    hint="add disk: {device: /dev/disk/by-partlabel/crash}", value="disk")
            return None
        return DiskSpec(str(r.get(("disk", "device"))), str(r.get(("disk", "fstype"), "ext4")))
    if r.has(("disk",)):
        r.error("LC208", ("disk",), "a disk section is given but crash.target is pmem-window",
                rule="only the disk target uses disk:", hint="remove disk: or set crash.target: disk")
    return None


def _check_versions(r: _Reader, arch: Arch, version: KernelVersion, crash: CrashSpec,
                    window: WindowSpec | None) -> None:
    if crash.memory is CrashMemory.CMA:
        if arch is not Arch.X86_64:
            r.error("LC205", ("crash", "memory"), f"crashkernel=,cma is not supported on {arch}",
                    rule="crashkernel=,cma is x86_64 since 6.17; on arm64, measured in QEMU, Debian 7.2.13 "
                    "ignores ,cma (no crash memory beyond the base) and 6.1 rejects the whole crashkernel= "
                    "('unrecognized char'), so layoutc refuses it until the lab proves it on the target kernel "
                    "(docs/reference/kernel-rules.md §1.5)",
                    hint="use crash.memory: classic", value="cma")
        elif (version.major, version.minor) < CMA_MIN_VERSION:
            r.error("LC205", ("crash", "memory"), f"crashkernel=,cma needs Linux 6.17 or newer; "
                    f"kernel.version is {version}",
                    rule="crashkernel=,cma landed in Linux 6.17 (commits 35c18f2933c5, ab475510e042)",
                    hint="use crash.memory: classic, or a 6.17+ kernel", value="cma",
                    related=(Related(r.span(("kernel", "version")), "kernel version set here"),))
    if window is not None and arch is Arch.ARM64 and window.mode is WindowMode.HOTPLUG:
        where: Key = ("window", "mode") if r.has(("window", "mode")) else ("arch",)
        r.error("LC207", where, "arm64 has no memmap=! (hotplug window)",
                rule="memmap=nn!ss is x86-only; on arm64 the window is a device-tree pmem-region node that "
                    "only the crash kernel and the recovery boot get, so it is ZONE_MOVABLE memory in every "
                    "production boot (docs/reference/kernel-rules.md §3.3, §8.6)",
                hint="use window.mode: movable on arm64", value="hotplug")


def _check_cmdline(r: _Reader, path: Key, memory: MemoryMap) -> None:
    text = r.get(path)
    if not isinstance(text, str):
        return
    ram_top = max((m.end for m in memory.ram), default=None) if path[0] == "kernel" else None

    def error(code: str, message: str, rule: str, hint: str, value: str) -> None:
        r.error(code, path, message, rule=rule, hint=hint, value=value)

    check_cmdline(text, dotted(path), ram_top, error)


def _dump(r: _Reader, crash: CrashSpec, arch: Arch) -> DumpSpec:
    level = int(r.get(("dump", "level"), 31))
    if crash.memory is CrashMemory.CMA and not level & DUMP_LEVEL_USER:
        r.diags.warning("LC216", f"dump level {level} keeps user pages, but pages in the CMA area are not in "
                        "the vmcore", span=r.span(("dump", "level")), path="dump.level", value=str(level),
                        rule="crashkernel=,cma: user and movable pages there are missing "
                            "(docs/reference/kernel-rules.md §1.5)",
                        hint="use a level with bit 8 (e.g. 31) so the dump says what it really holds")
    exclude: list[ExcludeRange] = []
    for index, item in enumerate(r.get(("dump", "exclude"), []) or []):
        start = parse_size(item["start"])
        if ("end" in item) == ("size" in item):
            r.error("LC203", ("dump", "exclude", index), "give exactly one of 'end' or 'size'",
                    rule="a range is start + end, or start + size", hint="end is exclusive")
            continue
        end = parse_size(item["end"]) if "end" in item else start + parse_size(item["size"])
        if end <= start:
            r.error("LC201", ("dump", "exclude", index), "exclude range is empty or reversed",
                    rule="ranges are [start, end) with end > start", hint="end is the first byte after the range")
            continue
        if not _within_address_width(r, arch, end, ("dump", "exclude", index), item.get("end", item.get("size"))):
            continue
        exclude.append(ExcludeRange(start, end, str(item["reason"])))
    dumper = Dumper(r.get(("dump", "dumper"), "layoutc"))
    _unused_cpus(r, crash, dumper)
    return DumpSpec(level=level, compression=Compression(r.get(("dump", "compression"), "zlib")),
                    format=DumpFormat(r.get(("dump", "format"), "kdump")), dumper=dumper, exclude=tuple(exclude))


def _unused_cpus(r: _Reader, crash: CrashSpec, dumper: Dumper) -> None:
    """LC264: crash CPUs the capture cannot use still cost memory in the reservation."""
    if crash.cpus > 1 and dumper is Dumper.MAKEDUMPFILE and r.get(("crash", "stack"), "layoutc") == "layoutc":
        r.diags.warning("LC264", f"{crash.cpus} CPUs, but capture.sh runs makedumpfile with one thread",
                        span=r.span(("crash", "cpus")), path="crash.cpus", value=str(crash.cpus),
                        rule="nr_cpus= brings up the CPUs and the reservation pays for each "
                             "(docs/reference/kernel-rules.md §10.1); only the layoutc dumper gets --workers",
                        hint="use crash.cpus: 1 with makedumpfile, or dump.dumper: layoutc")


def _recovery(r: _Reader, window: WindowSpec | None) -> RecoverySpec:
    selection = BootSelection(r.get(("recovery", "boot_selection"), "efi"))
    hook = tuple(str(a) for a in r.get(("recovery", "hook"), []) or [])
    if selection is BootSelection.HOOK and not hook:
        r.error("LC215", ("recovery", "boot_selection"), "boot_selection is hook but recovery.hook is empty",
                rule="the hook is the command that selects the recovery boot",
                hint="add recovery.hook: [/usr/sbin/select-recovery]", value="hook")
    if hook and selection is not BootSelection.HOOK:
        r.error("LC215", ("recovery", "hook"), f"recovery.hook is set but boot_selection is {selection}",
                rule="the hook runs only when boot_selection is hook", hint="remove hook or set boot_selection: hook")
    grubenv_device = str(r.get(("recovery", "grubenv_device"), ""))
    for key in ("grubenv_device", "grubenv_fstype"):
        if r.has(("recovery", key)) and selection is not BootSelection.GRUBENV:
            r.error("LC215", ("recovery", key), f"recovery.{key} is set but boot_selection is {selection}",
                    rule="capture.sh mounts the grubenv file system only when boot_selection is grubenv",
                    hint=f"remove {key} or set boot_selection: grubenv")
    kernel_glob, initrd_glob = _boot_globs(r, window)
    return RecoverySpec(store=str(r.get(("recovery", "store"), "/var/crash")),
                        upload=tuple(str(a) for a in r.get(("recovery", "upload"), []) or []),
                        boot_selection=selection, hook=hook, kernel_glob=kernel_glob, initrd_glob=initrd_glob,
                        grubenv_device=grubenv_device,
                        grubenv_fstype=str(r.get(("recovery", "grubenv_fstype"), "ext4")))


def _boot_globs(r: _Reader, window: WindowSpec | None) -> tuple[str, str]:
    """recovery.kernel_glob and recovery.initrd_glob (frontend/recovery_rules.py), or their defaults."""
    found: dict[str, str] = {}
    for name, default in (("kernel_glob", DEFAULT_KERNEL_GLOB), ("initrd_glob", DEFAULT_INITRD_GLOB)):
        path = ("recovery", name)

        def error(code: str, message: str, rule: str, hint: str, value: str, path: Key = path) -> None:
            r.error(code, path, message, rule=rule, hint=hint, value=value)

        value = str(r.get(path, default))
        found[name] = value if check_glob(dotted(path), value, error) else default
    given = [name for name in found if r.has(("recovery", name))]
    if given and found["kernel_glob"] == found["initrd_glob"]:
        other = "initrd_glob" if given[-1] == "kernel_glob" else "kernel_glob"
        r.error("LC519", ("recovery", given[-1]), f"the pattern is the same as recovery.{other}'s",
                rule="each kernel's initrd is another file than the kernel",
                hint=f"name the initrds, e.g. initrd_glob: {DEFAULT_INITRD_GLOB}", value=found["initrd_glob"])
    if given and (window is None or window.mode is not WindowMode.MOVABLE):
        r.diags.warning("LC518", "set, but the board has no recovery boot entries (no movable window)",
                        span=r.span(("recovery", given[0])), path=f"recovery.{given[0]}",
                        value=found[given[0]], rule="only a movable window has a distinct recovery boot "
                        "(the GRUB and kernel-install entries that follow the installed kernels)",
                        hint="remove the key, or give the board a movable window")
    return found["kernel_glob"], found["initrd_glob"]


def _pins(r: _Reader, arch: Arch) -> Pins:
    values: dict[str, Pin] = {}
    for name in ("movablecore", "window_base", "crashkernel_offset"):
        raw = r.get(("pins", name))
        if raw is None:
            continue
        unsafe = False
        if isinstance(raw, dict):
            unsafe = bool(raw.get("unsafe", False))
            raw = raw["value"]
        try:
            value = parse_size_or_percent(raw) if name == "movablecore" else parse_size(raw)
        except UnitError:
            r.error("LC220", ("pins", name), f"{raw} is over 100%", rule="kernelcore/movablecore percent is "
                    "at most 100 (mm_init.c cmdline_parse_core)", hint="write a percentage from 1% to 100%",
                    value=raw)
            continue
        if isinstance(value, int) and not _within_address_width(r, arch, value, ("pins", name), raw):
            continue
        values[name] = Pin(value, unsafe)
    return Pins(**values)
