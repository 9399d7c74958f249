"""The view-model of the device artifacts: every number and string the templates print.

Built from the typed ``Profile`` and its solved ``Layout`` (the devdax offsets and kmem range are
the Layout's ``Devdax``, never re-derived here). The templates only loop and branch over this;
shell values are quoted there by the one ``shquote`` filter, never here, so the view holds plain
values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from layoutc.devicetree.edit import Edit, PmemRegion
from layoutc.dump.zipapp import RUNNER
from layoutc.model.layout import Layout, RegionKind
from layoutc.model.profile import (
    Arch,
    BootSelection,
    CrashMemory,
    DevdaxMap,
    Dumper,
    Profile,
    Release,
    Target,
    WindowMode,
)
from layoutc.model.units import format_addr, format_size
from layoutc.render.device_filter import MKFS_ARGS, filter_spec

# systemd-boot's vendor GUID for Loader* variables (systemd: src/boot/efi/boot.c LOADER_GUID)
LOADER_GUID = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"
# EFI_VARIABLE_NON_VOLATILE | BOOTSERVICE_ACCESS | RUNTIME_ACCESS, little-endian u32
EFI_ATTRS = b"\x07\x00\x00\x00"
DEFAULT_RECOVERY_ID = "layoutc-recovery"
GRUBENV = "/boot/grub/grubenv"
INSTALL_DIR = "/usr/lib/layoutc"
CONFIG_DIR = "/etc/layoutc"
DUMP_PYZ = "/usr/lib/layoutc/dump.pyz"  # the crash dumper (layoutc.dump.zipapp.CRASH)
DEVICE_PYZ = "/usr/lib/layoutc/layoutc-device.pyz"  # the device tree tool and the status (zipapp.DEVICE)
# iomem resources the window must never overlap (docs/reference/kernel-rules.md §7 items 17, 18, 31)
IOMEM_CONFLICTS = ("Crash kernel", "Kernel code", "Kernel rodata", "Kernel data", "Kernel bss")
# recover.sh bounds each upload with timeout(1) (no profile key sets it): SIGTERM after this many seconds,
# SIGKILL UPLOAD_KILL_SECONDS later; a timed-out upload keeps the dump stored and the window held
UPLOAD_TIMEOUT_SECONDS = 1800
UPLOAD_KILL_SECONDS = 30
# a path a unit file can carry as is: no specifier (%), no whitespace or control character. The profile
# schema means the same, but its "$" also matches before a trailing newline (Python re), so check again.
UNIT_PATH = re.compile(r"/[A-Za-z0-9._/+@:=-]*")
# arm64 windows (docs/arm64.md): the compiled edit, the running kernel's flattened tree it is applied to
# (LNX:drivers/of/fdt.c of_fdt_raw_init, /sys/firmware/fdt) and the edited DTB kexec -p --dtb loads
DT_EDIT = f"{CONFIG_DIR}/crash-dt.json"
RUNNING_FDT = "/sys/firmware/fdt"
CRASH_DTB = "/run/layoutc/crash.dtb"
# kexec -i (--no-checks) on arm64, a rule of no profile key: purgatory's sha256 over the loaded segments
# runs with the MMU off (LNX:arch/arm64/kernel/relocate_kernel.S) and cost 39 s of a 48 MiB Image under
# QEMU TCG (1.8 s with -i); a mismatch it finds only stops the crash kernel, so it buys no dump (docs/arm64.md)
KEXEC_NO_CHECKS = frozenset({Arch.ARM64})
# kexec-tools on arm64 takes the crash kernel's page_offset from _text in /proc/kallsyms (kexec-tools:
# kexec/arch/arm64/kexec-arm64.c get_kernel_page_offset); without it the ELF core header is broken
KALLSYMS_TEXT = frozenset({Arch.ARM64})


@dataclass(frozen=True, slots=True)
class WindowView:
    start: int
    end: int
    size: int
    node: int
    memmap: str  # the memmap=SIZE!BASE parameter of the crash (and recovery) boots; movable: recovery_mark
    cover_first: int  # memory blocks covering the window (production, movable)
    cover_last: int
    kmem_first: int  # memory blocks dax/kmem hands back (recovery); last < first: none
    kmem_last: int
    devdax_map: DevdaxMap
    devdax_align: str  # ndctl --align, as spelled (2M)
    release: Release


@dataclass(frozen=True, slots=True)
class BootView:
    """One-shot selection of the recovery boot from the crash kernel (movable windows)."""

    kind: str  # efi | grubenv | hook | none
    entry: str
    efi_var: str
    efi_printf: str  # printf format of attribute bytes + UTF-16LE entry id + NUL, all octal escapes
    efi_len: int
    grubenv: str
    hook: tuple[str, ...]
    grubenv_device: str  # recovery.grubenv_device: mounted when the crash kernel has no grubenv ("": none)
    grubenv_fstype: str
    grubenv_tag: str  # blkid's tag for a /dev/disk/by-* link (UUID, LABEL, PARTLABEL; "": a plain device)


@dataclass(frozen=True, slots=True)
class DeviceTreeView:
    """arm64 windows: the crash kernel learns of the window from a pmem-region node in its DTB."""

    edit: Edit  # the devicetree-edit v1 document (device/crash-dt.json)
    edit_path: str  # where the device keeps it
    running_fdt: str  # the running kernel's flattened tree, the edit's input
    dtb: str  # the edited tree kexec -p --dtb loads
    node: str  # /pmem@<base>: the node the edit adds and the recovery boot's tree must carry
    recovery_mem: str  # the recovery boot's mem= parameter (keeps the window out of RAM); "" when none


@dataclass(frozen=True, slots=True)
class DeviceView:
    board: str
    profile: str
    description: str
    strategy: str
    crash_memory: CrashMemory
    target: Target
    window_mode: str  # movable | hotplug | none
    block_size: int
    window: WindowView | None
    production_params: tuple[str, ...]
    recovery_params: tuple[str, ...]
    crash_append: str
    kernel_path: str
    initrd_path: str
    kexec_file: bool  # -s always (cma needs kexec_file_load)
    kexec_no_checks: bool  # -i with kexec_load (KEXEC_NO_CHECKS)
    kallsyms_text: bool  # arm.sh refuses a kernel whose /proc/kallsyms lists no _text (KALLSYMS_TEXT)
    dt: DeviceTreeView | None  # arm64 windows: the crash kernel's device tree edit; kexec_load only
    crash_modules: tuple[str, ...]  # capture-init.sh's modprobes (layout.boot_modules: kernel.config's =m options)
    recovery_modules: tuple[str, ...]  # recover.sh's modprobes
    crash_size: int
    crash_cpus: int  # nr_cpus= of the crash cmdline: capture.sh caps the dumper's --workers at it (crash.cpus)
    cma_size: int
    # the layout's predicted crash CMA ranges, sorted: "0xSTART-0xEND" words (exclusive ends, as arm.sh's
    # hex prints them) and "[0xSTART, 0xEND)" for messages; arm.sh warns when the kernel's differ
    cma_ranges: tuple[str, ...]
    cma_ranges_text: str
    prove_movability: bool  # the profile asks, or a pin overrode a safety rule (layout.json unsafe)
    iomem_conflicts: tuple[str, ...]
    dumper: str
    dump_pyz: str
    dump_runner: tuple[str, ...]  # the command line before dump.pyz's path (layoutc.dump.zipapp.RUNNER)
    device_pyz: str
    filter_path: str
    makedumpfile_args: tuple[str, ...]
    mkfs_args: tuple[str, ...]
    disk_device: str
    disk_fstype: str
    boot: BootView
    store: str
    store_unit: str | None  # the store for RequiresMountsFor=, None when it is not a plain path
    upload: tuple[tuple[str, ...], ...]  # each argument split at "{dump}"
    upload_timeout: int  # seconds before timeout(1) stops an upload (SIGTERM), then SIGKILL after upload_kill
    upload_kill: int
    install_dir: str
    modes: tuple[str, ...]  # arm.sh modes that apply to this strategy
    # the one word only the recovery boot's cmdline has (recovery_mark); "" when no boot is told apart. The
    # arm unit skips exactly that word: ConditionKernelCommandLine= with an assignment matches a whole word
    # (systemd.unit(5)); recovery_mark_unit is that word as a unit file spells it (specifiers: % -> %%)
    recovery_mark: str
    recovery_mark_unit: str


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(t for t in text.split() if t)


def _memmap(layout: Layout, start: int, size: int) -> str:
    for stage in (layout.cmdline.crash, layout.cmdline.recovery, layout.cmdline.production):
        for token in _tokens(stage):
            if token.startswith("memmap=") and "!" in token:
                return token
    return f"memmap={format_size(size)}!{format_addr(start)}"  # fallback: kernel spelling of the window


def recovery_mark(layout: Layout) -> str:
    """The word of ``cmdline.recovery`` that only the recovery boot has: on arm64 its ``mem=`` (the window is a
    device-tree pmem-region there, and ``mem=`` keeps it out of the recovery boot's RAM: LNX:arch/arm64/mm/init.c
    early_mem, v6.1); elsewhere the movable window's ``memmap=SIZE!BASE``; "" when no boot of this layout is told
    apart as a recovery boot. arm.sh's and recover.sh's ``is_recovery_boot`` and the arm unit's condition match
    this whole word, never any ``memmap=``/``mem=`` (a board's own cmdline may carry those); the status room
    keeps the same rule over layout.json (``layoutc.status.checks.recovery_marks``)."""
    window = layout.dump_window
    if window is None:
        return ""
    words = _tokens(layout.cmdline.recovery)
    if layout.arch is Arch.ARM64:
        return next((w for w in words if w.startswith("mem=")), "")
    if window.mode is WindowMode.MOVABLE:
        return next((w for w in words if w.startswith("memmap=") and "!" in w), "")
    return ""


def _window(profile: Profile, layout: Layout, block: int) -> WindowView | None:
    window = layout.dump_window
    if window is None or profile.window is None:
        return None
    dax = window.devdax  # the solver's nd_pfn_init and dax_kmem_range arithmetic (kernel/pmem.py)
    return WindowView(start=window.start, end=window.end, size=window.size, node=window.node,
                  memmap=recovery_mark(layout) or _memmap(layout, window.start, window.size),
                  cover_first=window.start // block, cover_last=(window.end - 1) // block,
                  kmem_first=dax.kmem_start // block, kmem_last=dax.kmem_end // block - 1,
                  devdax_map=dax.map, devdax_align=format_size(dax.align), release=window.release)


def _device_tree(layout: Layout) -> DeviceTreeView | None:
    """The crash kernel's DT edit of an arm64 window: its pmem-region, volatile (the window is DRAM), always with
    the window's NUMA node, and the seeds removed. The node is never left out: of_pmem takes the region's node
    from numa-node-id (NUMA_NO_NODE without it) and dax/kmem refuses a region of node -1 (LNX:drivers/nvdimm/
    of_pmem.c of_pmem_region_probe, LNX:drivers/dax/kmem.c dev_dax_kmem_probe), and a tree without NUMA
    nodes still has node 0, which the kernel fakes (LNX:drivers/base/arch_numa.c numa_init, "Faking a node")."""
    window = layout.dump_window
    if layout.arch is not Arch.ARM64 or window is None:
        return None
    region = PmemRegion(window.start, window.size, volatile=True, numa_node_id=window.node)
    return DeviceTreeView(edit=Edit((region,), remove_seeds=True), edit_path=DT_EDIT, running_fdt=RUNNING_FDT,
                          dtb=CRASH_DTB, node=region.path, recovery_mem=recovery_mark(layout))


def _efi_printf(entry: str) -> tuple[str, int]:
    data = EFI_ATTRS + (entry + "\0").encode("utf-16-le")
    return "".join(f"\\{b:03o}" for b in data), len(data)


def _boot(profile: Profile, layout: Layout, window_mode: str) -> BootView:
    rb = layout.recovery_boot
    sel = profile.recovery.boot_selection
    kind = str(sel) if window_mode == "movable" else "none"
    entry = DEFAULT_RECOVERY_ID if rb is None else rb.grub_id if sel is BootSelection.GRUBENV else rb.bls_id
    if sel is BootSelection.EFI and not entry.endswith(".conf"):
        entry += ".conf"  # systemd-boot entry ids are the BLS file names
    printf, length = _efi_printf(entry)
    return BootView(kind=kind, entry=entry, efi_var=f"LoaderEntryOneShot-{LOADER_GUID}", efi_printf=printf,
                efi_len=length, grubenv=GRUBENV, hook=profile.recovery.hook,
                grubenv_device=profile.recovery.grubenv_device, grubenv_fstype=profile.recovery.grubenv_fstype,
                grubenv_tag=_blkid_tag(profile.recovery.grubenv_device))


# the udev links a bare crash initramfs does not have, and the blkid tag that finds their device
BLKID_TAGS = {"/dev/disk/by-uuid/": "UUID", "/dev/disk/by-label/": "LABEL", "/dev/disk/by-partlabel/": "PARTLABEL"}


def _blkid_tag(device: str) -> str:
    return next((tag for prefix, tag in BLKID_TAGS.items() if device.startswith(prefix)), "")


def _modes(target: Target, window_mode: str, release: Release | None) -> tuple[str, ...]:
    if target is Target.DISK:
        return ("production", "rearm")
    if window_mode == "hotplug":
        return ("recovery", "rearm")
    return ("production", "recovery", "rearm") if release is Release.KMEM else ("production", "rearm")


def build_view(profile: Profile, layout: Layout) -> DeviceView:
    """Everything the device templates need, precomputed from the profile and its solved layout."""
    block = layout.memory.block_size
    strategy = layout.strategy
    window_mode = str(strategy.window_mode or "none")
    window = _window(profile, layout, block)
    crash_size = layout.crashkernel.size or layout.bytes_of(RegionKind.CRASHKERNEL, RegionKind.CRASHKERNEL_LOW)
    cma_size = layout.crashkernel.cma_size or layout.bytes_of(RegionKind.CRASH_CMA)
    cma = sorted((r.start, r.end) for r in layout.regions_of(RegionKind.CRASH_CMA))
    spec = filter_spec(profile, layout)
    production = _tokens(layout.cmdline.production)
    recovery = _tokens(layout.cmdline.recovery) or production
    dt = _device_tree(layout)
    mark = recovery_mark(layout)
    return DeviceView(
        board=profile.board, profile=profile.file, description=profile.description,
        strategy=str(profile.strategy), crash_memory=strategy.crash_memory, target=strategy.target,
        window_mode=window_mode, block_size=block, window=window, production_params=production,
        recovery_params=recovery,
        crash_append=" ".join(_tokens(layout.crash_board_cmdline) + _tokens(layout.cmdline.crash)),
        kernel_path=layout.crash_kernel_path, initrd_path=layout.crash_initrd_path,
        kexec_file=strategy.crash_memory is CrashMemory.CMA, kexec_no_checks=layout.arch in KEXEC_NO_CHECKS,
        kallsyms_text=layout.arch in KALLSYMS_TEXT,
        dt=dt,
        crash_modules=layout.boot_modules.crash, recovery_modules=layout.boot_modules.recovery,
        crash_size=crash_size, crash_cpus=profile.crash.cpus, cma_size=cma_size,
        cma_ranges=tuple(f"{s:#x}-{e:#x}" for s, e in cma),
        cma_ranges_text=" ".join(f"[{s:#x}, {e:#x})" for s, e in cma),
        # arm64 refuses to offline boot memory, Movable or not (EPERM: LNX:arch/arm64/mm/mmu.c
        # prevent_bootmem_remove_notifier, measured on 6.1 and 7.2): no offline proof there (docs/arm64.md)
        prove_movability=(profile.prove_movability or bool(layout.unsafe)) and layout.arch is not Arch.ARM64,
        iomem_conflicts=IOMEM_CONFLICTS,
        dumper=str(profile.dump.dumper if profile.dump.dumper is Dumper.MAKEDUMPFILE else "layoutc"),
        dump_pyz=DUMP_PYZ, dump_runner=RUNNER, device_pyz=DEVICE_PYZ, filter_path=f"{CONFIG_DIR}/filter.json",
        makedumpfile_args=tuple(spec["makedumpfile"]["args"]), mkfs_args=MKFS_ARGS,
        disk_device=profile.disk.device if profile.disk else "",
        disk_fstype=profile.disk.fstype if profile.disk else "",
        boot=_boot(profile, layout, window_mode), store=profile.recovery.store,
        store_unit=profile.recovery.store if UNIT_PATH.fullmatch(profile.recovery.store) else None,
        upload=tuple(tuple(arg.split("{dump}")) for arg in profile.recovery.upload),
        upload_timeout=UPLOAD_TIMEOUT_SECONDS, upload_kill=UPLOAD_KILL_SECONDS,
        install_dir=INSTALL_DIR, modes=_modes(strategy.target, window_mode, window.release if window else None),
        recovery_mark=mark, recovery_mark_unit=mark.replace("%", "%%"),
    )
