"""arm64 crash cycle (``cycle_arm64``): its facts and QEMU's own tree with the compiled edit; real cycles in the
lab tier. CI runs ONE full arm64 cycle (``lab``: 7.x, arm64-chromebook-4g); the rest is ``lab_more``."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from layoutc.devicetree.edit import apply, edit_from_json
from layoutc.devicetree.fdt import parse
from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.frontend.load import load_profile
from layoutc.lab.boot import machine as board
from layoutc.lab.boot import qemu
from layoutc.lab.boot.serial import GuestOutput
from layoutc.lab.cycle_arm64 import Arm64Cycle, lab_added_modules, recovery_dtb
from layoutc.lab.errors import LabError
from layoutc.lab.facts import arm64_cycle_facts as facts64
from layoutc.lab.facts.cycle_facts import CycleOptions
from layoutc.lab.image import kernels
from layoutc.lab.layout_dir import load_layout
from layoutc.lab.run import LabOptions, run_lab
from layoutc.model.layout import Layout
from layoutc.solve import solve

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "lab" / "fixtures"
RUNNING_FDT = ROOT / "tests" / "captures" / "qemu-arm64-virt-4G" / "fdt.dtb"  # a 7.2 guest's /sys/firmware/fdt
GiB = 1 << 30


def _edit(layout: Layout) -> dict[str, Any]:
    w = layout.dump_window
    assert w is not None
    region = {"base": hex(w.start), "size": hex(w.size), "numa_node_id": w.node, "volatile": True}
    return {"schema_version": 1, "pmem_regions": [region], "remove_seeds": True}


def _out(files: dict[str, bytes], console: str = "") -> GuestOutput:
    return GuestOutput("7.2", True, files, frozenset(), (), (), console)


def test_crash_dtb_fact_reads_back_the_tree_arm_sh_built() -> None:
    layout = load_layout(FIXTURES / "arm64-4g")
    edit = _edit(layout)
    built = apply(RUNNING_FDT.read_bytes(), edit_from_json(edit))
    [fact] = facts64.crash_dtb_facts(layout, _out({"crash-dtb": built}), edit)
    assert (fact.status, fact.observed) == ("pass", "pmem@128000000 reg [0x128000000, 0x138000000) numa-node-id 0; "
                                            "seeds none"), fact  # fmt: skip
    [raw] = facts64.crash_dtb_facts(layout, _out({"crash-dtb": RUNNING_FDT.read_bytes()}), edit)
    assert raw.status == "fail" and raw.observed.startswith("no /pmem@128000000; seeds "), raw  # the running tree
    other = {**edit, "pmem_regions": [{**edit["pmem_regions"][0], "numa_node_id": 1}]}
    [wrong] = facts64.crash_dtb_facts(layout, _out({"crash-dtb": apply(RUNNING_FDT.read_bytes(),
                                                                          edit_from_json(other))}), edit)  # fmt: skip
    assert wrong.status == "fail" and "numa-node-id 1" in wrong.observed, wrong
    [missing] = facts64.crash_dtb_facts(layout, _out({}), edit)
    assert (missing.status, missing.observed) == ("fail", "no /run/layoutc/crash.dtb")


def test_capture_exit_is_44_when_the_board_selects_through_efi() -> None:
    console = "[   12.2] layoutc: capture.sh exited 44; rebooting\n"
    assert facts64.capture_exit_fact(console, "efi").status == "pass"
    assert facts64.capture_exit_fact(console, "grubenv").status == "fail"
    assert facts64.capture_exit_fact(console.replace("44", "0"), "grubenv").status == "pass"
    assert facts64.capture_exit_fact("", "efi").observed == "None"


def test_memtotal_grows_by_the_returned_blocks() -> None:
    layout = load_layout(FIXTURES / "arm64-4g")
    w = layout.dump_window
    assert w is not None
    grown = 3418688 + w.devdax.blocks_returned * 131072
    out = _out({"meminfo": b"MemTotal:        3418688 kB\n", "meminfo-recovered": f"MemTotal: {grown} kB\n".encode()})
    fact = facts64.memtotal_fact(layout, out, 128 << 20)
    assert fact is not None and fact.status == "pass", fact
    same = _out({"meminfo": b"MemTotal: 3418688 kB\n", "meminfo-recovered": b"MemTotal: 3418688 kB\n"})
    fact = facts64.memtotal_fact(layout, same, 128 << 20)
    assert fact is not None and (fact.status, fact.observed) == ("fail", "+0 kB (3418688 -> 3418688 kB)")


def test_give_back_facts_want_the_kmem_blocks_online_movable() -> None:
    layout = load_layout(FIXTURES / "arm64-4g")  # window [0x128000000, 0x138000000): devdax's metadata first, so
    boot = b"36 online 0 Movable\n"  # kmem returns the one whole block above it, 38
    obs = ({"kind": "recover", "run": 1, "rc": 0, "loaded": "1"},)
    files = {"blocks-recovery-0": boot, "blocks-recovery-1": boot + b"38 online 0 Movable\n",
             "meminfo": b"MemTotal: 1000 kB\n", "meminfo-recovered": f"MemTotal: {1000 + 131072} kB\n".encode()}
    out = GuestOutput("7.2", True, files, frozenset(), obs, (), "")
    assert [f.status for f in facts64.give_back_facts(layout, out, 128 << 20)] == ["pass", "pass", "pass"]
    normal = {**files, "blocks-recovery-1": boot + b"37 online 0 Normal\n38 online 0 Normal\n"}
    facts = facts64.give_back_facts(layout, GuestOutput("7.2", True, normal, frozenset(), obs, (), ""), 128 << 20)
    assert (facts[1].status, facts[1].observed) == ("fail", "37, 38 Normal")
    refused = ({"kind": "recover", "run": 1, "rc": 35, "loaded": "0"},)
    facts = facts64.give_back_facts(layout, GuestOutput("7.2", True, files, frozenset(), refused, (), ""), 128 << 20)
    assert (facts[0].status, facts[0].observed) == ("fail", "exit 35, loaded 0")


def test_the_lab_adds_file_systems_this_kernel_builds_as_modules(tmp_path: Path) -> None:
    layout = load_layout(FIXTURES / "arm64-4g")  # a hand-written layout without module lists
    config = tmp_path / "config"
    config.write_text("CONFIG_EXT4_FS=m\nCONFIG_OF_PMEM=m\n")
    assert lab_added_modules(layout, config) == ("ext4",)
    fact = facts64.modules_fact(layout, config, ("ext4",))
    assert (fact.status, fact.predicted, fact.observed) == ("fail", "none", "ext4 (CONFIG_EXT4_FS=m)"), fact
    config.write_text("CONFIG_EXT4_FS=y\n")
    assert lab_added_modules(layout, config) == ()
    listed = dataclasses.replace(layout, boot_modules=dataclasses.replace(layout.boot_modules, crash=("ext4",)))
    config.write_text("CONFIG_EXT4_FS=m\n")
    assert lab_added_modules(listed, config) == ()


@pytest.mark.parametrize("config", ["debian-6.1.0-57-arm64.config", "debian-7.2.13-arm64.config"])
def test_a_bundled_arm64_layout_lacks_no_module_the_debian_kernel_builds_as_a_module(config: str) -> None:
    """The assumed arm64 configuration builds ext4 =m as Debian's arm64 kernels do, so the compiled lists load it
    and the lab adds nothing: the fact passes."""
    diags = Diagnostics()
    profile = load_profile(ROOT / "profiles" / "arm64" / "chromebook-4g.yaml", "profiles/arm64/chromebook-4g.yaml",
                           diags)  # fmt: skip
    assert profile is not None, [d.message for d in diags.items]
    layout = solve(profile, diags)
    assert layout is not None, [d.message for d in diags.items]
    assert "ext4" in layout.boot_modules.crash and "ext4" in layout.boot_modules.recovery
    kconfig = ROOT / "tests" / "captures" / "kconfig" / config
    added = lab_added_modules(layout, kconfig)
    assert added == ()
    fact = facts64.modules_fact(layout, kconfig, added)
    assert (fact.status, fact.observed) == ("pass", "none"), fact


def test_recovery_dtb_is_qemus_own_tree_with_the_edit(tmp_path: Path) -> None:
    """What a boot loader would pass: ``-machine virt,dumpdtb=`` for the same -m, then layoutc's edit; QEMU's
    seeds go, its memory node stays whole (QEMU rewrites it from -m at the recovery boot anyway)."""
    if shutil.which(qemu.ARM64_QEMU) is None:
        pytest.fail("qemu-system-aarch64 missing: run sh scripts/bootstrap.sh --all")
    layout = load_layout(FIXTURES / "arm64-4g")
    m = board.machine_for(layout, budget=12 * GiB)
    kernel = tmp_path / "Image"
    kernel.write_bytes(bytes(4096))  # QEMU loads a raw image; dumpdtb exits before it runs
    boot = qemu.QemuBoot(kernel, kernel, "console=ttyAMA0 mem=3584M", m, tmp_path / "s.log", ram_path=tmp_path / "r")
    tree = parse(recovery_dtb(boot, _edit(layout), tmp_path).read_bytes())
    chosen = tree.find("/chosen")
    assert chosen is not None and not chosen.has("kaslr-seed") and not chosen.has("rng-seed")
    assert tree.reg("/pmem@128000000") == ((0x128000000, 0x10000000),)
    assert tree.reg("/memory@40000000") == ((0x40000000, 4 * GiB),)
    with pytest.raises(LabError) as refused:
        recovery_dtb(boot, {**_edit(layout), "schema_version": 2}, tmp_path)
    assert refused.value.code == "invalid-layout" and "does not apply to QEMU's tree" in str(refused.value)


def _cycle(profile: str, kernel: str, stage: str, tmp: Path) -> tuple[str, dict[str, Any]]:
    if shutil.which(qemu.ARM64_QEMU) is None:
        pytest.fail("qemu-system-aarch64 missing: run sh scripts/bootstrap.sh --all (or pytest -m 'not lab')")
    source = ROOT / "profiles" / "arm64" / f"{profile}.yaml"
    argv = [sys.executable, "-m", "layoutc.cli.main", "compile", str(source), "-o", str(tmp / "c")]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    report = run_lab(tmp / "c", kernel=kernel, stage=stage, out_dir=tmp / "o", options=LabOptions(profile=source))
    facts = {f.name: f for f in report.facts}
    return (tmp / "o" / "report.txt").read_text(), {"report": report, "facts": facts}


ARMED = ("crash kernel DTB: pmem-region = the window, numa-node-id, no seeds", "arm.sh production verdict",
         "kexec_crash_loaded", "layoutc status (armed)")  # fmt: skip
CRASHED = ("/proc/vmcore present in the crash kernel", "crash kernel: the DT pmem-region is a pmem device (of_pmem)",
           "/dev/pmem* covers exactly the window (recovery boot)")  # fmt: skip


GIVE_BACK = ("recover.sh, empty window: released and re-armed (arm.sh recovery)",
             "blocks returned to RAM (System RAM (kmem), Movable)",
             "MemTotal grew by the returned blocks (System RAM (kmem))")  # fmt: skip


def _give_back(tmp: Path, profile: str = "chromebook-4g") -> dict[str, Any]:
    layout = load_layout(tmp / "c")
    opts = CycleOptions(profile=ROOT / "profiles" / "arm64" / f"{profile}.yaml")
    cycle = Arm64Cycle.prepare(tmp / "c", layout, kernels.ensure_kernel("7", arch="arm64"), board.machine_for(layout),
                               tmp / "g", opts, stage="full")  # fmt: skip
    assert isinstance(cycle, Arm64Cycle)
    return {f.name: f for f in cycle.give_back().facts}


@pytest.mark.lab
def test_arm64_full_cycle_7(tmp_path: Path) -> None:
    """The CI arm64 cycle: 7.x, arm64-chromebook-4g, panic → crash kernel → capture into /dev/pmem0 → recovery
    boot with mem= and QEMU's tree plus the edit → recover.sh → the window back as System RAM; and the hand-back
    alone (``Arm64Cycle.give_back``), which needs no dump."""
    text, got = _cycle("chromebook-4g", "7", "full", tmp_path)
    facts = got["facts"]
    for name in (*ARMED, *CRASHED):
        assert facts[name].status == "pass", text
    given = _give_back(tmp_path)  # the hand-back alone: a recovery boot over an empty window
    for name in GIVE_BACK:
        assert given[name].status == "pass", given
    assert got["report"].verdict == "pass", text  # the dumper reads the arm64 /proc/vmcore (7.2: 52-bit VA, LPA2)
    for name in ("dump complete (COMPLETE marker, no INCOMPLETE)", "blocks returned to RAM",
                 "MemTotal grew by the returned blocks (System RAM (kmem))",
                 "dump opens in drgn (init_uts_ns; excluded ranges absent)"):  # fmt: skip
        assert facts[name].status == "pass", text


@pytest.mark.lab
@pytest.mark.lab_more
@pytest.mark.parametrize("profile", ["chromebook-8g", "server-8g-2node"])
def test_arm64_arm_stage_7(profile: str, tmp_path: Path) -> None:
    """arm on the other bundled arm64 window boards (the 2-node server's window is on node 1)."""
    text, got = _cycle(profile, "7", "arm", tmp_path)
    if got["report"].verdict == "cannot-emulate":
        pytest.skip(text)
    for name in ARMED:
        assert got["facts"][name].status == "pass", text


@pytest.mark.lab
@pytest.mark.lab_more
@pytest.mark.parametrize("profile", ["chromebook-8g", "server-8g-2node"])
def test_arm64_give_back_7(profile: str, tmp_path: Path) -> None:
    """The hand-back on the other bundled window boards (the 2-node server's window and its kmem blocks on node
    1: the pmem-region's numa-node-id is what kmem needs)."""
    text, got = _cycle(profile, "7", "arm", tmp_path)
    if got["report"].verdict == "cannot-emulate":
        pytest.skip(text)
    given = _give_back(tmp_path, profile)
    for name in GIVE_BACK:
        assert given[name].status == "pass", given


@pytest.mark.lab
@pytest.mark.lab_more
def test_arm64_61_arm_refused(tmp_path: Path) -> None:
    """Debian 6.1 arm64 (no _text in /proc/kallsyms: kexec-tools would write a broken core header, LC250): the
    generated arm.sh refuses and loads nothing."""
    text, got = _cycle("chromebook-4g", "6.1", "arm", tmp_path)
    verdict, loaded = got["facts"]["arm.sh production verdict"], got["facts"]["kexec_crash_loaded"]
    assert verdict.status == "fail" and verdict.observed != "exit 0" and loaded.observed == "0", text


WORKERS = "dumper workers = the crash kernel's CPUs (nr_cpus=; capture.sh online_cpus)"


@pytest.mark.lab
@pytest.mark.lab_more
@pytest.mark.parametrize("panic_cpu", [0, 1])
def test_arm64_crash_kernel_with_two_cpus_7(panic_cpu: int, tmp_path: Path) -> None:
    """tests/lab/fixtures/profiles/arm64-chromebook-4g-2cpu.yaml (``crash.cpus: 2``): the guest runs with -smp 2,
    the crash kernel (nr_cpus=2) brings both CPUs up through PSCI whichever CPU panicked (arm64 boots on the CPU
    it starts on and makes it logical CPU 0: arch/arm64/kernel/setup.c smp_setup_processor_id(); there is no
    boot CPU to keep down as on x86), and capture.sh hands the dumper two workers, which write the dump into the
    pmem window; the cycle's facts hold as on one CPU."""
    if shutil.which(qemu.ARM64_QEMU) is None:
        pytest.fail("qemu-system-aarch64 missing: run sh scripts/bootstrap.sh --all (or pytest -m 'not lab')")
    source = FIXTURES / "profiles" / "arm64-chromebook-4g-2cpu.yaml"
    argv = [sys.executable, "-m", "layoutc.cli.main", "compile", str(source), "-o", str(tmp_path / "c")]
    assert subprocess.run(argv, capture_output=True, timeout=120, check=False, cwd=ROOT).returncode == 0
    report = run_lab(tmp_path / "c", kernel="7", stage="full", out_dir=tmp_path / "o",
                     options=LabOptions(profile=source, panic_cpu=panic_cpu))  # fmt: skip
    text = (tmp_path / "o" / "report.txt").read_text()
    workers = {f.name: f for f in report.facts}[WORKERS]
    assert (workers.status, workers.observed) == ("pass", "2"), text
    log = (tmp_path / "o" / "serial-production.log").read_bytes()
    assert f"CPU: {panic_cpu} UID".encode() in log.split(b"sysrq triggered crash", 1)[1], text  # where it panicked
    crash = log.split(b"nr_cpus=2", 1)[0].rsplit(b"Booting Linux on physical CPU", 1)[1]
    assert crash.startswith(f" 0x{panic_cpu:010x}".encode()), text  # the crash kernel starts there
    assert b"smp: Brought up 1 node, 2 CPUs" in log.split(b"nr_cpus=2", 1)[1], text
    assert report.verdict == "pass", text


@pytest.mark.lab
def test_the_lab_refuses_a_panic_cpu_the_guest_does_not_have(tmp_path: Path) -> None:
    source = FIXTURES / "profiles" / "arm64-chromebook-4g-2cpu.yaml"
    argv = [sys.executable, "-m", "layoutc.cli.main", "compile", str(source), "-o", str(tmp_path / "c")]
    assert subprocess.run(argv, capture_output=True, timeout=120, check=False, cwd=ROOT).returncode == 0
    with pytest.raises(LabError) as refused:
        run_lab(tmp_path / "c", kernel="7", stage="full", out_dir=tmp_path / "o",
                options=LabOptions(profile=source, panic_cpu=2))  # fmt: skip
    assert refused.value.code == "usage"
    assert str(refused.value).endswith("panic CPU 2: the guest has 2 CPU(s) (crash.cpus), numbered from 0")
