"""The view-model of the device artifacts: every number and string the templates print.

Built from the typed ``Profile`` and the ``layout.json`` document (the solver's output). The
templates only loop and branch over this; shell values are quoted there by the one
``shquote`` filter, never here, so the view holds plain values. Where layout.json does not
carry a value yet (docs/artifacts.md "Inputs"), it is read from the profile or derived with
the kernel's own arithmetic, and the fallback is named in a comment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from layoutc.model.profile import BootSelection, DevdaxMap, Dumper, Profile
from layoutc.model.units import align_down, align_up, format_addr, format_size
from layoutc.render.device_filter import MKFS_ARGS, filter_spec

# systemd-boot's vendor GUID for Loader* variables (systemd: src/boot/efi/boot.c LOADER_GUID)
LOADER_GUID = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"
# EFI_VARIABLE_NON_VOLATILE | BOOTSERVICE_ACCESS | RUNTIME_ACCESS, little-endian u32
EFI_ATTRS = b"\x07\x00\x00\x00"
DEFAULT_RECOVERY_ID = "layoutc-recovery"
GRUBENV = "/boot/grub/grubenv"
INSTALL_DIR = "/usr/lib/layoutc"
CONFIG_DIR = "/etc/layoutc"
DUMP_PYZ = "/usr/lib/layoutc/dump.pyz"
# iomem resources the window must never overlap (docs/reference/kernel-rules.md §7 items 17, 18, 31)
IOMEM_CONFLICTS = ("Crash kernel", "Kernel code", "Kernel rodata", "Kernel data", "Kernel bss")
INFO_BLOCK = 8 * 1024  # nd_pfn_init: "start + SZ_8K"
# recover.sh bounds each upload with timeout(1) (no profile key sets it): SIGTERM after this many seconds,
# SIGKILL UPLOAD_KILL_SECONDS later; a timed-out upload keeps the dump stored and the window held
UPLOAD_TIMEOUT_SECONDS = 1800
UPLOAD_KILL_SECONDS = 30
# a path a unit file can carry as is: no specifier (%), no whitespace or control character. The profile
# schema means the same, but its "$" also matches before a trailing newline (Python re), so check again.
UNIT_PATH = re.compile(r"/[A-Za-z0-9._/+@:=-]*")


@dataclass(frozen=True, slots=True)
class Window:
    start: int
    end: int
    size: int
    node: int
    memmap: str  # the memmap=SIZE!BASE parameter of the crash (and recovery) boots
    cover_first: int  # memory blocks covering the window (production, movable)
    cover_last: int
    kmem_first: int  # memory blocks dax/kmem hands back (recovery); last < first: none
    kmem_last: int
    devdax_map: str
    devdax_align: str
    release: str  # kmem | reboot


@dataclass(frozen=True, slots=True)
class Boot:
    """One-shot selection of the recovery boot from the crash kernel (movable windows)."""

    kind: str  # efi | grubenv | hook | none
    entry: str
    efi_var: str
    efi_printf: str  # printf format of attribute bytes + UTF-16LE entry id + NUL, all octal escapes
    efi_len: int
    grubenv: str
    hook: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class View:
    board: str
    profile: str
    description: str
    strategy: str
    crash_memory: str
    target: str
    window_mode: str  # movable | hotplug | none
    block_size: int
    window: Window | None
    production_params: tuple[str, ...]
    recovery_params: tuple[str, ...]
    crash_append: str
    kernel_path: str
    initrd_path: str
    kexec_file: bool  # -s always (cma needs kexec_file_load)
    crash_size: int
    cma_size: int
    # the layout's predicted crash CMA ranges, sorted: "0xSTART-0xEND" words (exclusive ends, as arm.sh's
    # hex prints them) and "[0xSTART, 0xEND)" for messages; arm.sh warns when the kernel's differ
    cma_ranges: tuple[str, ...]
    cma_ranges_text: str
    prove_movability: bool  # the profile asks, or a pin overrode a safety rule (layout.json unsafe)
    iomem_conflicts: tuple[str, ...]
    dumper: str
    dump_pyz: str
    filter_path: str
    makedumpfile_args: tuple[str, ...]
    mkfs_args: tuple[str, ...]
    disk_device: str
    disk_fstype: str
    boot: Boot
    store: str
    store_unit: str | None  # the store for RequiresMountsFor=, None when it is not a plain path
    upload: tuple[tuple[str, ...], ...]  # each argument split at "{dump}"
    upload_timeout: int  # seconds before timeout(1) stops an upload (SIGTERM), then SIGKILL after upload_kill
    upload_kill: int
    install_dir: str
    modes: tuple[str, ...]  # arm.sh modes that apply to this strategy


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(t for t in text.split() if t)


def _memmap(doc: Mapping[str, Any], start: int, size: int) -> str:
    for stage in ("crash", "recovery", "production"):
        for token in _tokens(str(doc.get("cmdline", {}).get(stage, ""))):
            if token.startswith("memmap=") and "!" in token:
                return token
    return f"memmap={format_size(size)}!{format_addr(start)}"  # fallback: kernel spelling of the window


def _window(profile: Profile, doc: Mapping[str, Any], block: int) -> Window | None:
    raw = doc.get("dump_window")
    if not raw or profile.window is None:
        return None
    start, size = int(raw["start"]), int(raw["size"])
    end = start + size
    devdax = raw.get("devdax") or {}
    dmap = str(devdax.get("map", profile.window.devdax_map))
    align = int(devdax.get("align", profile.window.devdax_align))
    if "kmem_start" in devdax and "kmem_end" in devdax:
        kmem_start, kmem_end = int(devdax["kmem_start"]), int(devdax["kmem_end"])
    else:
        # fallback (docs/reference/kernel-rules.md §3.4/3.5): nd_pfn_init dataoff, then dax_kmem_range whole blocks
        eff_align = max(align, 2 * 1024 * 1024)
        dataoff = (align_up(start + INFO_BLOCK + 64 * ((size - INFO_BLOCK) // 4096), eff_align)
                   if DevdaxMap(dmap) is DevdaxMap.DEV else align_up(start + INFO_BLOCK, eff_align)) - start
        kmem_start, kmem_end = align_up(start + dataoff, block), align_down(align_down(end, eff_align), block)
    node = int(raw.get("node", next((r["node"] for r in doc.get("regions", ()) if r["kind"] == "dump_window"
                                    and r.get("node") is not None), 0)))
    return Window(start=start, end=end, size=size, node=node, memmap=_memmap(doc, start, size),
                  cover_first=start // block, cover_last=(end - 1) // block,
                  kmem_first=kmem_start // block, kmem_last=kmem_end // block - 1,
                  devdax_map=dmap, devdax_align=format_size(align),
                  release=str(raw.get("release", profile.window.release)))


def _efi_printf(entry: str) -> tuple[str, int]:
    data = EFI_ATTRS + (entry + "\0").encode("utf-16-le")
    return "".join(f"\\{b:03o}" for b in data), len(data)


def _boot(profile: Profile, doc: Mapping[str, Any], window_mode: str) -> Boot:
    rb = doc.get("recovery_boot") or {}
    sel = profile.recovery.boot_selection
    kind = str(sel) if window_mode == "movable" else "none"
    entry = str(rb.get("grub_id" if sel is BootSelection.GRUBENV else "bls_id", DEFAULT_RECOVERY_ID))
    if sel is BootSelection.EFI and not entry.endswith(".conf"):
        entry += ".conf"  # systemd-boot entry ids are the BLS file names
    printf, length = _efi_printf(entry)
    return Boot(kind=kind, entry=entry, efi_var=f"LoaderEntryOneShot-{LOADER_GUID}", efi_printf=printf,
                efi_len=length, grubenv=GRUBENV, hook=profile.recovery.hook)


def _modes(target: str, window_mode: str, release: str | None) -> tuple[str, ...]:
    if target == "disk":
        return ("production", "rearm")
    if window_mode == "hotplug":
        return ("recovery", "rearm")
    return ("production", "recovery", "rearm") if release == "kmem" else ("production", "rearm")


def build_view(profile: Profile, doc: Mapping[str, Any]) -> View:
    """Everything the device templates need, precomputed."""
    memory = doc.get("memory", {})
    block = int(memory.get("block_size", profile.memory.block_size))
    strategy = doc.get("strategy", {})
    target = str(strategy.get("target", profile.crash.target))
    crash_memory = str(strategy.get("crash_memory", profile.crash.memory))
    window_mode = str(strategy.get("window_mode") or "none")
    window = _window(profile, doc, block)
    regions = doc.get("regions", ())
    ck = doc.get("crashkernel") or {}
    crash_size = int(ck.get("size") or sum(int(r["end"]) - int(r["start"]) for r in regions
                                          if r["kind"] in ("crashkernel", "crashkernel_low")))
    cma_size = int(ck.get("cma_size") or sum(int(r["end"]) - int(r["start"]) for r in regions
                                             if r["kind"] == "crash_cma"))
    cma = sorted((int(r["start"]), int(r["end"])) for r in regions if r["kind"] == "crash_cma")
    kexec = doc.get("crash_kexec") or {}
    cmdline = doc.get("cmdline", {})
    crash_board = str(doc.get("crash_board_cmdline", profile.crash.cmdline))
    spec = filter_spec(profile, doc)
    production = _tokens(str(cmdline.get("production", "")))
    recovery = _tokens(str(cmdline.get("recovery", ""))) or production
    return View(
        board=profile.board, profile=profile.file, description=profile.description,
        strategy=str(profile.strategy), crash_memory=crash_memory, target=target, window_mode=window_mode,
        block_size=block, window=window, production_params=production, recovery_params=recovery,
        crash_append=" ".join(_tokens(crash_board) + _tokens(str(cmdline.get("crash", "")))),
        kernel_path=str(kexec.get("kernel", profile.crash.kernel_path)),
        initrd_path=str(kexec.get("initrd", profile.crash.initrd_path)),
        kexec_file=bool(kexec.get("file_load", crash_memory == "cma")),
        crash_size=crash_size, cma_size=cma_size, cma_ranges=tuple(f"{s:#x}-{e:#x}" for s, e in cma),
        cma_ranges_text=" ".join(f"[{s:#x}, {e:#x})" for s, e in cma),
        prove_movability=profile.prove_movability or bool(doc.get("unsafe")), iomem_conflicts=IOMEM_CONFLICTS,
        dumper=str(profile.dump.dumper if profile.dump.dumper is Dumper.MAKEDUMPFILE else "layoutc"),
        dump_pyz=DUMP_PYZ, filter_path=f"{CONFIG_DIR}/filter.json",
        makedumpfile_args=tuple(spec["makedumpfile"]["args"]), mkfs_args=MKFS_ARGS,
        disk_device=profile.disk.device if profile.disk else "",
        disk_fstype=profile.disk.fstype if profile.disk else "",
        boot=_boot(profile, doc, window_mode), store=profile.recovery.store,
        store_unit=profile.recovery.store if UNIT_PATH.fullmatch(profile.recovery.store) else None,
        upload=tuple(tuple(arg.split("{dump}")) for arg in profile.recovery.upload),
        upload_timeout=UPLOAD_TIMEOUT_SECONDS, upload_kill=UPLOAD_KILL_SECONDS,
        install_dir=INSTALL_DIR, modes=_modes(target, window_mode, window.release if window else None),
    )
