"""``crashkernel=``: grammar, and where memblock puts the reservation (docs/reference/kernel-rules.md §1).

Parser: LNX:kernel/crash_reserve.c parse_crashkernel() / __parse_crashkernel() /
get_last_crashkernel(). Placement: LNX:kernel/crash_reserve.c reserve_crashkernel_generic()
and reserve_crashkernel_low(); CMA: reserve_crashkernel_cma() and LNX:mm/cma.c
cma_declare_contiguous_nid(). x86_64 constants: LNX:arch/x86/include/asm/crash_reserve.h.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from layoutc.model.intervals import subtract
from layoutc.model.units import GiB, MiB, TiB, UnitError, align_down, align_up, parse_size

CRASH_ALIGN = 16 * MiB  # x86 CRASH_ALIGN
CRASH_ALIGN_GENERIC = 2 * MiB  # include/linux/crash_reserve.h default (arm64, riscv, loongarch)
CRASH_ADDR_LOW_MAX = 4 * GiB  # x86_64 CRASH_ADDR_LOW_MAX
CRASH_ADDR_HIGH_MAX = 64 * TiB  # x86_64 CRASH_ADDR_HIGH_MAX (4-level paging limit)
DEFAULT_LOW_SIZE = 256 * MiB  # max(swiotlb_size_or_default() + 8M, 256M) with the 64M default swiotlb
CMA_ALIGN = 2 * MiB  # LNX:include/linux/cma.h CMA_MIN_ALIGNMENT_BYTES: one pageblock (x86_64)
CMA_RANGES_MAX = 4  # LNX:kernel/crash_reserve.c CRASHKERNEL_CMA_RANGES_MAX
ROUND_TOTAL = 128 * MiB  # range form: total = roundup(memblock_phys_mem_size(), 128M)


class Suffix(enum.StrEnum):
    NONE = ""
    HIGH = "high"
    LOW = "low"
    CMA = "cma"


@dataclass(frozen=True, slots=True)
class CrashkernelArgs:
    """What parse_crashkernel() resolves from one cmdline; sizes in bytes, 0 = absent."""

    size: int = 0
    offset: int | None = None
    high: bool = False
    low_size: int | None = None  # None: the default low size applies to a high reservation
    cma_size: int = 0
    error: str = ""


def last_tokens(cmdline: str) -> dict[Suffix, str]:
    """The last ``crashkernel=`` value of each class (get_last_crashkernel: the last one wins)."""
    out: dict[Suffix, str] = {}
    for word in cmdline.split():
        if not word.startswith("crashkernel="):
            continue
        value = word[len("crashkernel=") :]
        suffix = Suffix.NONE
        for candidate in (Suffix.HIGH, Suffix.LOW, Suffix.CMA):
            if value.endswith("," + candidate):
                suffix, value = candidate, value[: -len(candidate) - 1]
        out[suffix] = value
    return out


def parse(cmdline: str, system_ram: int) -> CrashkernelArgs:
    """Resolve the crashkernel= parameters of ``cmdline`` against ``system_ram`` bytes of memblock memory."""
    tokens = last_tokens(cmdline)
    cma = _cma_size(tokens.get(Suffix.CMA))
    if Suffix.NONE in tokens:
        # An unsuffixed crashkernel= overrides ,high and ,low (they are parsed only on -ENOENT).
        try:
            size, offset = _simple_or_ranges(tokens[Suffix.NONE], system_ram)
        except UnitError as exc:
            return CrashkernelArgs(error=str(exc), cma_size=cma)
        if size == 0 or size >= system_ram:
            return CrashkernelArgs(error=f"crash size {size} is zero or not below System RAM", cma_size=cma)
        return CrashkernelArgs(size=size, offset=offset, cma_size=cma)
    if Suffix.HIGH in tokens:
        try:
            size = parse_size(tokens[Suffix.HIGH])
            low = parse_size(tokens[Suffix.LOW]) if Suffix.LOW in tokens else None
        except UnitError as exc:
            return CrashkernelArgs(error=str(exc), cma_size=cma)
        if size == 0:
            return CrashkernelArgs(error="crashkernel=0,high is invalid", cma_size=cma)
        return CrashkernelArgs(size=size, high=True, low_size=low, cma_size=cma)
    # ",cma alone reserves nothing": the arch code returns before reserve_crashkernel_cma().
    return CrashkernelArgs(error="no crashkernel=X or X,high", cma_size=cma)


def _cma_size(text: str | None) -> int:
    if text is None:
        return 0
    try:
        return parse_size(text)
    except UnitError:
        return 0


def _simple_or_ranges(text: str, system_ram: int) -> tuple[int, int | None]:
    offset: int | None = None
    if "@" in text:
        text, at = text.split("@", 1)
        offset = parse_size(at)
    if ":" not in text:
        return parse_size(text), offset
    total = align_up(system_ram, ROUND_TOTAL)
    for entry in text.split(","):
        span, size_text = entry.split(":", 1)
        start_text, end_text = span.split("-", 1)
        start = parse_size(start_text)
        end = parse_size(end_text) if end_text else 1 << 64
        size = parse_size(size_text)
        if end <= start or size >= total:
            raise UnitError(f"invalid crashkernel range entry '{entry}'")
        if start <= total < end:
            return size, offset
    return 0, offset  # "crashkernel size resulted in zero bytes"


def find_top_down(free: Sequence[tuple[int, int]], size: int, align: int, low: int, high: int) -> int | None:
    """memblock_find_in_range() top-down: highest ``align``-aligned free slot of ``size`` in [low, high)."""
    for start, end in sorted(free, reverse=True):
        s, e = max(start, low), min(end, high)
        candidate = align_down(e - size, align)
        if e - s >= size and candidate >= s:
            return candidate
    return None


def find_bottom_up(free: Sequence[tuple[int, int]], size: int, align: int, low: int, high: int) -> int | None:
    """memblock bottom-up: the lowest ``align``-aligned start of a free [start, start+size) in [low, high)."""
    for start, end in sorted(free):
        s, e = max(start, low), min(end, high)
        candidate = align_up(s, align)
        if candidate + size <= e:
            return candidate
    return None


@dataclass(frozen=True, slots=True)
class Reservation:
    """Where the reservations land; None when the kernel reserves nothing."""

    crash: tuple[int, int] | None
    low: tuple[int, int] | None
    message: str


def place(
    args: CrashkernelArgs,
    free: Sequence[tuple[int, int]],
    align: int = CRASH_ALIGN,
    *,
    low_max: int = CRASH_ADDR_LOW_MAX,
    default_low: int = DEFAULT_LOW_SIZE,
) -> Reservation:
    """reserve_crashkernel_generic(), given memblock's free ranges at that time.

    ``align`` is CRASH_ALIGN: 16 MiB on x86, 2 MiB on arm64/riscv/loongarch (docs/reference/kernel-rules.md §1.2).
    ``low_max`` is CRASH_ADDR_LOW_MAX (x86_64 4 GiB; arm64 arm64_dma_phys_limit) and ``default_low`` the
    low part of a high reservation (x86_64 256 MiB; arm64 DEFAULT_CRASH_KERNEL_LOW_SIZE 128 MiB;
    LNX:arch/arm64/include/asm/crash_reserve.h on 7.2, LNX:arch/arm64/mm/init.c reserve_crashkernel on 6.1).
    """
    size = args.size
    if args.error or not size:
        return Reservation(None, None, args.error or "no crashkernel=")
    if args.offset is not None:
        # "@OFFSET" searches [offset, offset+size) only; no fallback.
        base = find_top_down(free, size, align, args.offset, args.offset + size)
        if base is None:
            return Reservation(None, None, "crashkernel reservation failed - memory is in use.")
        return Reservation((base, base + size), None, "crashkernel reserved")
    if args.high:
        base = find_top_down(free, size, align, low_max, CRASH_ADDR_HIGH_MAX)
        if base is None:
            base = find_top_down(free, size, align, 0, low_max)
    else:
        base = find_top_down(free, size, align, 0, low_max)
        if base is None:
            base = find_top_down(free, size, align, low_max, CRASH_ADDR_HIGH_MAX)
    if base is None:
        return Reservation(None, None, f"cannot allocate crashkernel (size:{size:#x})")
    low: tuple[int, int] | None = None
    if base >= low_max:
        low_size = default_low if args.low_size is None else args.low_size
        if low_size:
            rest = subtract(free, [(base, base + size)])
            low_base = find_top_down(rest, low_size, align, 0, low_max)
            if low_base is None:
                # reserve_crashkernel_low() failed: the high reservation is freed too.
                return Reservation(
                    None, None, f"cannot allocate crashkernel low memory (size:{low_size:#x})."
                )
            low = (low_base, low_base + low_size)
    return Reservation((base, base + size), low, "crashkernel reserved")


def place_cma(
    request: int, free: Sequence[tuple[int, int]], memblock_end: int
) -> tuple[tuple[int, int], ...]:
    """reserve_crashkernel_cma(): up to 4 areas, halving the request on failure.

    LNX:mm/cma.c cma_declare_contiguous_nid(): first a bottom-up search from 4 GiB ("Avoid using
    first 4GB to not interfere with constrained zones like DMA/DMA32") when memblock_end >= 4G +
    size, then the normal top-down search; sizes and bases aligned to CMA_MIN_ALIGNMENT_BYTES.
    """
    areas: list[tuple[int, int]] = []
    remaining = align_up(request, 4096)
    chunk = remaining
    current = list(free)
    while remaining and len(areas) < CMA_RANGES_MAX and chunk >= 4096:
        size = align_up(min(chunk, remaining), CMA_ALIGN)
        base = None
        if memblock_end >= 4 * GiB + size:
            base = find_bottom_up(current, size, CMA_ALIGN, 4 * GiB, memblock_end)
        if base is None:
            base = find_top_down(current, size, CMA_ALIGN, 0, memblock_end)
        if base is None:
            chunk = align_up(chunk // 2, 4096)
            continue
        areas.append((base, base + size))
        current = list(subtract(current, [(base, base + size)]))
        remaining = max(0, remaining - size)
    return tuple(sorted(areas))
