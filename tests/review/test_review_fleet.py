"""Fleet summary and the armed-overhead report."""

from __future__ import annotations

from layoutc.model.units import GiB, MiB
from layoutc.review.fleet import fleet_summary
from layoutc.review.overhead import armed_overhead, armed_overhead_of, render_lines

from ..conftest import assert_golden
from .helpers import GOLDEN, bundled_profiles, compiled, fixture


def test_fleet_summary_golden() -> None:
    docs = [compiled(p).doc for p in bundled_profiles()]
    text, markdown = fleet_summary(docs, warnings={"qemu-4g": ["LC313 example warning"]})
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["board", "arch", "RAM", "strategy"]
    assert len([line for line in lines[2:] if line and not line.startswith(str(len(docs)))]) == len(docs)
    assert "1: LC313 example warning" in text
    assert markdown.count("\n| ") == len(docs)  # header row first, then one row per board
    assert_golden(GOLDEN / "fleet-summary.txt", text)
    assert_golden(GOLDEN / "fleet-summary.md", markdown)


def test_armed_overhead_against_kdump_utils_default() -> None:
    report = armed_overhead(fixture("qemu-4g.json"))
    assert report.crash == 160 * MiB and report.total == 160 * MiB
    assert report.kdump_default.size == 256 * MiB and report.versus_default == -96 * MiB
    assert report.guard == 128 * MiB
    text = "\n".join(render_lines(report))
    assert "kdump-utils default       256 MiB" in text and "versus default            -96 MiB" in text


def test_armed_overhead_from_numbers_for_layout_txt() -> None:
    report = armed_overhead_of(board="b", arch="x86_64", ram=64 * GiB, crash=256 * MiB, low=0, cma=GiB,
                               guard=0, total=None)
    assert report.total == 256 * MiB and report.kdump_default.size == 512 * MiB
    assert report.cma_lent == GiB
    assert any("crash CMA (lent, free)" in line for line in render_lines(report))
