"""From the evaluated graph to the frozen ``Layout``: regions, overhead, recovery boot, provenance."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from layoutc.kernel import memblock
from layoutc.kernel.capabilities import assumed_config, stage_modules
from layoutc.kernel.pmem import window_for_blocks
from layoutc.model.layout import (
    BootModules,
    Crashkernel,
    DumpWindow,
    Guard,
    Input,
    KaslrGuard,
    Layout,
    Provenance,
    RecoveryBoot,
    Region,
    RegionKind,
    StrategyChoice,
    Unsafe,
)
from layoutc.model.profile import Arch, CrashMemory, Profile, Release, Target, WindowMode
from layoutc.model.units import format_size
from layoutc.solve.crash_steps import CrashPlacement, KaslrChoice
from layoutc.solve.graph import Step
from layoutc.solve.memory_steps import crash_need
from layoutc.solve.stage_steps import memmap_on_memory_exists


def regions(profile: Profile, v: Mapping[str, Any]) -> tuple[Region, ...]:
    crash: CrashPlacement = v["crash"]

    def node(address: int) -> int | None:
        return next((r.node or 0 for r in profile.memory.ram if r.start <= address < r.end), None)

    out = [Region(crash.crash[0], crash.crash[1], RegionKind.CRASHKERNEL, "crashkernel", node(crash.crash[0]))]
    if crash.low:
        out.append(Region(crash.low[0], crash.low[1], RegionKind.CRASHKERNEL_LOW, "crashkernel_low",
                          node(crash.low[0])))
    out.extend(Region(s, e, RegionKind.CRASH_CMA, f"crash_cma{i}", node(s)) for i, (s, e) in enumerate(crash.cma))
    window: DumpWindow | None = v.get("window")
    if window is not None:
        out.append(Region(window.start, window.end, RegionKind.DUMP_WINDOW, "dump_window", window.node))
    if profile.window is not None and profile.window.mode is WindowMode.MOVABLE:
        out.extend(Region(g.start, g.end, RegionKind.GUARD, f"guard_node{g.node}", g.node) for g in v["guards"])
    image = v.get("kernel_image")
    if image:
        out.append(Region(image[0], image[1], RegionKind.KERNEL_IMAGE, "kernel_image", node(image[0])))
    out.extend(_arm64_regions(profile, crash, image))
    if crash.initrd is not None:
        s, e = crash.initrd.span
        kind = RegionKind.INITRD if crash.initrd.exact else RegionKind.INITRD_BOUND
        out.append(Region(s, e, kind, str(kind), node(s)))
    return tuple(sorted(out))


def _arm64_regions(profile: Profile, crash: CrashPlacement, image: tuple[int, int] | None) -> list[Region]:
    """arm64: the kernel's default CMA areas and swiotlb, and where the EFI stub may put the image."""
    if profile.arch is not Arch.ARM64:
        return []
    out = [Region(s, e, RegionKind.CMA, f"cma{i}", n) for i, (s, e, n) in enumerate(crash.default_cma)]
    if crash.swiotlb is not None:
        out.append(Region(*crash.swiotlb, RegionKind.SWIOTLB, "swiotlb", None))
    if image is None:
        # physical KASLR in the EFI stub: anywhere in RAM (docs/reference/kernel-rules.md §8.3)
        lo, hi = min(r.start for r in profile.memory.ram), profile.memory.end_of_ram
        out.append(Region(lo, hi, RegionKind.KERNEL_IMAGE_BOUND, "kernel_image_bound", None))
    return out


def armed_overhead(profile: Profile, v: Mapping[str, Any]) -> int:
    """Bytes the running system cannot use while a crash kernel is armed.

    The crashkernel= reservation (and its low part) is memblock-reserved; a CMA area is lent to
    movable allocations, so it costs nothing while armed. A hotplug window comes back through
    kmem minus its devdax offset and partial blocks; a movable window is ordinary RAM until a crash.
    """
    crash: CrashPlacement = v["crash"]
    total = crash.crash[1] - crash.crash[0] + (crash.low[1] - crash.low[0] if crash.low else 0)
    window: DumpWindow | None = v.get("window")
    if window is not None and window.mode == "hotplug":
        total += window.size if profile.window and profile.window.release is Release.REBOOT else window.devdax.wasted
        total -= memblock.memmap_saved(window.start, window.start + window.size)
    return total


