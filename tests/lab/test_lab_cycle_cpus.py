"""A crash kernel with two CPUs (marker ``lab``): tests/lab/fixtures/profiles/qemu-4g-2cpu.yaml, ``crash.cpus: 2``.

The guest runs with ``-smp 2`` (:attr:`layoutc.lab.boot.qemu.QemuBoot.cpus`), the crash cmdline says
``nr_cpus=2``, the panic runs on the boot CPU (50-panic.sh: an x86 crash kernel started on another CPU keeps
the real boot CPU down), and capture.sh hands the dumper the CPUs that came up: two workers, which write
their payloads into the dump window themselves. The cycle's facts check the dump as in every other cycle.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from layoutc.lab.image.kernels import ensure_kernel
from layoutc.lab.report import Report
from layoutc.lab.run import LabOptions, run_lab
from layoutc.lab.verb import compile_profile

pytestmark = pytest.mark.lab

PROFILE = Path(__file__).resolve().parent / "fixtures" / "profiles" / "qemu-4g-2cpu.yaml"
WORKERS = "dumper workers = the crash kernel's CPUs (nr_cpus=; capture.sh online_cpus)"


@pytest.fixture(scope="module")
def cycle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, Path]:
    if shutil.which("qemu-system-x86_64") is None:
        pytest.fail("qemu-system-x86_64 missing: run sh scripts/bootstrap.sh --all (or pytest -m 'not lab')")
    out = tmp_path_factory.mktemp("two-cpus")
    assert compile_profile(PROFILE, out / "c") == 0
    report = run_lab(out / "c", kernel=ensure_kernel("7"), stage="full", out_dir=out / "run",
                     options=LabOptions(timeout=500, profile=PROFILE))  # fmt: skip
    return report, out / "run"


def test_the_crash_kernel_brings_up_both_cpus_and_the_dumper_uses_them(cycle: tuple[Report, Path]) -> None:
    report, run = cycle
    assert not report.problems, report.to_text()
    facts = {f.name: f for f in report.facts}
    assert (facts[WORKERS].status, facts[WORKERS].observed) == ("pass", "2"), report.to_text()
    crash_log = (run / "serial-production.log").read_bytes().split(b"nr_cpus=2", 1)[1]
    assert b"smp: Brought up 1 node, 2 CPUs" in crash_log


def test_every_fact_of_the_two_cpu_cycle_holds(cycle: tuple[Report, Path]) -> None:
    report, _ = cycle
    assert [f.name for f in report.facts if f.status == "fail"] == [], report.to_text()
