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


# ---------------------------------------------------------------- the solver on arm64 windows

import pathlib  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from layoutc.diagnostics.diagnostic import Diagnostics  # noqa: E402
from layoutc.frontend.load import load_profile  # noqa: E402
from layoutc.solve import check, solve  # noqa: E402

PROFILE = """schema_version: 1
board: t
arch: arm64
kernel: {{version: "7.2", cmdline: "root=/dev/vda"}}
memory:
  srat: true
  map:
{ranges}
boot: {{loader: direct, initrd_size: 8M}}
crash: {{memory: classic, target: pmem-window, reserve: 256M}}
window: {{mode: movable, size: {size}}}
{pins}"""


def _solve(tmp: pathlib.Path, nodes: int, gib: int, size: str, pins: str = ""):  # type: ignore[no-untyped-def]
    start, lines = 0x40000000, []
    for node in range(nodes):
        lines.append(f"    - {{start: {start:#x}, size: {gib}G, type: ram, node: {node}}}")
        start += gib * GiB
    path = tmp / "t.yaml"
    path.write_text(PROFILE.format(ranges="\n".join(lines), size=size, pins=pins))
    diags = Diagnostics()
    profile = load_profile(path, "t.yaml", diags)
    assert profile is not None, [d.message for d in diags.items]
    return solve(profile, diags), diags


def test_measured_window_on_4g(tmp_path: pathlib.Path) -> None:
    layout, _ = _solve(tmp_path, 1, 4, "256M")
    assert layout is not None and layout.dump_window is not None
    assert (layout.dump_window.start, layout.dump_window.size) == (0x128000000, 256 * MiB)
    assert layout.cmdline.crash == "cma=0 irqpoll nr_cpus=1 reset_devices"
    assert "mem=3712M" in layout.cmdline.recovery.split()
    assert layout.recovery_mem_limit == 0x128000000


def test_window_pinned_outside_the_highest_node_is_lc330(tmp_path: pathlib.Path) -> None:
    layout, diags = _solve(tmp_path, 2, 4, "256M", "pins: {window_base: 0x128000000}\n")
    assert layout is None
    assert [d.code for d in diags.items if d.code.startswith("LC3")] == ["LC330"]


@settings(max_examples=25, deadline=None)
@given(nodes=st.integers(1, 3), gib=st.integers(2, 8), blocks=st.integers(2, 6))
def test_arm64_window_rules_hold(tmp_path_factory: pytest.TempPathFactory, nodes: int, gib: int, blocks: int) -> None:
    layout, _ = _solve(tmp_path_factory.mktemp("p"), nodes, gib, f"{blocks * 128 + 16}M")
    if layout is None:
        return
    window = layout.dump_window
    assert window is not None
    assert check.check(layout) == []
    assert window.node == max(r.node or 0 for r in layout.memory.ram)  # the highest node
    assert window.end % (128 * MiB) == 0
    assert not any(r.start < window.end and window.start < r.end for r in layout.regions
                   if r.kind not in ("dump_window", "kernel_image_bound"))
    assert any(z.start <= window.start and window.end <= z.end for z in layout.movable_zone)
    assert "memmap=" not in " ".join((layout.cmdline.production, layout.cmdline.crash, layout.cmdline.recovery))
    below = sum(min(r.end, window.start) - r.start for r in layout.memory.ram if r.start < window.start)
    assert f"mem={below // MiB}M" in layout.cmdline.recovery.split()
