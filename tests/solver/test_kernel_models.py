"""The kernel models on their own: crashkernel= grammar and placement, CMA, zones, devdax, memblock."""

from __future__ import annotations

import pytest

from layoutc.kernel import cmdline as kcmd
from layoutc.kernel import crashkernel, memblock, zones
from layoutc.kernel.pmem import devdax, window_for_blocks
from layoutc.model.profile import Arch, DevdaxMap, MemoryMap, MemRange, RangeType
from layoutc.model.units import GiB, MiB, Percent

RAM = 4 * GiB
LOW = [(1 * MiB, 0xBFFE0000), (4 * GiB, 5 * GiB)]


def _map(*ranges: tuple[int, int, int]) -> MemoryMap:
    return MemoryMap(tuple(MemRange(s, e, RangeType.RAM, n) for s, e, n in ranges), 128 * MiB, True)


@pytest.mark.parametrize(
    ("cmdline", "size", "offset", "high", "cma", "error"),
    [
        ("crashkernel=256M", 256 * MiB, None, False, 0, ""),
        ("crashkernel=0x10000000@0x20000000", 256 * MiB, 0x20000000, False, 0, ""),
        ("crashkernel=128M crashkernel=256M", 256 * MiB, None, False, 0, ""),  # the last one wins
        (
            "crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M",
            256 * MiB,
            None,
            False,
            0,
            "",
        ),  # roundup(4G,128M)=4G
        ("crashkernel=1G-2G:192M", 0, None, False, 0, "no match"),
        ("crashkernel=512M,high", 512 * MiB, None, True, 0, ""),
        ("crashkernel=512M,high crashkernel=96M", 96 * MiB, None, False, 0, ""),  # unsuffixed overrides ,high
        ("crashkernel=256M,cma", 0, None, False, 256 * MiB, "alone"),  # ,cma alone reserves nothing
        ("crashkernel=96M crashkernel=256M,cma", 96 * MiB, None, False, 256 * MiB, ""),
        ("crashkernel=4G", 0, None, False, 0, "not below"),
        ("crashkernel=0,high", 0, None, False, 0, "invalid"),
    ],
)
def test_parse(cmdline: str, size: int, offset: int | None, high: bool, cma: int, error: str) -> None:
    args = crashkernel.parse(cmdline, RAM)
    assert bool(args.error) == bool(error), args.error
    if not error:
        assert (args.size, args.offset, args.high) == (size, offset, high)
    assert args.cma_size == cma


def test_plain_lands_at_the_top_below_4g_16m_aligned() -> None:
    placed = crashkernel.place(crashkernel.parse("crashkernel=96M", RAM), LOW)
    assert placed.crash == (0xB9000000, 0xBF000000) and placed.low is None


def test_plain_falls_back_above_4g_with_a_low_part() -> None:
    free = [(1 * MiB, 300 * MiB), (4 * GiB, 8 * GiB)]
    placed = crashkernel.place(crashkernel.parse("crashkernel=512M", RAM), free)
    assert placed.crash == (8 * GiB - 512 * MiB, 8 * GiB) and placed.low == (32 * MiB, 288 * MiB)


def test_low_failure_frees_the_high_reservation() -> None:
    placed = crashkernel.place(crashkernel.parse("crashkernel=512M", RAM), [(1 * MiB, 100 * MiB), (4 * GiB, 8 * GiB)])
    assert placed.crash is None and "low memory" in placed.message


def test_high_goes_to_the_top_of_ram_first() -> None:
    placed = crashkernel.place(crashkernel.parse("crashkernel=256M,high crashkernel=0,low", RAM), LOW)
    assert placed.crash == (5 * GiB - 256 * MiB, 5 * GiB) and placed.low is None


