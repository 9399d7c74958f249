"""What a kernel can do for a crash-dump layout, from its configuration (``kernel.config``).

A layout leans on several kernel mechanisms; each exists only when its Kconfig option is built in
(``y``) or built as a module (``m``, which also needs ``MODULES=y`` and the module file). The table
below names every option layoutc reasons about, the Kconfig file that defines it (read at the lab's
Debian 6.1 and 7.2 kernels) and the module it builds; ``needs`` says which of them a design uses.

Parameter spellings are gated here too: ``crashkernel=SIZE,cma`` is parsed by
LNX:kernel/crash_reserve.c ``parse_crashkernel`` and reserved by ``reserve_crashkernel_cma``, which
is a stub without CONFIG_CMA ("crashkernel CMA reservation not supported"); the CMA ranges reach the
crash kernel only through kexec_file_load (LNX:arch/x86/kernel/crash.c ``crash_setup_memmap_entries``;
docs/reference/kernel-rules.md §1.5, §7.3). On arm64 the spelling is refused until the lab proves it
on the target kernel: measured under QEMU, Debian 7.2.13 arm64 accepts ``crashkernel=X,cma`` and
reserves nothing for it, and Debian 6.1 arm64 rejects the whole ``crashkernel=`` ("unrecognized
char"), leaving no crash memory at all. ``memmap=nn!ss`` is parsed on every x86 kernel
(LNX:arch/x86/kernel/e820.c ``parse_memmap_one``), but only X86_PMEM_LEGACY's ``nd_e820`` turns the
range into a /dev/pmem device (LNX:drivers/nvdimm/e820.c ``e820_register_one``; §3.3): without it
the window is memory taken away and no dump target. Device-tree platforms use a ``pmem-region``
node served by OF_PMEM (LNX:drivers/nvdimm/of_pmem.c ``of_pmem_region_probe``).
"""

from __future__ import annotations

from dataclasses import dataclass

from layoutc.model.profile import Arch, KernelVersion


@dataclass(frozen=True, slots=True)
class Option:
    """One Kconfig option: where it is defined, the module it builds (if tristate), what it gives."""

    symbol: str
    kconfig: str
    module: str | None
    gives: str


OPTIONS: tuple[Option, ...] = (
    Option("KEXEC", "kernel/Kconfig.kexec (7.2; arch/*/Kconfig in 6.1)", None,
           "the kexec_load system call (kexec -p), which arm.sh uses outside lockdown"),
    Option("KEXEC_FILE", "kernel/Kconfig.kexec (7.2; arch/*/Kconfig in 6.1)", None,
           "the kexec_file_load system call (kexec -s -p), the only loader that passes crashkernel=,cma ranges"),
    Option("CRASH_DUMP", "kernel/Kconfig.kexec (7.2; arch/*/Kconfig in 6.1)", None,
           "crash kernels: the reservation and the jump on panic"),
    Option("PROC_VMCORE", "fs/proc/Kconfig", None, "/proc/vmcore in the crash kernel"),
    Option("CMA", "mm/Kconfig", None, "contiguous memory areas, which crashkernel=,cma reserves"),
    Option("X86_PMEM_LEGACY", "arch/x86/Kconfig", "nd_e820", "a /dev/pmem region for each memmap=nn!ss range"),
    Option("OF_PMEM", "drivers/nvdimm/Kconfig", "of_pmem", "a /dev/pmem region for each DT pmem-region node"),
    Option("LIBNVDIMM", "drivers/nvdimm/Kconfig", "libnvdimm", "the NVDIMM bus that pmem regions live on"),
    Option("BLK_DEV_PMEM", "drivers/nvdimm/Kconfig", "nd_pmem", "the /dev/pmemN block device"),
    Option("ND_PFN", "drivers/nvdimm/Kconfig", None, "pfn and devdax namespaces (ndctl create-namespace -m devdax)"),
    Option("ZONE_DEVICE", "mm/Kconfig", None, "struct pages for device memory (devdax)"),
    Option("DEV_DAX", "drivers/dax/Kconfig", "device_dax", "/dev/daxX.Y devices"),
    Option("DEV_DAX_PMEM", "drivers/dax/Kconfig", "dax_pmem", "devdax on a pmem namespace"),
    Option("DEV_DAX_KMEM", "drivers/dax/Kconfig", "kmem", "dax/kmem: a dax device given back as System RAM"),
    Option("MEMORY_HOTPLUG", "mm/Kconfig", None, "hot-adding memory blocks (kmem, memhp_default_state=)"),
    Option("MEMORY_HOTREMOVE", "mm/Kconfig", None, "offlining and removing hot-added blocks again"),
    Option("MHP_MEMMAP_ON_MEMORY", "mm/Kconfig", None, "the memory_hotplug.memmap_on_memory parameter"),
    Option("MODULES", "kernel/module/Kconfig", None, "loadable modules (any option built =m)"),
    Option("EXT4_FS", "fs/ext4/Kconfig", "ext4", "the ext4 file system the dump is written to"),
    Option("NUMA", "arch/x86/Kconfig, arch/arm64/Kconfig", None, "NUMA nodes (kmem needs the window's node)"),
    Option("KALLSYMS_ALL", "init/Kconfig", None,
           "every symbol in /proc/kallsyms; on arm64 the only way _text is listed, which kexec-tools needs"),
)
BY_SYMBOL = {o.symbol: o for o in OPTIONS}
KCONFIG_OPTIONS: tuple[str, ...] = tuple(o.symbol for o in OPTIONS)
STATES = ("y", "m", "n")

