"""Steps for KASLR, the crash reservation and the crash CMA areas, as the production kernel places them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from layoutc.kernel import arm64, bootloader, crashkernel, memblock, zones
from layoutc.kernel.kaslr import fixed_image
from layoutc.model import intervals
from layoutc.model.layout import DumpWindow, Unsafe
from layoutc.model.profile import Arch, BootLoader, CrashMemory, Kaslr, Profile, WindowMode
from layoutc.model.units import format_addr, format_size
from layoutc.solve.graph import Infeasible
from layoutc.solve.memory_steps import low_first_mib, node_data


@dataclass(frozen=True, slots=True)
class KaslrChoice:
    on: bool
    guard: str  # nokaslr | runtime-check | memmap-avoided | not-needed


@dataclass(frozen=True, slots=True)
class CrashPlacement:
    args: str  # the crashkernel= parameters, as on the production cmdline
    crash: tuple[int, int]
    low: tuple[int, int] | None
    cma: tuple[tuple[int, int], ...]
    initrd: bootloader.InitrdPlacement | None = None
    # arm64: the kernel's own default CMA areas (with their nodes) and swiotlb (docs/reference/kernel-rules.md §8)
    default_cma: tuple[tuple[int, int, int | None], ...] = ()
    swiotlb: tuple[int, int] | None = None


def arm64_direct(profile: Profile) -> bool:
    """arm64 loaded by QEMU's -kernel/-initrd: the image's physical place is fixed by the loader."""
    return profile.arch is Arch.ARM64 and profile.boot is not None and profile.boot.loader is BootLoader.DIRECT


def kaslr(profile: Profile) -> KaslrChoice:
    """docs/reference/kernel-rules.md §3.6/§7.19: nokaslr for movable windows unless the profile opts out."""
    movable = profile.window is not None and profile.window.mode is WindowMode.MOVABLE
    hotplug = profile.window is not None and profile.window.mode is WindowMode.HOTPLUG
    if profile.arch is Arch.ARM64:
        # Under direct boot KASLR is virtual only (the loader fixes the physical place, measured with and
        # without nokaslr); the EFI stub randomizes the physical place (LNX:drivers/firmware/efi/libstub/
        # arm64-stub.c handle_kernel_image), so a movable window needs the arm script's runtime check.
        on = profile.kaslr is not Kaslr.OFF
        if arm64_direct(profile) or not movable:
            return KaslrChoice(on, "not-needed" if on else "nokaslr")
        return KaslrChoice(on, "runtime-check")
    if profile.kaslr is Kaslr.OFF:
        return KaslrChoice(False, "nokaslr")
    if profile.kaslr is Kaslr.ON or not movable:
        if movable:
            return KaslrChoice(True, "runtime-check")
        # KASLR avoids up to MAX_MEMMAP_REGIONS memmap= ranges
        # (LNX:arch/x86/boot/compressed/kaslr.c mem_avoid_memmap).
        return KaslrChoice(True, "memmap-avoided" if hotplug else "not-needed")
    return KaslrChoice(False, "nokaslr")


def kernel_image(profile: Profile, v: Mapping[str, Any]) -> tuple[int, int] | None:
    choice: KaslrChoice = v["kaslr"]
    if profile.arch is Arch.ARM64:
        if not arm64_direct(profile):
            return None
        pres = memblock.present_ranges(profile.memory, profile.arch)
        return arm64.direct_image(pres, profile.kernel_image_size, profile.kernel_version)
    return None if choice.on else fixed_image(profile.kernel_image_size)


def production_present(profile: Profile, v: Mapping[str, Any]) -> tuple[memblock.Present, ...]:
    """memblock.memory of the production boot: a hotplug window is memmap=! there, so not RAM."""
    window: DumpWindow | None = (
        v.get("window") if profile.window and profile.window.mode is WindowMode.HOTPLUG else None
    )
    removed = [(window.start, window.end)] if window is not None else []
    return memblock.present_ranges(profile.memory, profile.arch, removed)


def crash_args(profile: Profile, size: int, offset: int | None = None) -> str:
    pin = profile.pins.crashkernel_offset
    main = f"crashkernel={format_size(size)}"
    if pin is not None:
        assert isinstance(pin.value, int)
        offset = pin.value
    if offset is not None:
        main += f"@{format_size(offset) if offset % (1 << 20) == 0 else format_addr(offset)}"
    if profile.crash.memory is CrashMemory.CMA and profile.crash.cma_size:
        main += f" crashkernel={format_size(profile.crash.cma_size)},cma"
    return main


def free_at_crash_time(
    pres: tuple[memblock.Present, ...],
    image: tuple[int, int] | None,
    initrd: bootloader.InitrdPlacement | None = None,
) -> tuple[tuple[int, int], ...]:
    """memblock.memory minus what is reserved when arch_reserve_crashkernel() runs (after initmem_init).

    An initrd placed exactly by its loader is reserved then (early_reserve_initrd, layoutc.kernel.bootloader).
    """
    taken = [low_first_mib(), *node_data(pres)]
    if image is not None:
        taken.append(image)
    if initrd is not None and initrd.exact:
        taken.append(initrd.span)
    return intervals.subtract(((p.start, p.end) for p in pres), taken)


def _low_offset(
    profile: Profile,
    pres: tuple[memblock.Present, ...],
    size: int,
    image: tuple[int, int] | None,
    initrd: bootloader.InitrdPlacement | None,
) -> int | None:
    """@OFFSET for boards whose ZONE_MOVABLE comes out of DMA32 (no RAM above 4 GiB).

    There, plain crashkernel=X lands at the top of RAM below 4G -- exactly where ZONE_MOVABLE and
    the window go (docs/reference/kernel-rules.md §7.20) -- so the reservation is pinned to the lowest free 16M-aligned
    slot instead ("Reject ,high with movablecore, or pin CK with @offset outside MOV").
    """
    movable = profile.window is not None and profile.window.mode is WindowMode.MOVABLE
    if not movable or profile.pins.crashkernel_offset is not None or profile.arch is not Arch.X86_64:
        return None
    if zones.movable_zone(pres) is zones.Zone.NORMAL:
        return None
    free = free_at_crash_time(pres, image, initrd)
    return crashkernel.find_bottom_up(free, size, crashkernel.CRASH_ALIGN, 0, crashkernel.CRASH_ADDR_LOW_MAX)


def place_crash(profile: Profile, v: Mapping[str, Any], unsafe: list[Unsafe]) -> CrashPlacement:
    """reserve_crashkernel_generic() then reserve_crashkernel_cma() on the production memblock."""
    pres: tuple[memblock.Present, ...] = v["production_present"]
    size: int = v["crash_size"]
    ram = memblock.total_pages(pres) * memblock.PAGE_SIZE
    initrd = production_initrd(profile)
    args = crash_args(profile, size, _low_offset(profile, pres, size, v["kernel_image"], initrd))
    parsed = crashkernel.parse(args, ram)
    pin = profile.pins.crashkernel_offset
    if pin is not None and parsed.offset is not None and parsed.offset % crashkernel.CRASH_ALIGN:
        violate(
            pin.unsafe,
            unsafe,
            "pins.crashkernel_offset",
            format_addr(parsed.offset),
            9,
            Infeasible(
                "LC305",
                f"crashkernel offset {format_addr(parsed.offset)} is "
                f"{format_size(parsed.offset % crashkernel.CRASH_ALIGN)}"
                " past a 16M boundary; the kernel searches only [offset, offset+size) and fails",
                paths=("pins.crashkernel_offset",),
                hint="use a multiple of 16M (x86 CRASH_ALIGN)",
                value=format_addr(parsed.offset),
            ),
        )
    if profile.arch is Arch.ARM64:
        return _place_arm64(profile, pres, args, parsed, v["kernel_image"], initrd)
    free = free_at_crash_time(pres, v["kernel_image"], initrd)
    align = crashkernel.CRASH_ALIGN if profile.arch is Arch.X86_64 else crashkernel.CRASH_ALIGN_GENERIC
    placed = crashkernel.place(parsed, free, align)
    if placed.crash is None:
        paths = ("pins.crashkernel_offset", "crash.reserve") if pin else ("crash.reserve", "memory.map")
        largest = max((e - s for s, e in free if s < crashkernel.CRASH_ADDR_LOW_MAX), default=0)
        raise Infeasible(
            "LC305" if pin else "LC304",
            f"crashkernel={format_size(size)} cannot be reserved: "
            f"{placed.message} (largest free range below 4G is {format_size(largest)})",
            paths=paths,
            hint="reserve less, or move the offset to free RAM",
            value=args,
        )
    cma: tuple[tuple[int, int], ...] = ()
    if profile.crash.memory is CrashMemory.CMA and parsed.cma_size:
        taken = [placed.crash] + ([placed.low] if placed.low else [])
        cma = crashkernel.place_cma(parsed.cma_size, intervals.subtract(free, taken), max(p.end for p in pres))
        got = sum(e - s for s, e in cma)
        if got < parsed.cma_size:
            raise Infeasible(
                "LC306",
                f"crashkernel={format_size(parsed.cma_size)},cma gets only {format_size(got)} in {len(cma)} areas",
                paths=("crash.cma_size", "memory.map"),
                hint="ask for less CMA",
                value=format_size(parsed.cma_size),
            )
    return CrashPlacement(args, placed.crash, placed.low, cma, initrd)


def _place_arm64(profile: Profile, pres: tuple[memblock.Present, ...], args: str,
                 parsed: crashkernel.CrashkernelArgs, image: tuple[int, int] | None,
                 initrd: bootloader.InitrdPlacement | None) -> CrashPlacement:
    """arm64: the default CMA (and 7.x per-node CMA), then crashkernel=, then swiotlb (layoutc.kernel.arm64)."""
    taken = [r for r in (image, initrd.span if initrd is not None and initrd.exact else None) if r is not None]
    boot = arm64.boot_reservations(pres, taken, parsed, profile.kernel_version)
    if boot.crash.crash is None:
        raise Infeasible(
            "LC304",
            f"crashkernel={format_size(parsed.size)} cannot be reserved: {boot.crash.message}",
            paths=("crash.reserve", "memory.map"),
            hint="reserve less",
            value=args,
        )
    default_cma = tuple((s, e, n) for (s, e), n in zip(boot.cma, boot.cma_nodes, strict=True))
    return CrashPlacement(args, boot.crash.crash, boot.crash.low, (), initrd, default_cma, boot.swiotlb)


def production_initrd(profile: Profile) -> bootloader.InitrdPlacement | None:
    """The production initrd as ``boot.loader`` places it (None without a boot: section)."""
    if profile.boot is None:
        return None
    ram = [(r.start, r.end) for r in profile.memory.ram]
    if arm64_direct(profile):
        start = arm64.direct_initrd_start(memblock.present_ranges(profile.memory, profile.arch))
        return bootloader.InitrdPlacement(profile.boot.loader, profile.boot.initrd_size, start, start, True)
    try:
        return bootloader.place_initrd(profile.boot.loader, ram, profile.boot.initrd_size)
    except bootloader.InitrdError as exc:
        raise Infeasible(
            "LC320",
            f"{profile.boot.loader} cannot load an initrd of {format_size(profile.boot.initrd_size)}: {exc}",
            paths=("boot.initrd_size", "boot.loader", "memory.map"),
            hint="give the real initrd size (boot.initrd_size)",
            value=format_size(profile.boot.initrd_size),
        ) from None


def violate(allowed: bool, unsafe: list[Unsafe], pin: str, value: str, rule: int, exc: Infeasible) -> None:
    """A pin that breaks ``rule``: an error, or recorded as unsafe when the pin says unsafe: true."""
    if not allowed:
        raise exc
    unsafe.append(Unsafe(pin, value, rule, exc.message))
