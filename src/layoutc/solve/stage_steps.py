"""Per-boot-stage command lines (docs/reference/kernel-rules.md §7 items 7, 8, 22-24)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from layoutc.kernel import arm64, memblock
from layoutc.kernel import cmdline as kcmd
from layoutc.kernel.kaslr import MAX_MEMMAP_REGIONS
from layoutc.model.layout import Cmdlines, DumpWindow
from layoutc.model.profile import Arch, Profile, Release, WindowMode
from layoutc.model.units import Percent, format_size
from layoutc.solve.crash_steps import CrashPlacement, KaslrChoice
from layoutc.solve.graph import Infeasible

MEMMAP_ON_MEMORY_OFF = "memory_hotplug.memmap_on_memory=0"
# daxctl reconfigure-device aborts on 7.x while auto_online_blocks is "online" (lab measurement):
# the kmem boot starts with hot-added blocks offline and daxctl onlines them movable.
MEMHP_OFFLINE = "memhp_default_state=offline"


def memmap_on_memory_exists(profile: Profile) -> bool:
    """memory_hotplug.memmap_on_memory exists only with CONFIG_MHP_MEMMAP_ON_MEMORY (LNX:mm/memory_hotplug.c
    module_param_cb under that option, 6.1/7.2); a kernel without it drops the dotted parameter silently
    (init/main.c unknown_bootoption), so layoutc does not emit it there."""
    config = profile.kernel_config
    return config is None or config.state("MHP_MEMMAP_ON_MEMORY") in ("y", "m")


ARM64_CRASH_CMA = "cma=0"


def recovery_mem(profile: Profile, window: DumpWindow) -> str:
    """arm64 recovery boot: mem= so memblock ends at the window's start (docs/reference/kernel-rules.md §8.6)."""
    pres = memblock.present_ranges(profile.memory, profile.arch)
    return arm64.mem_param(arm64.recovery_mem(pres, window.start))


def movablecore_param(value: int | Percent | None) -> str:
    if value is None:
        return ""
    return f"movablecore={value}" if isinstance(value, Percent) else f"movablecore={format_size(value)}"


def cmdlines(profile: Profile, v: Mapping[str, Any]) -> Cmdlines:
    crash: CrashPlacement = v["crash"]
    choice: KaslrChoice = v["kaslr"]
    window: DumpWindow | None = v.get("window")
    on_arm64 = profile.arch is Arch.ARM64
    # arm64 has no memmap=: the window reaches the crash kernel and the recovery boot in the device tree
    memmap = kcmd.memmap_pmem(window.start, window.size) if window is not None and not on_arm64 else ""
    nokaslr = "" if choice.on else "nokaslr"
    kmem = window is not None and profile.window is not None and profile.window.release is Release.KMEM
    memmap_off = (MEMMAP_ON_MEMORY_OFF,) if memmap_on_memory_exists(profile) else ()
    kmem_params = (*memmap_off, MEMHP_OFFLINE) if kmem else ()
    # arm64: the crash kernel would take its default 64 MiB CMA inside the reservation (measured): cma=0
    crash_cma = ARM64_CRASH_CMA if on_arm64 else ""
    crash_stage = kcmd.join([memmap, crash_cma, "irqpoll", f"nr_cpus={profile.crash.cpus}", "reset_devices"])
    if profile.window is None:
        production = kcmd.join([crash.args, nokaslr])
        recovery = ""
    elif profile.window.mode is WindowMode.HOTPLUG:
        # Every boot carries memmap=! and hands the window back through dax/kmem (§7.24 holds trivially).
        production = kcmd.join([crash.args, memmap, nokaslr, *kmem_params])
        recovery = ""
    else:
        zone = v["zone"]
        # §7.22: no memmap=! in production; §7.24: recovery keeps memmap=! and drops movablecore=
        # (with the window out of RAM the same value would carve a different range).
        production = kcmd.join([crash.args, movablecore_param(zone.movablecore), nokaslr])
        recovery_nokaslr = "nokaslr" if profile.kaslr.value == "off" else ""
        cap = recovery_mem(profile, window) if on_arm64 and window is not None else ""
        recovery = kcmd.join([crash.args, memmap, cap, recovery_nokaslr, *kmem_params])
    result = Cmdlines(production, crash_stage, recovery)
    _check_lengths(profile, result)
    return result


def _check_lengths(profile: Profile, lines: Cmdlines) -> None:
    limit = kcmd.COMMAND_LINE_SIZE - 1
    for stage, own, board, path in (
        ("production", lines.production, profile.board_cmdline, "kernel.cmdline"),
        ("recovery", lines.recovery, profile.board_cmdline, "kernel.cmdline"),
        ("crash", lines.crash, profile.crash.cmdline, "crash.cmdline"),
    ):
        total = len(kcmd.join([board, own]))
        room = limit - (kcmd.KEXEC_PREFIX_RESERVE if stage == "crash" else 0)
        if total > room:
            raise Infeasible(
                "LC311",
                f"the {stage} command line is {total} bytes, {total - room} over the {room} that fit",
                paths=(path,),
                hint="shorten the board parameters",
            )
    if sum(1 for w in lines.crash.split() if w.startswith("memmap=")) > MAX_MEMMAP_REGIONS:
        raise Infeasible(
            "LC311",
            "more than 4 memmap= ranges abort physical KASLR",
            paths=("window",),
            hint="use one window",
        )