# Debian's cloud-amd64 7.2.13 configuration (tests/captures/kconfig), what an x86_64 profile without
# kernel.config is assumed to run; its 6.1.0-56 differs only in CMA (not set, and ,cma is 6.17+ anyway).
DEBIAN_AMD64: dict[str, str] = {
    "KEXEC": "y", "KEXEC_FILE": "y", "CRASH_DUMP": "y", "PROC_VMCORE": "y", "CMA": "y",
    "X86_PMEM_LEGACY": "m", "OF_PMEM": "n", "LIBNVDIMM": "m", "BLK_DEV_PMEM": "m", "ND_PFN": "m",
    "ZONE_DEVICE": "y", "DEV_DAX": "m", "DEV_DAX_PMEM": "m", "DEV_DAX_KMEM": "m", "MEMORY_HOTPLUG": "y",
    "MEMORY_HOTREMOVE": "y", "MHP_MEMMAP_ON_MEMORY": "y", "MODULES": "y", "EXT4_FS": "y", "NUMA": "y",
    "KALLSYMS_ALL": "y",
}
# Debian's arm64 kernels as the lab read their shipped configs (tests/captures/kconfig): no KEXEC_FILE,
# ext4 a module; 6.1 has no ZONE_DEVICE and no KALLSYMS_ALL.
DEBIAN_ARM64: dict[str, str] = {
    **DEBIAN_AMD64, "KEXEC_FILE": "n", "X86_PMEM_LEGACY": "n", "OF_PMEM": "m", "EXT4_FS": "m",
}


def assumed_config(arch: Arch, version: KernelVersion) -> dict[str, str]:
    """The Debian-like configuration assumed for a profile that does not state ``kernel.config``."""
    if arch is Arch.X86_64:
        return dict(DEBIAN_AMD64)
    if version.at_least(7, 0):
        return dict(DEBIAN_ARM64)
    return {**DEBIAN_ARM64, "ZONE_DEVICE": "n", "DEV_DAX_PMEM": "n", "ND_PFN": "n", "KALLSYMS_ALL": "n"}


@dataclass(frozen=True, slots=True)
class Need:
    """What a design uses: every symbol must be y or m; ``source`` is the kernel code that needs it."""

    what: str
    symbols: tuple[str, ...]
    source: str
    instead: str  # the design that does without it ("or use ..."), or why there is none