def recovery_boot(profile: Profile) -> RecoveryBoot | None:
    if profile.window is None or profile.window.mode is not WindowMode.MOVABLE:
        return None
    ident = f"layoutc-recovery-{profile.board}"
    return RecoveryBoot(ident, ident, f"Crash dump recovery ({profile.board})", "/vmlinuz", "/initrd.img",
                        profile.recovery.kernel_glob, profile.recovery.initrd_glob)


# JSON Pointer in layout.json -> the step whose rule and inputs explain it.
POINTERS: tuple[tuple[str, str], ...] = (
    ("/cmdline/production", "cmdlines"),
    ("/cmdline/crash", "cmdlines"),
    ("/cmdline/recovery", "cmdlines"),
    ("/movable_zone", "zone"),
    ("/dump_window/start", "window"),
    ("/dump_window/size", "window_size"),
    ("/dump_window/blocks_returned", "window"),
    ("/guards", "guards"),
    ("/kaslr", "kaslr"),
    ("/crashkernel", "crash_size"),
    ("/movablecore", "zone"),
    ("/armed_overhead", "crash"),
)


REGION2STEP = {
    "crashkernel": "crash",
    "crashkernel_low": "crash",
    "crash_cma": "crash",
    "dump_window": "window",
    "guard": "guards",
    "kernel_image": "kernel_image",
    "initrd": "crash",
    "initrd_bound": "crash",
    "kernel_image_bound": "kaslr",
    "swiotlb": "crash",
    "cma": "crash",
}


def provenance(
    profile: Profile, steps: Mapping[str, Step], done: set[str], placed: tuple[Region, ...], guards: bool
) -> tuple[Provenance, ...]:
    """JSON Pointer -> the rule, source and profile inputs of the step that produced the value."""
    pairs = [(pointer, name) for pointer, name in POINTERS if guards or pointer != "/guards"]
    pairs += [(f"/regions/{i}", REGION2STEP[r.kind]) for i, r in enumerate(placed)]
    out = []
    for pointer, name in pairs:
        step = steps.get(name)
        if step is None or name not in done:
            continue
        inputs = []
        for path in step.inputs:
            span = profile.span(path)
            if span is not None and path in profile.spans:
                inputs.append(Input(path, span.file, span.line, span.col))
        out.append(Provenance(pointer, step.rule, step.source, tuple(inputs)))
    return tuple(sorted(out, key=lambda p: p.pointer))  # layout.json's key order, so a read-back compares equal


def layout(profile: Profile, v: Mapping[str, Any], steps: Mapping[str, Step], unsafe: list[Unsafe]) -> Layout:
    choice: KaslrChoice = v["kaslr"]
    window: DumpWindow | None = v.get("window")
    zone = v.get("zone")
    guards: tuple[Guard, ...] = v["guards"] if window is not None and window.mode == "movable" else ()
    spec = profile.window
    placed = regions(profile, v)
    return Layout(
        board=profile.board,
        description=profile.description,
        profile=profile.file,
        layers=profile.layers,
        arch=profile.arch,
        kernel_version=str(profile.kernel_version),
        memory=profile.memory,
        board_cmdline=profile.board_cmdline,
        crash_board_cmdline=profile.crash.cmdline,
        crash_kernel_path=profile.crash.kernel_path,
        crash_initrd_path=profile.crash.initrd_path,
        cmdline=v["cmdlines"],
        strategy=StrategyChoice(
            profile.crash.memory,
            profile.crash.target,
            spec.mode if spec else None,
            profile.strategy,
        ),
        crashkernel=Crashkernel(v["crash_size"], _offset(profile), profile.crash.cma_size, crash_need(profile)),
        movablecore=zone.movablecore if zone else None,
        movable_zone=zone.spans if zone else (),
        regions=placed,
        guards=guards,
        dump_window=window,
        kaslr=choice.on,
        kaslr_guard=KaslrGuard(choice.guard),
        memmap_on_memory_off=window is not None and window.release == "kmem" and memmap_on_memory_exists(profile),
        armed_overhead=armed_overhead(profile, v),
        recovery_boot=recovery_boot(profile),
        recovery_mem_limit=window.start if window is not None and profile.arch is Arch.ARM64 else None,
        boot_modules=boot_modules(profile),
        unsafe=tuple(unsafe),
        provenance=provenance(profile, steps, set(v), placed, bool(guards)),
        notes=notes(profile, v, guards),
    )


