"""arm64 boot stage: the QEMU virt machine for a board, its argv, the arm64 facts; real boots in the lab tier.

CI boots one arm64 layout (``lab``: 7.x, arm64-4g); every other arm64 run is ``lab_more`` (deselected by
default: ``pytest -m lab_more tests/lab``)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from layoutc.lab.boot import machine as board
from layoutc.lab.boot import qemu
from layoutc.lab.boot.serial import GuestOutput
from layoutc.lab.facts import arm64_facts
from layoutc.lab.layout_dir import load_layout, parse_layout
from layoutc.lab.run import LabOptions, run_lab

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PROFILES = Path(__file__).resolve().parents[2] / "profiles" / "arm64"
GiB = 1 << 30


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name / "layout.json").read_text())
    return data


def test_virt_machine_for_a_4g_board() -> None:
    m = board.machine_for(load_layout(FIXTURES / "arm64-4g"), budget=12 * GiB)
    assert (m.type, m.ram, m.node_sizes, m.memmap, m.unfaithful) == ("virt", 4 * GiB, (), (), ())
    boot = qemu.QemuBoot(Path("Image"), Path("initrd"), "console=ttyAMA0", m, Path("serial.log"))
    argv = qemu.qemu_argv(boot)
    assert argv[:10] == ["qemu-system-aarch64", "-machine", "virt", "-accel", "tcg", "-cpu", "max,pauth-impdef=on",
                         "-smp", "1", "-m"]  # fmt: skip
    assert argv[10] == "4096M" and "-numa" not in argv and "-dtb" not in argv
    assert argv[-6:] == ["-kernel", "Image", "-initrd", "initrd", "-append", "console=ttyAMA0"]
    kvm = qemu.qemu_argv(qemu.QemuBoot(Path("I"), Path("i"), "", m, Path("s"), accel="kvm", dtb=Path("x.dtb")))
    assert "max,pauth-impdef=on" in kvm and kvm[-2:] == ["-dtb", "x.dtb"]  # arm64 guests always run under TCG


def test_virt_machine_numa_nodes_in_address_order() -> None:
    m = board.machine_for(load_layout(FIXTURES / "arm64-8g-numa2"), budget=12 * GiB)
    assert (m.ram, m.node_sizes, m.unfaithful) == (8 * GiB, (4 * GiB, 4 * GiB), ())
    argv = qemu.qemu_argv(qemu.QemuBoot(Path("I"), Path("i"), "", m, Path("s")))
    assert argv[argv.index("-object") + 1] == f"memory-backend-ram,id=ram0,size={4 * GiB}"
    assert "node,nodeid=1,memdev=ram1" in argv and "cpu,node-id=0,socket-id=0" in argv


def test_arm64_boards_that_cannot_be_emulated_say_why() -> None:
    data = fixture("arm64-4g")
    data["memory"]["map"] = [{"start": 0x80000000, "end": 0x280000000, "type": "ram", "node": 0}]  # arm64-8g
    assert board.machine_for(parse_layout(data), budget=12 * GiB).unfaithful == (
        "RAM starts at 0x80000000: QEMU virt's RAM starts at 0x40000000 and arm64 has no memmap= to move it, "
        "so this board cannot be emulated",
    )
    data["memory"]["map"] = [
        {"start": 0x40000000, "end": 0x80000000, "type": "ram", "node": 0},
        {"start": 0xC0000000, "end": 0x100000000, "type": "ram", "node": 0},
    ]
    assert board.machine_for(parse_layout(data), budget=12 * GiB).unfaithful == (
        "RAM has holes ([0x80000000, 0xc0000000)): QEMU virt's RAM is one range and arm64 has no memmap= to carve it",
    )
    data["memory"]["map"] = [{"start": 0x40000000, "end": 0x1040000000, "type": "ram", "node": 0}]
    assert "GiB of guest RAM" in board.machine_for(parse_layout(data), budget=12 * GiB).unfaithful[0]


def _out(offline: dict[int, str], dmesg: str = "") -> GuestOutput:
    zoneinfo = (FIXTURES / "arm64-zoneinfo-movable.txt").read_bytes()
    obs = tuple({"kind": "offline", "block": b, "offline": r, "valid_zones": "Movable"} for b, r in offline.items())
    return GuestOutput("7.2", True, {"zoneinfo": zoneinfo, "dmesg": dmesg.encode()}, frozenset(), obs, (), "")


def test_window_blocks_must_refuse_offline_on_arm64() -> None:
    layout = load_layout(FIXTURES / "arm64-4g")
    facts = arm64_facts.offline_facts(layout, _out({37: "EPERM", 38: "EBUSY"}))
    assert [(f.name, f.status, f.observed) for f in facts] == [
        ("window inside ZONE_MOVABLE", "pass", "node 0: [0x120000000, 0x140000000)"),
        ("window block 37 offline refused", "pass", "offline EPERM"),
        ("window block 38 offline refused", "pass", "offline EBUSY"),
    ]
    facts = arm64_facts.offline_facts(layout, _out({37: "ok"}))
    assert [(f.status, f.observed) for f in facts[1:]] == [("fail", "offline ok"), ("fail", "not tested")]


def test_default_reservations_from_dmesg() -> None:
    layout = load_layout(FIXTURES / "arm64-4g")
    dmesg = (
        "[    0.000000] cma: Reserved 64 MiB at 0x00000000fc000000 on node -1\n"
        "[    0.000000] software IO TLB: mapped [mem 0x00000000e8000000-0x00000000ec000000] (64MB)\n"
    )
    facts = arm64_facts.reservation_facts(layout, _out({}, dmesg))
    assert [(f.name, f.status, f.observed) for f in facts] == [
        ("default swiotlb", "pass", "[0xe8000000, 0xec000000)"),
        ("default cma", "pass", "[0xfc000000, 0x100000000)"),
    ]
    moved = dmesg.replace("fc000000 on", "f8000000 on")
    assert arm64_facts.reservation_facts(layout, _out({}, moved))[1].status == "fail"


def _run(name: str, kernel: str, tmp: Path) -> str:
    if shutil.which("qemu-system-aarch64") is None:
        pytest.fail("qemu-system-aarch64 missing: run sh scripts/bootstrap.sh --all (or pytest -m 'not lab')")
    report = run_lab(FIXTURES / name, kernel=kernel, out_dir=tmp, options=LabOptions())
    text = (tmp / "report.txt").read_text()
    assert report.verdict == "pass", text
    return text


@pytest.mark.lab
def test_arm64_boot_7(tmp_path: Path) -> None:
    """The CI arm64 boot: Debian 7.x arm64 on QEMU virt, 4 GiB, every prediction observed."""
    text = _run("arm64-4g", "7", tmp_path)
    for line in ("ZONE_MOVABLE node 0              [0x120000000, 0x140000000)",
                 "crash kernel reservation         [0xec000000, 0xfc000000)",
                 "window block 37 offline refused  offline EPERM", "probe ran in the guest           exit 0",
                 "round trip: RAM map              [0x40000000, 0x140000000)"):  # fmt: skip
        assert line in text, text


@pytest.mark.lab
@pytest.mark.lab_more
def test_arm64_boot_61(tmp_path: Path) -> None:
    """Debian 6.1 arm64: the same board facts; the round trip stops at LC250 (6.1 arm64 capture refused)."""
    text = _run("arm64-4g", "6.1", tmp_path)
    assert "probe round trip                 predicted compile succeeds; observed LC250" in text, text


@pytest.mark.lab
@pytest.mark.lab_more
def test_arm64_boot_numa2_7(tmp_path: Path) -> None:
    """Two nodes on 7.x: Movable at the top of each node, and DMA_NUMA_CMA's per-node CMA areas (observed)."""
    text = _run("arm64-8g-numa2", "7", tmp_path)
    assert "ZONE_MOVABLE node 1              [0x220000000, 0x240000000)" in text, text
    assert "[0xfc000000, 0x100000000), [0x100000000, 0x104000000), [0x140000000, 0x144000000)" in text, text


