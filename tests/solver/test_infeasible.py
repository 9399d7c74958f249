"""Infeasible profiles give the right diagnostic, word for word (every LC3xx code the profile can reach)."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest

from layoutc.diagnostics.diagnostic import Diagnostics, render_text
from layoutc.frontend.load import load_profile
from layoutc.solve import graph, solve
from layoutc.solve import solver_codes as codes

BASE = (Path(__file__).parent / "fixtures" / "pc-4g.yaml").read_text()
# the fixture accepts its small crash.reserve with crash.unsafe; swapped for a line of the same count
UNSAFE_LINE = next(line for line in BASE.splitlines(keepends=True) if line.startswith("  unsafe:"))
R302 = codes.CODE2RULE["LC302"]

CASES = {
    "window-too-big": (
        BASE.replace("size: auto", "size: 1G"),
        "p.yaml:23:9: error[LC302]: window.size: window 1G does not fit: movable memory below the guard is "
        "896M at most (node 0 guard 0x138000000-0x140000000)\n"
        "  = note: memory.map takes part (p.yaml:11:5)\n"
        "  = note: crash.reserve takes part (p.yaml:20:12)\n"
        f"  = rule: {R302}\n"
        "  = hint: make the window smaller, or give the board more memory above 4 GiB\n",
    ),
    "base-misaligned": (
        BASE + "pins:\n  window_base: 0x127100000\n",
        "p.yaml:25:16: error[LC307]: pins.window_base: window base 0x127100000 is 1M past a 16M boundary\n"
        f"  = rule: {codes.CODE2RULE['LC307']}\n"
        "  = hint: use a multiple of 16M (the pmem region alignment; ndctl refuses others)\n",
    ),
    "movablecore-too-small": (
        BASE + "pins:\n  movablecore: 256M\n",
        "p.yaml:25:16: error[LC308]: pins.movablecore: window 272M does not fit: ZONE_MOVABLE from "
        "movablecore=256M holds 128M below the guard\n"
        "  = note: window.size takes part (p.yaml:23:9)\n"
        f"  = rule: {codes.CODE2RULE['LC308']}\n"
        "  = hint: raise the pinned movablecore, or drop the pin and let the solver choose\n",
    ),
    "reserve-too-small": (
        BASE.replace("reserve: 96M", "reserve: 32M"),
        "p.yaml:20:12: error[LC310]: crash.reserve: crashkernel=32M is 40M short of the crash kernel "
        "and initrd as loaded (72M: 4x kernel_size + 3x initrd_size)\n"
        f"  = rule: {codes.CODE2RULE['LC310']}\n"
        "  = hint: use crash.reserve: auto (gives 240M)\n",
    ),
    "offset-misaligned": (
        BASE + "pins:\n  crashkernel_offset: 0x11100000\n",
        "p.yaml:25:23: error[LC305]: pins.crashkernel_offset: crashkernel offset 0x11100000 is 1M past a 16M "
        "boundary; the kernel searches only [offset, offset+size) and fails\n"
        f"  = rule: {codes.CODE2RULE['LC305']}\n"
        "  = hint: use a multiple of 16M (x86 CRASH_ALIGN)\n",
    ),
    "one-block-window": (
        BASE.replace("size: auto", "size: 128M"),
        "p.yaml:23:9: error[LC303]: window.size: window 128M at 0x130000000 returns no whole block: "
        "data starts at 0x130200000, blocks of 128M fit from 0x138000000 to 0x138000000\n"
        "  = note: memory.block_size takes part (p.yaml:8:15)\n"
        f"  = rule: {codes.CODE2RULE['LC303']}\n"
        "  = hint: use base = k*block - dataoff and size = n*block + dataoff (window.size: auto does)\n",
    ),
    "reserve-below-sizing-model": (
        BASE.replace(UNSAFE_LINE, "  memory: classic\n"),
        "p.yaml:20:12: error[LC319]: crash.reserve: reserve 96M is 135.3 MiB short of what the crash kernel "
        "needs there (231.3 MiB: crash kernel image (in RAM) 48.0 MiB, initrd (loaded segment) 8.0 MiB, "
        "initrd unpacking (2 more copies) 16.0 MiB, purgatory, elfcorehdr, boot params 1.0 MiB, kernel "
        "runtime (slab, page tables, early allocations) 16.0 MiB, dumper working set (layoutc dumper, "
        "Python) 34.0 MiB, per-CPU areas and dumper threads 1.0 MiB, page bitmaps over the first kernel's "
        "RAM 0.2 MiB, pmem driver (raw mode) 1.0 MiB, software IO TLB (bounce buffers) 64.0 MiB, struct "
        "pages of the crash kernel's own RAM 3.0 MiB, slack 39.0 MiB)\n"
        "  = note: crash.memory takes part (p.yaml:19:11)\n"
        f"  = rule: {codes.CODE2RULE['LC319']}\n"
        "  = hint: use crash.reserve: auto, or say why this board needs less in crash.unsafe (layoutc "
        "estimate shows every term)\n",
    ),
    "cma-size-below-sizing-model": (
        BASE.replace(UNSAFE_LINE, "  memory: cma\n  cma_size: 64M\n"),
        "p.yaml:20:13: error[LC319]: crash.cma_size: cma_size 64M is 110.3 MiB short of what the crash "
        "kernel needs there (174.3 MiB: initrd unpacking (2 more copies) 16.0 MiB, kernel runtime (slab, "
        "page tables, early allocations) 16.0 MiB, dumper working set (layoutc dumper, Python) 34.0 MiB, "
        "per-CPU areas and dumper threads 1.0 MiB, page bitmaps over the first kernel's RAM 0.2 MiB, pmem "
        "driver (raw mode) 1.0 MiB, software IO TLB (bounce buffers) 64.0 MiB, struct pages of the crash "
        "kernel's own RAM 3.0 MiB, slack 39.0 MiB)\n"
        "  = note: crash.memory takes part (p.yaml:19:11)\n"
        f"  = rule: {codes.CODE2RULE['LC319']}\n"
        "  = hint: use crash.cma_size: 176M, or say why this board needs less in crash.unsafe (layoutc "
        "estimate shows every term)\n",
    ),
}


def _diagnose(tmp_path: Path, text: str) -> tuple[object, str]:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    diags = Diagnostics()
    profile = load_profile(path, "p.yaml", diags)
    layout = solve(profile, diags) if profile is not None else None
    return layout, render_text(diags)


@pytest.mark.parametrize("case", sorted(CASES))
def test_exact_diagnostic(tmp_path: Path, case: str) -> None:
    text, expected = CASES[case]
    layout, rendered = _diagnose(tmp_path, text)
    assert layout is None
    assert rendered == expected


def test_unsafe_pin_is_recorded_not_refused(tmp_path: Path) -> None:
    layout, rendered = _diagnose(tmp_path, BASE + "pins:\n  movablecore: {value: 256M, unsafe: true}\n")
    assert layout is not None, rendered
    (unsafe,) = [u for u in layout.unsafe if u.pin.startswith("pins.")]  # type: ignore[attr-defined]
    assert (unsafe.pin, unsafe.value, unsafe.rule) == ("pins.movablecore", "256M", 16)
    assert "movablecore=256M" in layout.cmdline.production  # type: ignore[attr-defined]


def test_unsafe_undersized_reservation_is_recorded_with_its_reason(tmp_path: Path) -> None:
    layout, rendered = _diagnose(tmp_path, BASE)
    assert layout is not None, rendered
    (unsafe,) = layout.unsafe  # type: ignore[attr-defined]
    assert (unsafe.pin, unsafe.value, unsafe.rule) == ("crash.reserve", "96M", 29)
    assert unsafe.message.endswith("accepted: a small fixed reservation keeps the fixture's arithmetic readable; "
                                   "never booted")


def test_cma_before_617_is_a_clear_diagnostic(tmp_path: Path) -> None:
    text = BASE.replace('"7.2"', '"6.1"').replace(UNSAFE_LINE, "  memory: cma\n  cma_size: 256M\n")
    layout, rendered = _diagnose(tmp_path, text)
    assert layout is None
    expected = "error[LC205]: crash.memory: crashkernel=,cma needs Linux 6.17 or newer; kernel.version is 6.1"
    assert expected in rendered


def test_cycle_names_every_participant(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(BASE)
    diags = Diagnostics()
    profile = load_profile(path, "p.yaml", diags)
    assert profile is not None
    steps = (
        graph.Step("a", ("b",), lambda v: 1, ("window.size",)),
        graph.Step("b", ("a",), lambda v: 2, ("crash.reserve",)),
    )
    result = graph.evaluate(steps, profile, diags, {})
    assert result.failed == {"a", "b"}
    (diag,) = diags.items
    assert diag.code == "LC301" and diag.message == "dependency cycle: a -> b -> a"
    assert [r.message for r in diag.related] == ["'a' reads window.size", "'b' reads crash.reserve"]
    assert str(diag.related[0].span) == "p.yaml:23:9"


def test_every_code_has_rule_text() -> None:
    assert len({c.code for c in codes.CODES}) == len(codes.CODES)
    assert all(c.code.startswith("LC3") and c.rule for c in codes.CODES)
    assert nx.__version__


def test_docs_list_every_code() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "how-layouts-are-solved.md").read_text()
    for code in codes.CODES:
        assert f"| {code.code} |" in docs, code.code


def test_advice_to_return_one_more_block_is_a_size_the_checker_accepts(tmp_path: Path) -> None:
    """The note 'N would return k+1' names a window size that compiles and returns k+1 blocks."""
    import re

    text = BASE.replace("size: auto", "size: 512M\n  release: kmem")
    layout, rendered = _diagnose(tmp_path, text)
    assert layout is not None, rendered
    (advice,) = [n for n in layout.notes if "would return" in n]  # type: ignore[attr-defined]
    match = re.search(r"; (\d+M) \((\d+) blocks", advice)
    assert match, advice
    size, blocks = match.group(1), int(match.group(2))
    again, rendered = _diagnose(tmp_path, BASE.replace("size: auto", f"size: {size}\n  release: kmem"))
    assert again is not None, rendered
    assert "error" not in rendered
    assert again.dump_window.devdax.blocks_returned == blocks  # type: ignore[attr-defined]


def test_no_parameter_the_kernel_does_not_have(tmp_path: Path) -> None:
    """Without CONFIG_MHP_MEMMAP_ON_MEMORY the kernel has no memory_hotplug.memmap_on_memory: not emitted."""
    kmem = BASE.replace("size: auto", "size: auto\n  release: kmem")
    with_it, rendered = _diagnose(tmp_path, kmem)
    assert with_it is not None, rendered
    assert "memory_hotplug.memmap_on_memory=0" in with_it.cmdline.recovery  # type: ignore[attr-defined]
    without, rendered = _diagnose(tmp_path, kmem.replace("MHP_MEMMAP_ON_MEMORY: y", "MHP_MEMMAP_ON_MEMORY: n"))
    assert without is not None, rendered
    assert "memmap_on_memory" not in without.cmdline.recovery  # type: ignore[attr-defined]
    assert without.memmap_on_memory_off is False  # type: ignore[attr-defined]