def boot_modules(profile: Profile) -> BootModules:
    """What capture-init.sh and recover.sh modprobe: the capability table over ``kernel.config``."""
    window = profile.window
    in_place = window is not None and (window.mode is WindowMode.HOTPLUG or window.release is Release.KMEM)
    stated = profile.kernel_config
    config = dict(stated.options) if stated else assumed_config(profile.arch, profile.kernel_version)
    crash, recovery = stage_modules(
        profile.arch, config, cma=profile.crash.memory is CrashMemory.CMA,
        window=profile.crash.target is Target.PMEM_WINDOW, fstype=profile.disk.fstype if profile.disk else None,
        in_place=in_place)
    # crash.modules (the boot disk's driver, ...) and a grubenv file system that is not ext4, after the target's
    rec = profile.recovery
    grubenv_fs = (rec.grubenv_fstype,) if rec.grubenv_device and rec.grubenv_fstype != "ext4" else ()
    crash = tuple(dict.fromkeys((*crash, *profile.crash.modules, *grubenv_fs)))
    return BootModules(crash, recovery)


def notes(profile: Profile, v: Mapping[str, Any], guards: tuple[Guard, ...]) -> tuple[str, ...]:
    """Assumptions a reader of the layout should know about, in a fixed order."""
    out = []
    if any(g.early.measured is None for g in guards):
        out.append(
            "guard sizes are modelled (struct pages, hashes, percpu, NODE_DATA); on real hardware "
            "measure memory.early_reserved (zoneinfo present - managed of a Movable zone at the node's top)"
        )
    zone = v.get("zone")
    window: DumpWindow | None = v.get("window")
    bs = profile.memory.block_size
    if window is not None and window.release == "kmem" and window.devdax.wasted >= bs:
        dax = window.devdax
        more = dax.blocks_returned + 1
        # the advice is a size the checker accepts: the kernel model's window for that many blocks, its
        # lead (devdax offset) rounded up to the 16M region alignment (LC318)
        size, lead = window_for_blocks(more, bs, profile.window.devdax_map, profile.window.devdax_align) \
            if profile.window else (more * bs + dax.dataoff, dax.dataoff)
        out.append(
            f"the window returns {dax.blocks_returned} block(s); {format_size(dax.wasted)} of it never comes back "
            f"as RAM; {format_size(size)} ({more} blocks + a {format_size(lead)} lead for the devdax offset, "
            f"16M-aligned) would return {more}"
        )
    for span in zone.spans if zone else ():
        if span.start % bs and (window is None or span.node != window.node):
            out.append(
                f"node {span.node}'s ZONE_MOVABLE starts at {span.start:#x}, inside a block: that block "
                "cannot be offlined (no window there)"
            )
    if not any(w.startswith("root=") for w in profile.board_cmdline.split()):
        out.append(
            "kernel.cmdline has no root=: kernel-install/cmdline replaces the whole command line, so add it "
            "unless the initrd finds the root itself (systemd-gpt-auto-generator)"
        )
    if window is not None and profile.arch is Arch.ARM64:
        out.append(
            f"arm64: the window reaches the crash kernel and the recovery boot as a device-tree pmem-region "
            f"node (numa-node-id {window.node}); the recovery boot's mem= ends its memory at "
            f"{window.start:#x}, so the window and the {format_size(profile.memory.end_of_ram - window.start)} "
            "above its start are not RAM in the recovery boot only"
        )
    if recovery_boot(profile) is not None:
        out.append(
            "the recovery boot entries load /vmlinuz and /initrd.img; change them if the production kernel "
            "lives elsewhere"
        )
    if profile.crash.target.value == "pmem-window" and not profile.pins.crashkernel_offset:
        out.append(
            "the boot loader's initrd placement is not modelled: crashkernel= may land up to the initrd's "
            "size lower; the arm script reads the real range from /proc/iomem"
        )
    return tuple(out)


def _offset(profile: Profile) -> int | None:
    pin = profile.pins.crashkernel_offset
    return pin.value if pin is not None and isinstance(pin.value, int) else None