def _bundled() -> list[str]:
    return sorted(p.stem for p in PROFILES.glob("*.yaml") if not p.stem.endswith("-family"))  # a family: extends only


def _for_series(profile: str, kernel: str, tmp: Path) -> Path:
    """The bundled profile as compiled for the booted kernel's series, so its predictions are that kernel's.

    The bundled boards target 7.2; for 6.1 the copy says kernel.version 6.1 and states Debian's 6.1 arm64
    configuration (tests/captures/kconfig) with KALLSYMS_ALL=y added. The boot stage judges placement
    (zones, the crash reservation, swiotlb, the default and per-node CMA areas, the image), which
    KALLSYMS_ALL does not touch; without it 6.1 would not compile at all (LC250: capture refused), and a
    7.2 layout would predict 7.2's per-node CMA areas that 6.1 does not make.
    """
    if kernel != "6.1":
        return PROFILES / f"{profile}.yaml"
    import yaml

    from layoutc.diagnostics.diagnostic import Diagnostics
    from layoutc.importer.kconfig import kept_options, parse_kconfig

    config_file = Path(__file__).resolve().parents[1] / "captures" / "kconfig" / "debian-6.1.0-57-arm64.config"
    values = parse_kconfig(config_file.read_text(), config_file.name, Diagnostics())
    assert values is not None
    config = {o.name: o.value for o in kept_options(values)} | {"KALLSYMS_ALL": "y"}
    for src in PROFILES.glob("*.yaml"):
        shutil.copy(src, tmp / src.name)
    doc = yaml.safe_load((tmp / f"{profile}.yaml").read_text())
    doc["kernel"] = {**doc.get("kernel", {}), "version": "6.1", "config": config}
    out = tmp / f"{profile}-6.1.yaml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


