"""Exact predictions against real kernels (tests/captures): memblock, ZONE_MOVABLE, early top, KASLR."""

from __future__ import annotations

import pytest

from layoutc.kernel import crashkernel, memblock, zones
from layoutc.kernel.pmem import devdax
from layoutc.model.profile import Arch, DevdaxMap
from layoutc.model.units import GiB, MiB, Percent

from .captures import iomem_memory, load, zoneinfo_present
from .conftest import CAPTURES

PC4 = "qemu-k7-pc-4G"
NUMA2 = "qemu-k7-pc-8G-numa2"
Q35 = "qemu-k6.1-q35-8G"


@pytest.mark.parametrize("name", [PC4, NUMA2, Q35])
def test_memblock_ranges_match_dmesg(name: str) -> None:
    cap = load(name)
    present = memblock.present_ranges(cap.memory, Arch.X86_64)
    assert [(p.node, p.start, p.end) for p in present] == cap.node_ranges


@pytest.mark.parametrize("name", [PC4, NUMA2])
def test_total_pages_match_dmesg(name: str) -> None:
    # 7.x prints memblock's present pages as "Built N zonelists ... Total pages: N".
    cap = load(name)
    assert memblock.total_pages(memblock.present_ranges(cap.memory, Arch.X86_64)) == cap.total_pages


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (f"{PC4}/movablecore-512M", 512 * MiB, {0: 0x120000000}),
        (f"{PC4}/movablecore-25pct", Percent(25), {0: 0x100000000}),
        (f"{NUMA2}/movablecore-512M", 512 * MiB, {0: 0x130400000, 1: 0x230000000}),
        (f"{NUMA2}/movablecore-25pct", Percent(25), {0: 0x100400000, 1: 0x200000000}),
    ],
)
def test_movable_zone_start_is_exact(name: str, value: int | Percent, expected: dict[int, int]) -> None:
    cap = load(name)
    present = memblock.present_ranges(cap.memory, Arch.X86_64)
    spans = zones.movable_spans(present, movablecore=value)
    assert {s.node: s.start for s in spans} == expected == cap.movable_starts
    for span, zone in zip(spans, cap.offline["movable_zone"], strict=True):  # type: ignore[call-overload]
        assert span.start == zone["start_phys"]
        assert (span.end - span.start) // 4096 == zone["spanned"]


def test_25pct_on_4g_takes_all_high_ram_no_normal_zone() -> None:
    cap = load(f"{PC4}/movablecore-25pct")
    present = memblock.present_ranges(cap.memory, Arch.X86_64)
    (span,) = zones.movable_spans(present, movablecore=Percent(25))
    assert (span.start, span.end) == (4 * GiB, 5 * GiB)
    assert "Movable" in cap.dmesg and "zone Normal: 32 pages" not in cap.dmesg


def test_no_params_no_movable_zone_q35_61() -> None:
    cap = load(Q35)
    present = memblock.present_ranges(cap.memory, Arch.X86_64)
    assert zones.movable_spans(present) == ()
    assert cap.movable_starts == {}
    assert zones.movable_zone(present) is zones.Zone.NORMAL


@pytest.mark.parametrize("name", [PC4, Q35])
def test_early_hash_sizes_match_dmesg(name: str) -> None:
    cap = load(name)
    present = memblock.present_ranges(cap.memory, Arch.X86_64)
    assert memblock.early_hash_bytes(memblock.total_pages(present)) == cap.hash_bytes


def _reserved_in_zone(zone: dict[str, int]) -> int:
    return (zone["present"] - zone["managed"]) * 4096


@pytest.mark.parametrize("name", [f"{PC4}/movablecore-512M", f"{PC4}/movablecore-25pct", f"{NUMA2}/movablecore-25pct"])
def test_early_top_model_bounds_measurement(name: str) -> None:
    """Reserved pages in each Movable zone (zoneinfo present - managed) are the early top allocations
    (the kernel image is elsewhere in these boots); the model covers them with < 12 MiB to spare."""
    cap = load(name)
    image = cap.kernel_image
    present = memblock.present_ranges(cap.memory, Arch.X86_64)
    model = {e.node: e.total for e in memblock.early_top(present, {})}
    for zone in cap.offline["movable_zone"]:  # type: ignore[attr-defined]
        assert not (zone["start_phys"] <= image[0] < zone["start_phys"] + zone["spanned"] * 4096)
        measured = _reserved_in_zone(zone)
        assert measured <= model[zone["node"]] < measured + 12 * MiB


def test_4g_model_is_about_77_mib() -> None:
    cap = load(PC4)
    (early,) = memblock.early_top(memblock.present_ranges(cap.memory, Arch.X86_64), {})
    assert early.total == 76 * MiB and early.memmap == 64 * MiB