def crash_needs(arch: Arch, cma: bool, window: bool, fstype: str | None) -> tuple[Need, ...]:
    """The options the crash kernel's load, reservation and dump target need."""
    load = (Need("crashkernel=,cma (loaded with kexec -s)", ("KEXEC_FILE", "CMA"),
                 "LNX:kernel/kexec_file.c kexec_file_load, LNX:kernel/crash_reserve.c reserve_crashkernel_cma; "
                 "docs/reference/kernel-rules.md §7.3", "or use crash.memory: classic (import --strategy pmem-movable)")
            if cma else
            Need("loading the crash kernel with kexec -p", ("KEXEC",), "LNX:kernel/kexec.c kexec_load",
                 "no design loads a crash kernel without a kexec system call"))
    needs = [load, Need("the crash kernel and its /proc/vmcore", ("CRASH_DUMP", "PROC_VMCORE"),
                        "LNX:fs/proc/vmcore.c vmcore_init", "no design dumps without them")]
    if window:
        pmem = "X86_PMEM_LEGACY" if arch is Arch.X86_64 else "OF_PMEM"
        driver = ("LNX:drivers/nvdimm/e820.c e820_pmem_probe" if arch is Arch.X86_64
                  else "LNX:drivers/nvdimm/of_pmem.c of_pmem_region_probe")
        needs.append(Need("the crash kernel's /dev/pmem window", (pmem, "LIBNVDIMM", "BLK_DEV_PMEM"),
                          f"{driver}, LNX:drivers/nvdimm/pmem.c pmem_attach_disk; docs/reference/kernel-rules.md §3.3",
                          "or use crash.target: disk (import --strategy classic-disk)"))
    if window or fstype == "ext4":
        needs.append(Need("writing the dump to ext4", ("EXT4_FS",), "LNX:fs/ext4/super.c ext4_fill_super",
                          "or use a disk target with a file system the kernel has (disk.fstype)"))
    return tuple(needs)


IN_PLACE_RETURN = Need(
    "handing the window back in place (ndctl -m devdax, daxctl --mode=system-ram)",
    ("ZONE_DEVICE", "ND_PFN", "DEV_DAX", "DEV_DAX_PMEM", "DEV_DAX_KMEM", "MEMORY_HOTPLUG"),
    "LNX:drivers/nvdimm/pfn_devs.c nd_pfn_init, LNX:drivers/dax/kmem.c dev_dax_kmem_probe; "
    "docs/reference/kernel-rules.md §3.3, §3.5",
    "or use window.mode: movable with window.release: reboot (the window comes back at the next normal boot)",
)


def missing(need: Need, config: dict[str, str]) -> tuple[str, ...]:
    """The symbols of ``need`` that ``config`` does not build (neither y nor m)."""
    return tuple(s for s in need.symbols if config.get(s, "n") not in ("y", "m"))


def modules_without_loader(needs: tuple[Need, ...], config: dict[str, str]) -> tuple[str, ...]:
    """Needed symbols built as modules (=m) while MODULES is not y: nothing could load them."""
    if config.get("MODULES", "n") == "y":
        return ()
    seen: list[str] = []
    for need in needs:
        seen += [s for s in need.symbols if config.get(s) == "m" and s not in seen]
    return tuple(seen)


def needed_modules(needs: tuple[Need, ...], config: dict[str, str]) -> tuple[str, ...]:
    """The module names the crash and recovery boots load for the needed options built =m."""
    names: list[str] = []
    for need in needs:
        for symbol in need.symbols:
            module = BY_SYMBOL[symbol].module
            if config.get(symbol) == "m" and module is not None and module not in names:
                names.append(module)
    return tuple(names)


def stage_modules(arch: Arch, config: dict[str, str], *, cma: bool, window: bool, fstype: str | None,
                  in_place: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The modules the crash boot (capture-init.sh) and the recovery boot (recover.sh) load, in that order.

    The crash kernel writes the dump: the window's /dev/pmem chain and the dump's file system
    (``crash_needs``). The recovery boot reads the dump back the same way and, when it hands the
    window back in place, adds the devdax and dax/kmem drivers (``IN_PLACE_RETURN``). Only options
    built ``=m`` get a module (``=y`` is already in the kernel; ``n`` is LC242 in the front end). A
    disk's file system the table does not know (xfs, vfat) keeps a modprobe by its name, a no-op when
    it is built in.
    """
    needs = crash_needs(arch, cma, window, fstype)
    other = (fstype,) if fstype is not None and fstype != "ext4" else ()
    crash = (*needed_modules(needs, config), *other)
    extra = needed_modules((IN_PLACE_RETURN,), config) if in_place else ()
    return crash, (*crash, *(m for m in extra if m not in crash))
