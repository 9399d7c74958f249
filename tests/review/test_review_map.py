"""map: terminal text and SVG goldens; the SVG checked in a real headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from html import unescape
from pathlib import Path

import pytest

from layoutc.review.mapsvg import map_svg, side_by_side_svg
from layoutc.review.maptext import map_text
from layoutc.review.verbs import main_review

from ..conftest import assert_golden
from .helpers import GOLDEN, board_of, bundled_profiles, compiled, fixture

PROFILES = bundled_profiles()
SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("relpath", PROFILES)
def test_map_text_golden(relpath: str) -> None:
    assert_golden(GOLDEN / board_of(relpath) / "map.txt", map_text(compiled(relpath).doc))


@pytest.mark.parametrize("relpath", PROFILES)
def test_map_svg_golden_and_shape(relpath: str) -> None:
    doc = compiled(relpath).doc
    svg = map_svg(doc)
    assert svg == map_svg(doc), "not deterministic"
    root = ET.fromstring(svg)
    drawn = [r.get("data-name", "") for r in root.iter(f"{SVG}rect") if r.get("class") == "region"]
    assert sorted(drawn) == sorted(r["name"] for r in doc["regions"])
    labels = " ".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))
    for region in doc["regions"]:
        assert f"{region['start']:#x}-{region['end']:#x}" in labels
    assert_golden(GOLDEN / board_of(relpath) / "map.svg", svg)


def test_holes_are_broken_not_to_scale() -> None:
    text = map_text(fixture("qemu-4g.json"))
    assert re.search(r"0x140000000\s+0x10000000000\s+1019 GiB\s+hole .*not to scale", text)
    svg = map_svg(fixture("qemu-4g.json"))
    assert 'class="break"' in svg and "hole 1019 GiB (not to scale)" in svg


def test_cli_map(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "map.svg"
    assert main_review("map", ["profiles/qemu/qemu-4g.yaml", "--svg", str(out)]) == 0
    assert capsys.readouterr().out.startswith("qemu-4g: x86_64")
    assert out.read_text() == map_svg(compiled("profiles/qemu/qemu-4g.yaml").doc)
    assert main_review("map", ["profiles/qemu/qemu-4g.yaml", "--format", "svg"]) == 0
    assert capsys.readouterr().out.startswith("<svg")


CHECK_JS = r"""
<script>
const report = [];
for (const box of document.querySelectorAll('div.case')) {
  const root = box.querySelector('svg');
  const texts = [...root.querySelectorAll('text')];
  const rects = texts.map(t => t.getBoundingClientRect());
  const overlaps = [];
  for (let i = 0; i < texts.length; i++) {
    const bb = texts[i].getBBox();
    if (!(bb.width > 0 && bb.height > 0)) overlaps.push('empty text: ' + texts[i].textContent);
    for (let j = i + 1; j < texts.length; j++) {
      const a = rects[i], b = rects[j];
      const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (w > 0.5 && h > 0.5) overlaps.push(texts[i].textContent + ' / ' + texts[j].textContent);
    }
  }
  const regions = [...root.querySelectorAll('rect.region')].map(r => {
    const b = r.getBoundingClientRect();
    return {name: r.getAttribute('data-name'), w: b.width, h: b.height};
  });
  const outer = root.getBoundingClientRect();
  const outside = texts.filter(t => {
    const b = t.getBoundingClientRect();
    return b.left < outer.left - 0.5 || b.right > outer.right + 0.5 || b.bottom > outer.bottom + 0.5;
  }).map(t => t.textContent);
  report.push({name: box.dataset.name, texts: texts.length, overlaps, regions, outside});
}
document.getElementById('result').textContent = JSON.stringify(report);
</script>
"""


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _browser_report(cases: list[tuple[str, str]], tmp_path: Path) -> list[dict[str, object]]:
    """Render each (name, svg) in headless Chromium and return the page's JS report."""
    browser = _chromium()
    if browser is None:
        message = "chromium is not installed (requirements/apt-test.txt: sh scripts/bootstrap.sh --all)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    body = "\n".join(f'<div class="case" data-name="{name}">{svg}</div>' for name, svg in cases)
    page = tmp_path / "maps.html"
    page.write_text(f'<!doctype html><html><head><meta charset="utf-8"></head><body>{body}'
                    f'<pre id="result"></pre>{CHECK_JS}</body></html>')
    with tempfile.TemporaryDirectory(prefix="layoutc-chromium-") as profile_dir:
        done = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile_dir}", "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=120, check=False)
    match = re.search(r'<pre id="result">(.*?)</pre>', done.stdout, re.S)
    assert match and match.group(1), f"no result from chromium (rc {done.returncode}): {done.stderr[-2000:]}"
    report: list[dict[str, object]] = json.loads(unescape(match.group(1)))
    assert [r["name"] for r in report] == [c[0] for c in cases]
    return report


def test_svg_in_headless_chromium(tmp_path: Path) -> None:
    """Every bundled map and a side-by-side diff render in a real browser: every region is drawn,
    no two texts overlap, no text leaves the picture."""
    cases: list[tuple[str, str]] = []
    expected: list[list[str]] = []
    for relpath in PROFILES:
        doc = compiled(relpath).doc
        cases.append((board_of(relpath), map_svg(doc)))
        expected.append([r["name"] for r in doc["regions"]])
    old, new = compiled("profiles/qemu/qemu-4g.yaml").doc, compiled("profiles/qemu/qemu-4g-cma.yaml").doc
    cases.append(("side-by-side", side_by_side_svg(old, new)))
    expected.append([r["name"] for r in old["regions"]] + [r["name"] for r in new["regions"]])
    report = _browser_report(cases, tmp_path)
    for entry, regions in zip(report, expected, strict=True):
        assert isinstance(entry["texts"], int) and entry["texts"] > 5
        assert entry["overlaps"] == [], (entry["name"], entry["overlaps"])
        assert entry["outside"] == [], (entry["name"], entry["outside"])
        drawn = entry["regions"]
        assert isinstance(drawn, list)
        assert sorted(r["name"] for r in drawn) == sorted(regions)
        for region in drawn:
            assert region["w"] > 0 and region["h"] > 0, (entry["name"], region)


def test_browser_check_catches_overlap(tmp_path: Path) -> None:
    """The check itself works: two texts on top of each other and a zero-height region are reported."""
    bad = ('<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100" font-size="10">'
           '<text x="10" y="20">crashkernel 160 MiB</text><text x="14" y="22">dump_window</text>'
           '<rect class="region" data-name="flat" x="0" y="50" width="20" height="0"/></svg>')
    (entry,) = _browser_report([("bad", bad)], tmp_path)
    assert entry["overlaps"] == ["crashkernel 160 MiB / dump_window"]
    assert entry["regions"] == [{"name": "flat", "w": 20, "h": 0}]


def test_side_by_side_marks_changed_regions() -> None:
    svg = side_by_side_svg(fixture("qemu-4g.json"), fixture("qemu-4g-rev2.json"), old_label="main", new_label="pr")
    assert "crashkernel 160 MiB (changed)" in svg and "crashkernel 256 MiB (changed)" in svg
    assert "dump_window 258 MiB (changed)" in svg
    assert "kernel_image 48 MiB (changed)" not in svg and "kernel_image 48 MiB" in svg
    assert svg.count('stroke-dasharray="4 2"') == 4  # two changed regions on each side
    assert_golden(GOLDEN / "diff-fixture-rev.svg", svg)