@pytest.mark.lab
@pytest.mark.lab_more
@pytest.mark.parametrize("kernel", ["7", "6.1"])
@pytest.mark.parametrize("profile", _bundled())
def test_bundled_arm64_profiles_boot(profile: str, kernel: str, tmp_path: Path) -> None:
    """Every bundled arm64 profile, compiled by the real compiler: booted when QEMU virt can emulate it, else
    refused with the reason (exit 'cannot-emulate'), never a silent pass."""
    argv = [sys.executable, "-m", "layoutc.cli.main", "compile", str(_for_series(profile, kernel, tmp_path)),
            "-o", str(tmp_path / "c")]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    report = run_lab(tmp_path / "c", kernel=kernel, out_dir=tmp_path / "o", options=LabOptions())
    text = (tmp_path / "o" / "report.txt").read_text()
    if report.verdict == "cannot-emulate":
        assert report.problems and ("QEMU virt" in text or "GiB of guest RAM" in text or "6.1" in text), text
        return
    assert report.verdict == "pass", text


@pytest.mark.lab
@pytest.mark.lab_more
def test_arm64_61_crash_load_is_broken(tmp_path: Path) -> None:
    """The measurement behind LC250: Debian 6.1 arm64's /proc/kallsyms has no _text, so kexec-tools cannot
    compute page_offset for the crash kernel's core header (7.x lists _text and loads cleanly). KASLR stays on:
    the kernel then zeroes the DT kaslr-seed it used, which kexec-tools requires of the tree it passes on."""
    from layoutc.lab.boot.serial import parse_serial
    from layoutc.lab.guest import stages as guest
    from layoutc.lab.image import initramfs, kernels, sysroot

    seen = {}
    for label in ("6.1", "7"):
        k = kernels.ensure_kernel(label, arch="arm64")
        plan = guest.GuestPlan()
        spec = initramfs.InitramfsSpec(
            init=guest.INIT, module_dir=k.module_dir, modules=(), stages=guest.stages(plan, extra={
                "45-kexec-probe": guest.KEXEC_PROBE, "90-final": ""}),
            extra={**guest.lab_files(plan), "boot/Image": k.vmlinuz.read_bytes()},
            sysroot=sysroot.ensure_userland("arm64"))  # fmt: skip
        image = initramfs.build_initramfs(spec, tmp_path / f"initrd-{label}")
        m = board.machine_for(load_layout(FIXTURES / "arm64-4g"), budget=12 * GiB)
        log = tmp_path / f"serial-{label}.log"
        qemu.run_boot(qemu.QemuBoot(k.vmlinuz, image, "console=ttyAMA0 crashkernel=256M panic=-1", m, log))
        out = parse_serial(log.read_bytes())
        obs = out.of_kind("kexec-probe")
        assert out.done and obs, log.read_text(errors="replace")[-3000:]
        seen[label] = (
            obs[-1].get("text"),
            out.text("kexec-output") or "",
            (out.text("kexec_crash_loaded") or "").strip(),
        )
    text61, said61, _ = seen["6.1"]
    assert text61 == "no" and "Can't get the symbol of _text" in said61, seen["6.1"]
    text7, said7, loaded7 = seen["7"]
    assert text7 == "yes" and "_text" not in said7 and loaded7 == "1", seen["7"]
