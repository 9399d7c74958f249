"""A small machine's crash CMA next to the loader's initrd (marker ``lab``): profiles/qemu/qemu-2g-cma.yaml.

On a 2 GiB QEMU ``-machine pc`` guest every byte of RAM lies below 4 GiB, so QEMU's direct boot puts the
initrd at the top of the only RAM range, and Debian's 7.2 kernel places the ``crashkernel=,cma`` area
below it (the initrd stays memblock-reserved until it is unpacked: layoutc.kernel.bootloader). The boot
stage compares the layout's crash CMA range and initrd region with what the kernel reports, exactly.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from layoutc.lab.facts.boot_facts import hexr
from layoutc.lab.image.kernels import ensure_kernel
from layoutc.lab.layout_dir import load_layout
from layoutc.lab.report import Report
from layoutc.lab.run import LabOptions, run_lab
from layoutc.model.layout import Layout, RegionKind

pytestmark = pytest.mark.lab

PROFILE = Path(__file__).resolve().parents[2] / "profiles" / "qemu" / "qemu-2g-cma.yaml"


@pytest.fixture(scope="module")
def booted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Layout, Report]:
    if shutil.which("qemu-system-x86_64") is None:
        pytest.fail("qemu-system-x86_64 missing: run sh scripts/bootstrap.sh --all (or pytest -m 'not lab')")
    out = tmp_path_factory.mktemp("small-cma")
    argv = [sys.executable, "-m", "layoutc.cli.main", "compile", str(PROFILE), "-o", str(out / "c")]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    report = run_lab(out / "c", kernel=ensure_kernel("7"), out_dir=out / "run",
                     options=LabOptions(accel="tcg", timeout=240.0, jobs=1))
    return load_layout(out / "c"), report


def _fact(report: Report, name: str) -> tuple[str, str, str]:
    fact = next((f for f in report.facts if f.name == name), None)
    assert fact is not None, report.to_text()
    return fact.status, fact.predicted, fact.observed


def test_the_boot_passes(booted: tuple[Layout, Report]) -> None:
    _, report = booted
    assert report.verdict == "pass", report.to_text()


def test_crash_cma_lies_below_the_initrd_as_predicted(booted: tuple[Layout, Report]) -> None:
    layout, report = booted
    cma = sorted((r.start, r.end) for r in layout.regions_of(RegionKind.CRASH_CMA))
    initrd = [(r.start, r.end) for r in layout.regions_of(RegionKind.INITRD)]
    assert len(cma) == 1 and len(initrd) == 1 and cma[0][1] <= initrd[0][0]
    predicted = hexr(*cma[0])
    assert _fact(report, "crash CMA ranges") == ("pass", predicted, predicted), report.to_text()
    assert _fact(report, "crash CMA size") == ("pass", "256 MB in 1 ranges", "256 MB in 1 ranges")


def test_the_initrd_lies_where_the_direct_model_puts_it(booted: tuple[Layout, Report]) -> None:
    layout, report = booted
    (initrd,) = [(r.start, r.end) for r in layout.regions_of(RegionKind.INITRD)]
    predicted = hexr(*initrd)
    assert _fact(report, "initrd placement (direct)") == ("pass", predicted, predicted), report.to_text()
