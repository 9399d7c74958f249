"""Real crash → dump → recovery cycles (marker ``lab``): ``--stage full`` on {6.1, 7.x} × qemu-4g and 7.x ×
qemu-4g-cma, qemu-4g-cma-disk (crash to a virtio disk) and chromebook-4g (hotplug), plus the negative control,
two VMs at a time.

The bundled profiles, compiled by the real compiler; the negative control is ``fixtures/profiles/qemu-4g-top``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from layoutc.lab.image.kernels import ensure_kernel
from layoutc.lab.report import Report
from layoutc.lab.run import LabOptions, run_lab

pytestmark = pytest.mark.lab

BUNDLED = Path(__file__).resolve().parents[2] / "profiles" / "qemu"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "profiles"
CASES = (
    ("6.1", "qemu-4g"),
    ("7", "qemu-4g"),
    ("7", "qemu-4g-cma"),
    ("7", "qemu-4g-cma-disk"),
    ("7", "qemu-4g-top"),
    ("7", "chromebook-4g"),
)
# Known failures in other components, pinned so a fix shows up (none now: the dumper's dump level on 7.2 was 17
# until it read 7.1+'s compound_info, commit 7fe2ca5).
KNOWN: dict[tuple[str, str], set[str]] = {}
NO_LOSS = "no page in use lost: dump = reference made before the window was written, but free pages"
CENSUS = "dumper's window census = the host's (drgn on the reference)"


@pytest.fixture(scope="session")
def cycles(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Report]:
    if shutil.which("qemu-system-x86_64") is None:
        pytest.fail("qemu-system-x86_64 missing: run sh scripts/bootstrap.sh --all (or pytest -m 'not lab')")
    for label in {k for k, _ in CASES}:
        ensure_kernel(label)
    out = tmp_path_factory.mktemp("cycle")

    def one(case: tuple[str, str]) -> Report:
        kernel, name = case
        dest = out / f"{name}-{kernel}"
        profile = {
            "qemu-4g-top": FIXTURES / "qemu-4g-top.yaml",
            "chromebook-4g": FIXTURES / "chromebook-4g-debian.yaml",  # Debian kernel sizes (see the file)
        }.get(name, BUNDLED / f"{name}.yaml")
        argv = [sys.executable, "-m", "layoutc.cli.main", "compile", str(profile), "-o", str(dest / "c")]
        subprocess.run(argv, check=True, capture_output=True, timeout=120)
        opts = LabOptions(timeout=500, profile=profile)
        return run_lab(dest / "c", kernel=kernel, stage="full", out_dir=dest, options=opts)

    with ThreadPoolExecutor(max_workers=2) as pool:  # each cycle is one VM at a time
        return dict(zip(CASES, pool.map(one, CASES), strict=True))


@pytest.mark.parametrize("case", CASES[:3], ids=[f"{n}-{k}" for k, n in CASES[:3]])
def test_full_cycle(cycles: dict[tuple[str, str], Report], case: tuple[str, str]) -> None:
    report = cycles[case]
    assert not report.problems, report.to_text()
    failed = {f.name for f in report.failures}
    assert failed <= KNOWN.get(case, set()), report.to_text()
    names = {f.name for f in report.facts}
    for needed in (
        "arm.sh production verdict",
        "/proc/vmcore present in the crash kernel",
        "/dev/pmem* covers exactly the window (recovery boot)",
        "dump verifies after the reboot (sha256 = SHA256SUMS)",
        "dump opens in drgn (init_uts_ns; excluded ranges absent)",
        "blocks returned to RAM",
        "upload fails: recover.sh exit 34, dump kept in the window and the store",
        "second recovery run is a no-op",
        NO_LOSS,
        CENSUS,
        "layoutc status (armed)",
        "layoutc status (recovery-start)",
        "layoutc status (recovered)",
    ):
        assert needed in names, report.to_text()


def test_negative_control(cycles: dict[tuple[str, str], Report]) -> None:
    report = cycles[("7", "qemu-4g-top")]
    facts = {f.name: f for f in report.facts}
    assert facts["arm.sh refuses the unsafe layout"].status == "pass", report.to_text()
    corrupt = facts["negative control: the window took pages in use that the dump level keeps"]
    assert corrupt.status == "pass", report.to_text()
    # the dumper exits 0 (capture cannot tell), but its census names the loss, and agrees with drgn
    assert facts[CENSUS].status == "pass", report.to_text()


# A hotplug window is ordinary movable RAM when the kernel crashes (all of ZONE_MOVABLE): the capture overwrites
# pages there that dump level 31 keeps (measured on 7.2: 124-1661 a run). drgn on the reference shows every one
# free: refcount 0, no mapping, _mapcount -1, lru linked: the per-CPU free lists, which makedumpfile's level 16
# (PageBuddy only) keeps too. Nothing in use is lost, and the dumper's own census says so.
def test_hotplug_cycle(cycles: dict[tuple[str, str], Report]) -> None:
    report = cycles[("7", "chromebook-4g")]
    assert not report.problems, report.to_text()
    assert not report.failures, report.to_text()
    facts = {f.name: f for f in report.facts}
    for needed in (NO_LOSS, CENSUS, "capture.sh (via capture-init.sh) exit",
                   "dump verifies after the reboot (sha256 = SHA256SUMS)"):  # fmt: skip
        assert facts[needed].status == "pass", report.to_text()


def test_disk_cycle(cycles: dict[tuple[str, str], Report]) -> None:
    """cma-disk: the crash kernel writes to a GPT partition found by its name; the next (production) boot stores
    and uploads it; the pmem, returned-blocks and recovery-boot facts do not apply and must not appear."""
    report = cycles[("7", "qemu-4g-cma-disk")]
    assert not report.problems, report.to_text()
    failed = {f.name for f in report.failures}
    assert failed <= KNOWN.get(("7", "qemu-4g-cma-disk"), set()), report.to_text()
    passed = {f.name for f in report.facts if f.status == "pass"}
    for needed in (
        "arm.sh production verdict",
        "crash reservation holds the real crash kernel and initramfs (sizing model)",
        "capture.sh (via capture-init.sh) exit",
        "/proc/vmcore excludes the crash CMA ranges",
        "upload fails: recover.sh exit 34, dump kept in the disk and the store",
        "recover.sh after the upload works",
        "second recovery run is a no-op",
        "dump complete (COMPLETE marker, no INCOMPLETE)",
        "dump verifies after the reboot (sha256 = SHA256SUMS)",
        "page classes excluded (kdump dump_level = filter spec)",
        "dump opens in drgn (init_uts_ns; excluded ranges absent)",
        "dump on the disk (host readback) equals the stored and uploaded one",
    ):
        assert needed in passed, report.to_text()
    assert any(name.startswith("no page in use lost") or name.startswith("dump equals the reference")
               for name in passed), report.to_text()  # fmt: skip
    names = " | ".join(f.name for f in report.facts)
    for absent in ("pmem", "blocks returned", "grubenv", "window census"):
        assert absent not in names, report.to_text()