def test_offset_must_be_free_and_aligned() -> None:
    ok = crashkernel.place(crashkernel.parse("crashkernel=64M@0x20000000", RAM), LOW)
    assert ok.crash == (0x20000000, 0x24000000)
    bad = crashkernel.place(crashkernel.parse("crashkernel=64M@0x20100000", RAM), LOW)
    assert bad.crash is None and bad.message == "crashkernel reservation failed - memory is in use."


def test_cma_bottom_up_from_4g_then_halves() -> None:
    assert crashkernel.place_cma(256 * MiB, LOW, 5 * GiB) == ((4 * GiB, 4 * GiB + 256 * MiB),)
    # Only 100M free above 4G and no room below: 4 halved areas at most.
    areas = crashkernel.place_cma(512 * MiB, [(1 * MiB, 64 * MiB), (4 * GiB, 4 * GiB + 100 * MiB)], 5 * GiB)
    assert len(areas) <= crashkernel.CMA_RANGES_MAX
    assert all(s % (2 * MiB) == 0 and e % (2 * MiB) == 0 for s, e in areas)


def test_cma_top_down_when_memory_ends_below_4g_plus_size() -> None:
    assert crashkernel.place_cma(256 * MiB, [(1 * MiB, 2 * GiB)], 2 * GiB) == ((2 * GiB - 256 * MiB, 2 * GiB),)


def test_dma32_only_board_gets_its_movable_zone_from_dma32() -> None:
    present = memblock.present_ranges(_map((0, 0x9FC00, 0), (0x100000, 2 * GiB, 0)), Arch.X86_64)
    assert zones.movable_zone(present) is zones.Zone.DMA32
    (span,) = zones.movable_spans(present, movablecore=512 * MiB)
    assert span.start == 2 * GiB - 512 * MiB


def test_kernelcore_and_full_movablecore() -> None:
    present = memblock.present_ranges(
        _map((0, 0x9FC00, 0), (0x100000, 0xBFFE0000, 0), (4 * GiB, 5 * GiB, 0)), Arch.X86_64
    )
    # kernelcore=3G+512M: the 512M above 4G kernel memory, the rest Movable.
    (span,) = zones.movable_spans(present, kernelcore=0xBFFE0000 - 0x100000 + 0x9E000 + 512 * MiB)
    assert span.start == 4 * GiB + 512 * MiB
    assert zones.movable_spans(present, movablecore=Percent(100)) == ()  # kernelcore becomes 0: no zone
    assert zones.movable_spans(present, movablecore=8 * GiB) == ()


def test_top_down_start_skips_holes() -> None:
    present = (memblock.Present(0, 1 * GiB, 0), memblock.Present(2 * GiB, 2 * GiB + 64 * MiB, 0))
    assert memblock.top_down_start(present, 0, 96 * MiB) == 1 * GiB - 32 * MiB


@pytest.mark.parametrize("dmap", [DevdaxMap.MEM, DevdaxMap.DEV])
@pytest.mark.parametrize("blocks", [1, 2, 7, 64])
def test_window_for_blocks_returns_exactly_those_blocks(dmap: DevdaxMap, blocks: int) -> None:
    size, lead = window_for_blocks(blocks, 128 * MiB, dmap, 2 * MiB)
    base = 0x200000000 - size
    dax = devdax(base, size, dmap, 2 * MiB, 128 * MiB)
    # The pmem region alignment (16M) bounds both ends; the data offset fits in the lead.
    assert base % (16 * MiB) == 0 and size % (16 * MiB) == 0 and dax.dataoff <= lead < dax.dataoff + 16 * MiB
    assert dax.blocks_returned == blocks and dax.wasted == lead


def test_cmdline_helpers() -> None:
    assert kcmd.memmap_pmem(0x127E00000, 258 * MiB) == "memmap=258M!0x127e00000"
    assert kcmd.value_of("a movablecore=1G b movablecore=512M", "movablecore") == "512M"
    assert kcmd.param_names("crashkernel=96M nokaslr") == ("crashkernel", "nokaslr")
