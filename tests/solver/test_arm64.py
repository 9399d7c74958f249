"""arm64 kernel models against the lab's measurements (Debian arm64 6.1.0-57 and 7.2.13, QEMU virt,
direct -kernel boot with a device tree; docs/reference/kernel-rules.md §8)."""

from __future__ import annotations

import pytest

from layoutc.kernel import arm64, crashkernel, memblock, zones
from layoutc.model.profile import Arch, KernelVersion, MemoryMap, MemRange, RangeType
from layoutc.model.units import GiB, MiB

K72, K61 = KernelVersion(7, 2, 13), KernelVersion(6, 1)
VIRT_4G = MemoryMap((MemRange(0x40000000, 0x140000000, RangeType.RAM, 0),), 128 * MiB, True, {})
VIRT_8G_2N = MemoryMap((MemRange(0x40000000, 0x140000000, RangeType.RAM, 0),
                        MemRange(0x140000000, 0x240000000, RangeType.RAM, 1)), 128 * MiB, True, {})


def _present(memory: MemoryMap) -> tuple[memblock.Present, ...]:
    return memblock.present_ranges(memory, Arch.ARM64)


def _boot(memory: MemoryMap, cmdline: str, version: KernelVersion) -> arm64.Arm64Boot:
    pres = _present(memory)
    image = arm64.direct_image(pres, 64 * MiB, version)
    return arm64.boot_reservations(pres, [image], crashkernel.parse(cmdline, memory.total_ram), version)


def test_dma_zone_ends_at_4g_and_normal_above() -> None:
    pres = _present(VIRT_4G)
    assert arm64.dma_limit(pres) == 0x100000000
    assert arm64.zone_of(0x40000000, pres, ()) == "DMA"
    assert arm64.zone_of(0xFFFFFFFF, pres, ()) == "DMA"
    assert arm64.zone_of(0x100000000, pres, ()) == "Normal"
    assert arm64.zone_of(0x130000000, pres, ((0x120000000, 0x140000000),)) == "Movable"


def test_dma_limit_is_end_of_dram_when_dram_starts_above_4g() -> None:
    high = MemoryMap((MemRange(0x800000000, 0x880000000, RangeType.RAM, 0),), 128 * MiB, True, {})
    assert arm64.dma_limit(_present(high)) == 0x880000000


def test_movablecore_512m_on_4g_starts_at_0x120000000() -> None:
    spans = zones.movable_spans(_present(VIRT_4G), movablecore=512 * MiB)
    assert [(s.node, s.start, s.end) for s in spans] == [(0, 0x120000000, 0x140000000)]


def test_movablecore_1g_on_two_nodes_is_512m_at_the_top_of_each() -> None:
    spans = zones.movable_spans(_present(VIRT_8G_2N), movablecore=1 * GiB)
    assert [(s.node, s.start, s.end) for s in spans] == [(0, 0x120000000, 0x140000000),
                                                         (1, 0x220000000, 0x240000000)]


@pytest.mark.parametrize(("memory", "measured"), [
    (VIRT_4G, {0: 0x13AE00000}),
    (VIRT_8G_2N, {0: 0x13BE00000, 1: 0x23AC00000}),
])
def test_early_top_bounds_the_measured_unmovable_top_within_the_top_block(memory: MemoryMap,
                                                                         measured: dict[int, int]) -> None:
    pres = _present(memory)
    for early in memblock.early_top(pres, {}, Arch.ARM64):
        start = memblock.top_down_start(pres, early.node, early.total)
        assert start <= measured[early.node]  # an upper bound of what was measured
        end = memblock.node_end(pres, early.node)
        assert start >= end - 128 * MiB  # still inside the top block: the guard is one block
    node1 = memblock.early_top(_present(VIRT_8G_2N), {}, Arch.ARM64)[1]
    assert memblock.top_down_start(_present(VIRT_8G_2N), 1, node1.total) == 0x23AC00000  # exact on 7.2


@pytest.mark.parametrize("version", [K72, K61])
def test_crashkernel_256m_on_4g_lands_under_the_default_cma(version: KernelVersion) -> None:
    boot = _boot(VIRT_4G, "crashkernel=256M", version)
    assert boot.cma == ((0xFC000000, 0x100000000),)
    assert boot.crash.crash == (0xEC000000, 0xFC000000)
    assert boot.crash.low is None
    assert boot.swiotlb == (0xE8000000, 0xEC000000)


def test_crashkernel_256m_on_two_nodes_is_the_same_low_slot() -> None:
    for version in (K72, K61):
        assert _boot(VIRT_8G_2N, "crashkernel=256M", version).crash.crash == (0xEC000000, 0xFC000000)


def test_crashkernel_1g_on_8g() -> None:
    assert _boot(VIRT_8G_2N, "crashkernel=1G", K72).crash.crash == (0xBC000000, 0xFC000000)


def test_crashkernel_high_at_the_top_of_the_highest_node_with_a_128m_low_part() -> None:
    boot = _boot(VIRT_8G_2N, "crashkernel=256M,high", K72)
    assert boot.crash.crash == (0x22EE00000, 0x23EE00000)
    assert boot.crash.low == (0xF4000000, 0xFC000000)


def test_numa_cma_per_node_on_7x_only() -> None:
    assert _boot(VIRT_8G_2N, "crashkernel=256M", K72).cma == (
        (0xFC000000, 0x100000000), (0x100000000, 0x104000000), (0x140000000, 0x144000000))
    assert _boot(VIRT_8G_2N, "crashkernel=256M", K72).cma_nodes == (0, 0, 1)
    assert _boot(VIRT_8G_2N, "crashkernel=256M", K61).cma == ((0xFC000000, 0x100000000),)
    assert _boot(VIRT_4G, "crashkernel=256M", K72).cma == ((0xFC000000, 0x100000000),)


def test_direct_boot_image_and_initrd() -> None:
    pres = _present(VIRT_4G)
    assert arm64.direct_image(pres, 48 * MiB, K72)[0] == 0x40200000
    assert arm64.direct_image(pres, 33 * MiB, K61)[0] == 0x40210000
    assert arm64.direct_initrd_start(pres) == 0x48000000


def test_recovery_mem_counts_memory_not_addresses() -> None:
    # measured: mem=3584M on 4 GiB at 0x40000000 ends memblock at 0x120000000
    assert arm64.recovery_mem(_present(VIRT_4G), 0x120000000) == 3584 * MiB
    assert arm64.mem_param(3584 * MiB) == "mem=3584M"
