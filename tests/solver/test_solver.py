"""The solver on bundled profiles and fixtures: feasibility, the seed flow's numbers, determinism."""

from __future__ import annotations

from pathlib import Path

import pytest

from layoutc.diagnostics.diagnostic import Diagnostics, Severity
from layoutc.frontend.load import load_profile
from layoutc.model.profile import Profile
from layoutc.model.units import MiB
from layoutc.solve import check, solve

from .conftest import REPO

FIXTURES = Path(__file__).parent / "fixtures"
PROFILES = sorted((REPO / "profiles").rglob("*.yaml")) + sorted(FIXTURES.glob("*.yaml"))


def _load(path: Path) -> Profile:
    diags = Diagnostics()
    profile = load_profile(path, str(path.relative_to(REPO)), diags)
    assert profile is not None, [d.message for d in diags.items]
    return profile


def _concrete() -> list[Path]:
    return [p for p in PROFILES if not _load(p).abstract]


@pytest.mark.parametrize("path", _concrete(), ids=lambda p: p.stem)
def test_every_bundled_profile_solves_and_checks(path: Path) -> None:
    diags = Diagnostics()
    layout = solve(_load(path), diags)
    assert layout is not None, [f"{d.code}: {d.message}" for d in diags.items]
    assert not [d for d in diags.items if d.severity is Severity.ERROR]
    assert check.check(layout) == []


def test_origin_thread_window_avoids_top_and_returns_whole_blocks() -> None:
    layout = solve(_load(REPO / "profiles/origin-thread-4g.yaml"), Diagnostics())
    assert layout is not None and layout.dump_window is not None
    window = layout.dump_window
    (guard,) = layout.guards
    assert window.end <= guard.start == 0x138000000  # Ross's 0x130000000-0x140000000 hit the top block
    assert window.start == 0x127000000 and window.size == 272 * MiB
    assert window.devdax.blocks_returned == 2 and window.devdax.wasted == 16 * MiB
    assert [(z.start, z.end) for z in layout.movable_zone] == [(0x120000000, 0x140000000)]
    assert layout.cmdline.production == "crashkernel=240M movablecore=512M nokaslr"
    assert layout.cmdline.crash == "memmap=272M!0x127000000 irqpoll nr_cpus=1 reset_devices"
    assert layout.cmdline.recovery.startswith("crashkernel=240M memmap=272M!0x127000000")
    assert "movablecore" not in layout.cmdline.recovery


def test_numa2_window_on_the_top_node() -> None:
    layout = solve(_load(REPO / "profiles/qemu/qemu-8g-numa2.yaml"), Diagnostics())
    assert layout is not None and layout.dump_window is not None
    assert layout.dump_window.node == 1 and layout.dump_window.start == 0x227000000
    assert {z.node: z.start for z in layout.movable_zone} == {0: 0x120400000, 1: 0x220000000}
    assert [g.start for g in layout.guards] == [0x138000000, 0x238000000]


def test_cma_stays_in_one_zone_below_the_window() -> None:
    layout = solve(_load(REPO / "profiles/qemu/qemu-4g-cma.yaml"), Diagnostics())
    assert layout is not None
    (cma,) = layout.regions_of("crash_cma")
    (zone,) = layout.movable_zone
    assert (cma.start, cma.end) == (0x100000000, 0x110000000) and cma.end <= zone.start
    assert "crashkernel=96M crashkernel=256M,cma" in layout.cmdline.production
    assert layout.armed_overhead == 96 * MiB


def test_hotplug_has_memmap_on_every_boot_and_no_recovery_boot() -> None:
    layout = solve(_load(REPO / "profiles/qemu/qemu-q35-8g-k61.yaml"), Diagnostics())
    assert layout is not None and layout.dump_window is not None
    assert "memmap=272M!0x26f000000" in layout.cmdline.production
    assert layout.cmdline.recovery == "" and layout.recovery_boot is None
    assert "memory_hotplug.memmap_on_memory=0" in layout.cmdline.production
    assert layout.kaslr and layout.kaslr_guard == "memmap-avoided"


def test_disk_target_has_no_window() -> None:
    layout = solve(_load(REPO / "profiles/server/server-64g-2node.yaml"), Diagnostics())
    assert layout is not None and layout.dump_window is None
    assert layout.cmdline.crash == "irqpoll nr_cpus=1 reset_devices"
    assert not layout.regions_of("dump_window") and not layout.regions_of("guard")


def test_solve_is_deterministic() -> None:
    for path in _concrete():
        a = solve(_load(path), Diagnostics())
        b = solve(_load(path), Diagnostics())
        assert a == b


def test_kaslr_on_with_movable_window_warns_and_records_runtime_check(make_profile) -> None:  # type: ignore[no-untyped-def]
    text = (FIXTURES / "pc-4g.yaml").read_text() + 'kaslr: "on"\n'
    diags = Diagnostics()
    layout = solve(make_profile(text), diags)
    assert layout is not None and layout.kaslr and layout.kaslr_guard == "runtime-check"
    assert "nokaslr" not in layout.cmdline.production
    assert [d.code for d in diags.items] == ["LC316"]


def test_measured_early_reserved_replaces_the_model(make_profile) -> None:  # type: ignore[no-untyped-def]
    text = (
        (FIXTURES / "pc-4g.yaml").read_text().replace("  srat: true\n", '  srat: true\n  early_reserved: {"0": 200M}\n')
    )
    layout = solve(make_profile(text), Diagnostics())
    assert layout is not None and layout.dump_window is not None
    (guard,) = layout.guards
    assert guard.early.measured == 200 * MiB and guard.start == 0x130000000
    assert layout.dump_window.end == 0x130000000 and layout.dump_window.start == 0x11F000000
    assert not any(note.startswith("guard sizes are modelled") for note in layout.notes)


def test_no_srat_means_release_by_reboot(make_profile) -> None:  # type: ignore[no-untyped-def]
    text = (FIXTURES / "pc-4g.yaml").read_text().replace("  srat: true\n", "  srat: false\n")
    layout = solve(make_profile(text), Diagnostics())
    assert layout is not None and layout.dump_window is not None
    assert layout.dump_window.release == "reboot" and not layout.memmap_on_memory_off
    assert layout.cmdline.recovery == "crashkernel=96M memmap=272M!0x127000000"
