"""The dump window census (layoutc.dump.classify.windowloss): what the capture overwrote, by struct page.

A synthetic kernel of each generation with a "window" holding free pages the way a hot-added ZONE_MOVABLE
window does at a crash (refcount 0, no mapping, no page type: per-CPU free lists, kept by dump level 16),
in-use pages, user pages and a buddy block; the census must count each exactly at each dump level.
"""

from __future__ import annotations

import json
from pathlib import Path

import kernel_fixture
import pytest

from conftest import run_dump
from layoutc.dump import dumper
from layoutc.dump import filter_spec as spec
from layoutc.dump.classify import windowloss

PS = 4096
PCP_FREE = range(0x2000, 0x201C)  # refcount 0, mapping 0, _mapcount -1
IN_USE = range(0x201C, 0x2020)  # the fixture's default struct page: refcount 1
WINDOW = [(0x2000 * PS, 0x2020 * PS), (0xB00 * PS, 0xC00 * PS), (0x400 * PS, 0x800 * PS)]  # + anon, buddy


def _kernel(generation: str) -> kernel_fixture.Kernel:
    kern = kernel_fixture.Kernel(generation)
    for pfn in PCP_FREE:
        kern.pages[pfn] = kernel_fixture.PageSpec(refcount=0)
    return kern


def _spec(tmp_path: Path, window: list[tuple[int, int]], level: int) -> Path:
    path = tmp_path / "spec.json"
    excl = [{"start": s, "end": e, "reason": "dump_window"} for s, e in window]
    path.write_text(json.dumps({"schema_version": 1, "dump_level": level, "exclude": excl}))
    return path


@pytest.mark.parametrize("generation", ["6.1", "6.12", "7.1"])
@pytest.mark.parametrize(
    ("level", "expected"),
    [
        # 31: user and buddy pages are excluded anyway; 28 free on "per-CPU lists", 4 in use
        (31, windowloss.WindowLoss(32, 28, 4, 0)),
        # 1: the buddy block (1024 pages, refcount 0) counts as free, the 256 anon pages as in use
        (1, windowloss.WindowLoss(32 + 256 + 1024, 28 + 1024, 4 + 256, 0)),
    ],
)
def test_census_counts_free_and_in_use(
    tmp_path: Path, generation: str, level: int, expected: windowloss.WindowLoss
) -> None:
    path = _kernel(generation).fixture().write(str(tmp_path / "vmcore"))
    opts = dumper.Options(path, str(tmp_path / "out"), spec.load(str(_spec(tmp_path, WINDOW, level))))
    result = dumper.run(opts)
    assert result.complete
    assert result.window == expected
    assert expected.note() in result.notes


def test_no_window_no_census(tmp_path: Path) -> None:
    path = _kernel("7.1").fixture().write(str(tmp_path / "vmcore"))
    result = dumper.run(dumper.Options(path, str(tmp_path / "out"), spec.load(str(_spec(tmp_path, [], 31)))))
    assert result.window is None
    assert not [n for n in result.notes if n.startswith("dump window")]


def test_cli_prints_the_census(tmp_path: Path) -> None:
    path = _kernel("7.1").fixture().write(str(tmp_path / "vmcore"))
    proc = run_dump("--spec", str(_spec(tmp_path, WINDOW, 31)), path, str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr.decode()
    assert (
        "layoutc dump: note: dump window: 32 pages the dump level keeps were overwritten by the dump: "
        "28 free (reference count 0, no mapping: per-CPU free lists; no data), 4 in use (lost)\n"
    ) in proc.stderr.decode()


def test_window_with_nothing_kept(tmp_path: Path) -> None:
    path = _kernel("6.1").fixture().write(str(tmp_path / "vmcore"))
    window = [(0xB00 * PS, 0xC00 * PS)]  # anon pages only: level 31 excludes them all
    result = dumper.run(dumper.Options(path, str(tmp_path / "out"), spec.load(str(_spec(tmp_path, window, 31)))))
    assert result.window == windowloss.WindowLoss(0, 0, 0, 0)
    assert "dump window: held no page the dump level keeps (nothing of the crashed kernel lost)" in result.notes


def test_unknown_without_refcount_offset(tmp_path: Path) -> None:
    fx = _kernel("6.1").fixture()
    assert fx.vmcoreinfo is not None
    fx.vmcoreinfo = fx.vmcoreinfo.replace("OFFSET(page._refcount)=52\n", "")
    path = fx.write(str(tmp_path / "vmcore"))
    result = dumper.run(dumper.Options(path, str(tmp_path / "out"), spec.load(str(_spec(tmp_path, WINDOW, 31)))))
    assert result.window == windowloss.WindowLoss(32, 0, 0, 32)
    assert result.window.note().endswith(
        "0 free (reference count 0, no mapping: per-CPU free lists; no data), 0 in use (lost), "
        "32 unknown (struct page unreadable or not described by VMCOREINFO)"
    )


def test_host_census_with_drgn_agrees(tmp_path: Path) -> None:
    """The lab's independent census (drgn reads the struct pages from a reference dump that keeps the window)
    counts what the dumper's census counts, and the lab parses the dumper's note back."""
    pytest.importorskip("drgn")
    from layoutc.lab.facts import dumpcheck, windowcensus

    path = _kernel("7.1").fixture().write(str(tmp_path / "vmcore"))
    ref, cap = tmp_path / "ref", tmp_path / "cap"
    assert dumper.run(dumper.Options(path, str(ref), spec.load(str(_spec(tmp_path, [], 31))))).complete
    result = dumper.run(dumper.Options(path, str(cap), spec.load(str(_spec(tmp_path, WINDOW, 31)))))
    lost = dumpcheck.only_in_first(ref, cap)
    assert sorted(lost) == [*PCP_FREE, *IN_USE]
    host = windowcensus.host_census(ref, lost)
    assert (host.pages, host.free, host.in_use, host.unread) == (32, 28, 4, 0)
    note = "\n".join(f"layoutc dump: note: {n}" for n in result.notes)
    assert windowcensus.dumper_census(f"noise\n{note}\nmore") == (32, 28, 4)
    assert windowcensus.dumper_census("layoutc dump: note: dump window: held no page the dump level keeps") == (0, 0, 0)
    assert windowcensus.dumper_census("nothing here") is None
