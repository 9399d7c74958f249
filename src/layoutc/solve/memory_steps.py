"""Steps over the first kernel's memory: memblock, early top-of-node allocations, guards, sizes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from layoutc.kernel import memblock
from layoutc.kernel.pmem import REGION_ALIGN, window_for_blocks
from layoutc.kernel.sizing import RESERVATION, crash_reserve_auto
from layoutc.model.layout import Guard, Unsafe
from layoutc.model.profile import Arch, Compression, CrashMemory, Profile
from layoutc.model.units import GiB, MiB, align_down, align_up, format_size
from layoutc.solve.graph import Infeasible

# The floor below which a pinned crash.reserve cannot even hold what kexec loads: the image
# decompresses to about 4x its bzImage, the initramfs unpacks to about 3x (measured: 64M too small,
# 96M enough for Debian's kernel + an 8 MB initrd). crash.reserve: auto uses layoutc.kernel.sizing.
IMAGE_EXPANSION = {Arch.X86_64: 4, Arch.ARM64: 1}  # an arm64 Image is not compressed (kernel.sizing)
INITRD_EXPANSION = 3


def present(profile: Profile) -> tuple[memblock.Present, ...]:
    return memblock.present_ranges(profile.memory, profile.arch)


def guards(profile: Profile, v: Mapping[str, Any]) -> tuple[Guard, ...]:
    """Per node: the block-aligned top that holds the early memblock allocations
    (docs/reference/kernel-rules.md §2.3)."""
    pres: tuple[memblock.Present, ...] = v["present"]
    bs = profile.memory.block_size
    out = []
    for early in memblock.early_top(pres, profile.memory.early_reserved, profile.arch):
        early_start = memblock.top_down_start(pres, early.node, early.total)
        start = align_down(early_start, bs)
        out.append(Guard(early.node, start, memblock.node_end(pres, early.node), early, early_start))
    return tuple(out)


def crash_need(profile: Profile) -> int:
    """Bytes the crash kernel needs inside the crashkernel= reservation (the sizing model's terms).

    classic: every term (the crash kernel runs in the reservation); cma: what kexec loads into it
    (kernel, initrd, loader segments); the runtime lives in the ,cma ranges (docs/reference/kernel-rules.md §1.5).
    """
    result = crash_reserve_auto(profile)
    if profile.crash.memory is CrashMemory.CLASSIC:
        return result.needed
    return sum(t.size for t in result.terms if t.part == RESERVATION)


def crash_size(profile: Profile, v: Mapping[str, Any], unsafe: list[Unsafe]) -> int:
    """crashkernel=SIZE: the profile's value, or the sizing model's (layoutc.kernel.sizing; docs/review.md)."""
    reserve = profile.crash.reserve
    if reserve is None:
        reserve = crash_reserve_auto(profile).reserve
    expansion = IMAGE_EXPANSION[profile.arch]
    floor = profile.crash.kernel_size * expansion + profile.crash.initrd_size * INITRD_EXPANSION
    if reserve < floor:
        raise Infeasible(
            "LC310",
            f"crashkernel={format_size(reserve)} is {format_size(floor - reserve)} short of the crash "
            f"kernel and initrd as loaded ({format_size(floor)}: {expansion}x kernel_size + "
            f"{INITRD_EXPANSION}x initrd_size)",
            paths=("crash.reserve", "crash.kernel_size", "crash.initrd_size"),
            hint=f"use crash.reserve: auto (gives {format_size(crash_reserve_auto(profile).reserve)})",
            value=format_size(reserve),
        )
    ram = memblock.total_pages(v["present"]) * memblock.PAGE_SIZE
    if reserve >= ram:
        raise Infeasible(
            "LC312",
            f"crashkernel={format_size(reserve)} is not below System RAM ({format_size(ram)})",
            paths=("crash.reserve", "memory.map"),
            hint="the kernel rejects it (-EINVAL); reserve less",
            value=format_size(reserve),
        )
    if profile.crash.reserve is not None:
        _explicit_sizes_hold(profile, reserve, unsafe)
    return reserve


def _explicit_sizes_hold(profile: Profile, reserve: int, unsafe: list[Unsafe]) -> None:
    """An explicit crash.reserve (and cma_size) must hold what the sizing model says the crash kernel
    needs, each judged by its own part: classic, everything in the reservation; cma, what kexec loads
    in the reservation and the running kernel in the ,cma ranges (docs/reference/kernel-rules.md §7.29,
    §1.5). Below it the crash kernel runs out of memory and the dump is lost: an error, unless the
    profile says why it accepts it (crash.unsafe), which records the shortfall as unsafe."""
    model = crash_reserve_auto(profile)
    cma = profile.crash.memory is CrashMemory.CMA
    part = [t for t in model.terms if t.part == RESERVATION] if cma else list(model.terms)
    shortfalls = []
    need = sum(t.size for t in part)
    if reserve < need:
        shortfalls.append(("crash.reserve", reserve, need, part))
    cma_size, runtime = profile.crash.cma_size, [t for t in model.terms if t.part != RESERVATION]
    if cma and cma_size is not None and cma_size < sum(t.size for t in runtime):
        shortfalls.append(("crash.cma_size", cma_size, sum(t.size for t in runtime), runtime))
    for key, have, want, terms in shortfalls:
        exc = Infeasible(
            "LC319",
            f"{key.split('.')[1]} {format_size(have)} is {_mib(want - have)} short of what the crash kernel "
            f"needs there ({_mib(want)}: " + ", ".join(f"{t.label} {_mib(t.size)}" for t in terms) + ")",
            paths=(key, "crash.kernel_size", "crash.initrd_size", "crash.memory"),
            hint=f"use {key}: {'auto' if key == 'crash.reserve' else format_size(align_up(want, 2 * MiB))}, or "
            "say why this board needs less in crash.unsafe (layoutc estimate shows every term)",
            value=format_size(have),
        )
        if profile.crash.unsafe is None:
            raise exc
        unsafe.append(Unsafe(key, format_size(have), 29, f"{exc.message}; accepted: {profile.crash.unsafe}"))


def _mib(size: int) -> str:
    return f"{size / MiB:.1f} MiB"


def expected_dump(profile: Profile, ram: int) -> int:
    """A rough size of the dump file for the dump level (makedumpfile -d bits) and compression."""
    level = profile.dump.level
    kept = ram // 16  # kernel pages: always kept
    if not level & 16:
        kept += ram // 2  # free pages
    if not level & 8:
        kept += ram // 4  # user pages
    if not level & 6:
        kept += ram // 8  # page cache
    if profile.dump.compression is not Compression.NONE:
        kept //= 2
    return min(kept, ram)


def window_size(profile: Profile, v: Mapping[str, Any]) -> int:
    """window.size, or auto: whole blocks for the expected dump (at least 2), plus the devdax offset."""
    window = profile.window
    assert window is not None
    bs = profile.memory.block_size
    if window.size is not None:
        if window.size % REGION_ALIGN:
            raise Infeasible(
                "LC318",
                f"window size {format_size(window.size)} is not a multiple of 16M",
                paths=("window.size",),
                hint=f"use {format_size(align_up(window.size, REGION_ALIGN))} (ndctl refuses a namespace that "
                "is not a multiple of the pmem region alignment, 16M)",
                value=format_size(window.size),
            )
        return window.size
    ram = memblock.total_pages(v["present"]) * memblock.PAGE_SIZE
    blocks = max(2, -(-expected_dump(profile, ram) // bs))
    size, _ = window_for_blocks(blocks, bs, window.devdax_map, window.devdax_align)
    if size > ram // 2:
        raise Infeasible(
            "LC317",
            f"auto window {format_size(size)} is more than half of RAM ({format_size(ram)})",
            paths=("window.size", "memory.map"),
            hint="give window.size explicitly or raise the dump level",
            value="auto",
        )
    return size


def low_first_mib() -> tuple[int, int]:
    """LNX:arch/x86/kernel/setup.c: the first 1 MiB is always memblock-reserved on x86 (5.13+)."""
    return (0, 1 * MiB)


def node_data(pres: tuple[memblock.Present, ...]) -> tuple[tuple[int, int], ...]:
    """NODE_DATA at the top of each node, allocated by initmem_init() before crashkernel= is reserved."""
    size = align_up(0x2B080, memblock.PAGE_SIZE)  # captures: "NODE_DATA(0) allocated [mem 0x13ffd4f80-0x13fffffff]"
    return tuple((memblock.node_end(pres, n) - size, memblock.node_end(pres, n)) for n in memblock.nodes_of(pres))


FOUR_GIB = 4 * GiB