@pytest.mark.parametrize(
    "name",
    [
        f"{PC4}/movablecore-512M",
        f"{PC4}/movablecore-25pct",
        f"{NUMA2}/movablecore-512M",
        f"{NUMA2}/movablecore-25pct",
    ],
)
def test_top_block_of_every_node_is_ebusy_and_inside_the_guard(name: str) -> None:
    cap = load(name)
    present = memblock.present_ranges(cap.memory, Arch.X86_64)
    bs = cap.memory.block_size
    image = cap.kernel_image
    guards = {}
    for early in memblock.early_top(present, {}):
        start = memblock.top_down_start(present, early.node, early.total)
        guards[early.node] = (start // bs * bs, memblock.node_end(present, early.node))
    for block in cap.offline["offline_test"]["blocks"]:  # type: ignore[index]
        start, end = block["phys_start"], block["phys_end_inclusive"] + 1
        in_guard = guards[block["node"]][0] <= start < guards[block["node"]][1]
        has_image = start < image[1] and image[0] < end
        if block["result"] == "EBUSY":
            assert in_guard or has_image, block["phys_start_hex"]
        elif block["result"] == "ok":
            assert not in_guard, block["phys_start_hex"]


def test_kaslr_put_the_kernel_in_movable_on_numa2_512m() -> None:
    """The reason for nokaslr: block 39 is EBUSY on the kernel image, not on early allocations."""
    cap = load(f"{NUMA2}/movablecore-512M")
    image = cap.kernel_image
    assert 0x130400000 <= image[0] < 0x140000000
    busy = [b for b in cap.offline["offline_test"]["blocks"] if b["result"] == "EBUSY"]  # type: ignore[index]
    assert any(
        b["phys_start"] <= image[0] <= b["phys_end_inclusive"]
        or b["phys_start"] <= image[1] - 1 <= b["phys_end_inclusive"]
        for b in busy
    )


def test_block_straddling_the_4m_rounded_zone_start_is_einval() -> None:
    cap = load(f"{NUMA2}/movablecore-512M")
    block38 = next(b for b in cap.offline["offline_test"]["blocks"] if b["index"] == 38)  # type: ignore[index]
    assert block38["result"] == "EINVAL" and block38["valid_zones_before"] == ["none"]
    assert 0x130400000 % cap.memory.block_size != 0


def test_measured_cma_straddle_is_predicted() -> None:
    """memmap=272M!0x12f000000 movablecore=512M crashkernel=96M crashkernel=256M,cma on 4 GiB:
    Movable started at 0x10f000000 and the CMA area 0x100000000-0x10fffffff crossed it."""
    cap = load(PC4)
    present = memblock.present_ranges(cap.memory, Arch.X86_64, [(0x12F000000, 0x12F000000 + 272 * MiB)])
    (span,) = zones.movable_spans(present, movablecore=512 * MiB)
    assert span.start == 0x10F000000
    args = crashkernel.parse("crashkernel=96M crashkernel=256M,cma", memblock.total_pages(present) * 4096)
    free = crashkernel.subtract(((p.start, p.end) for p in present), [(0, MiB), (0x1000000, 0x4000000)])
    placed = crashkernel.place(args, free)
    assert placed.crash is not None
    (cma,) = crashkernel.place_cma(args.cma_size, crashkernel.subtract(free, [placed.crash]), 0x140000000)
    assert cma == (0x100000000, 0x110000000)
    assert cma[0] < span.start < cma[1]


def test_devdax_arithmetic_measured() -> None:
    """A 256M window at a block boundary returned 1 of 2 blocks; 272M from 16M below returned both."""
    assert devdax(0x130000000, 256 * MiB, DevdaxMap.DEV, 2 * MiB, 128 * MiB).blocks_returned == 1
    ross = devdax(0x130000000, 256 * MiB, DevdaxMap.DEV, 2 * MiB, 128 * MiB)
    assert (ross.dataoff, ross.kmem_start, ross.kmem_end) == (6 * MiB, 0x138000000, 0x140000000)
    assert devdax(0x12F000000, 272 * MiB, DevdaxMap.DEV, 2 * MiB, 128 * MiB).blocks_returned == 2
    assert devdax(0x12FE00000, 258 * MiB, DevdaxMap.MEM, 2 * MiB, 128 * MiB).blocks_returned == 2


ZONE_CAPTURES = [
    (PC4, None),
    (f"{PC4}/movablecore-512M", 512 * MiB),
    (f"{PC4}/movablecore-25pct", Percent(25)),
    (NUMA2, None),
    (f"{NUMA2}/movablecore-512M", 512 * MiB),
    (f"{NUMA2}/movablecore-25pct", Percent(25)),
    (Q35, None),
    ("host-24G", None),
]


@pytest.mark.parametrize(("name", "value"), ZONE_CAPTURES)
def test_zone_present_pages_match_zoneinfo(name: str, value: int | Percent | None) -> None:
    """Every zone of every capture, to the page: DMA, DMA32, Normal and Movable per node."""
    path = CAPTURES / name
    memory = iomem_memory(path) if not (path / "dmesg").exists() else load(name).memory
    present = memblock.present_ranges(memory, Arch.X86_64)
    spans = zones.movable_spans(present, movablecore=value)
    predicted = {(node, str(zone)): pages for (node, zone), pages in zones.zone_present_pages(present, spans).items()}
    assert predicted == zoneinfo_present(path)
