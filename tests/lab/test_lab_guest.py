"""Initramfs archive format, guest scripts, and the predicted-vs-observed comparison (fast; no QEMU)."""

from __future__ import annotations

import base64
import gzip
import json
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

from layoutc.lab.boot.serial import parse_serial
from layoutc.lab.facts.boot_facts import production_facts
from layoutc.lab.guest import cycle_stages as cycle_guest
from layoutc.lab.guest import stages as guest
from layoutc.lab.image.initramfs import Entry, lab_entries, module_order, newc
from layoutc.lab.layout_dir import load_layout
from layoutc.lab.report import Report

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MiB = 1 << 20


def gzip_members(blob: bytes) -> list[bytes]:
    members = []
    while blob:
        d = zlib.decompressobj(wbits=31)
        members.append(d.decompress(blob))
        blob = d.unused_data
    return members


def test_newc_layout_is_what_the_kernel_expects() -> None:
    data = newc(
        [
            Entry("bin", 0o040755),
            Entry("bin/sh", 0o120777, link="/bin/busybox"),
            Entry("init", 0o100755, b"x"),
        ]
    )
    assert data.startswith(b"070701")
    assert len(data) % 4 == 0
    assert data.rstrip(b"\0").endswith(b"TRAILER!!!")
    if shutil.which("cpio"):
        listing = subprocess.run(["cpio", "-t", "--quiet"], input=data, capture_output=True, check=True).stdout
        assert listing.decode().split() == ["bin", "bin/sh", "init"]


def test_lab_member_is_deterministic_and_separately_compressible() -> None:
    plan = guest.GuestPlan(offline_blocks=(36, 37))
    a = gzip.compress(newc(lab_entries(guest.stages(plan), guest.lab_files(plan))), mtime=0)
    b = gzip.compress(newc(lab_entries(guest.stages(plan), guest.lab_files(plan))), mtime=0)
    assert a == b
    (member,) = gzip_members(a + b)[:1]
    assert b"lab/stages/20-offline" in member and b"OFFLINE_BLOCKS='36 37'" in member
    assert b"lab/stages/30-hotplug" not in member


def test_stage_table_takes_the_cycle_stages() -> None:
    names = sorted(guest.stages(guest.GuestPlan(), extra={"40-arm": "echo arm\n"}))
    assert names == ["00-common", "10-facts", "40-arm", "90-final"]


@pytest.mark.skipif(shutil.which("sh") is None, reason="no sh")
def test_guest_scripts_parse_with_sh() -> None:
    for text in (guest.INIT, *guest.stages(guest.GuestPlan((1,), 0x1000)).values()):
        subprocess.run(["sh", "-n"], input=text.encode(), check=True)


GUEST_SH = Path(guest.__file__).parent / guest.SCRIPTS


def test_guest_shell_passes_shellcheck() -> None:
    """The guest's shell files (``/init``, the stages, the crash glue): most are stages that /init sources,
    so they are checked as sh without a shebang."""
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is not installed; run sh scripts/bootstrap.sh --all")
    files = sorted(GUEST_SH.glob("*.sh"))
    result = subprocess.run([shellcheck, "--shell=sh", "--severity=style", *map(str, files)],
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_guest_shell_file_is_loaded() -> None:
    loaded = {guest.INIT, guest.COMMON, guest.FACTS, guest.OFFLINE, guest.HOTPLUG, guest.FINAL, guest.DEVICETREE,
              guest.KEXEC_PROBE,
              cycle_guest.DISKS,
              cycle_guest.ARM, cycle_guest.CRASH_DTB,
              cycle_guest.PANIC, cycle_guest.RECOVER, cycle_guest.CRASH_INIT, cycle_guest.UPLOAD}
    on_disk = {p.name: p.read_text() for p in GUEST_SH.glob("*.sh")}
    assert sorted(on_disk) == sorted(p.name for p in GUEST_SH.iterdir()), "only .sh files in sh/"
    assert {name for name, text in on_disk.items() if text not in loaded} == set()
    assert len(on_disk) == len(loaded)


def test_module_order_follows_modules_dep(tmp_path: Path) -> None:
    (tmp_path / "modules.dep").write_text(
        "kernel/drivers/dax/kmem.ko: kernel/drivers/dax/dax.ko\n"
        "kernel/drivers/dax/dax.ko:\n"
        "kernel/drivers/nvdimm/nd_pmem.ko: kernel/drivers/nvdimm/libnvdimm.ko kernel/drivers/dax/dax.ko\n"
        "kernel/drivers/nvdimm/libnvdimm.ko:\n"
    )
    order = [name for name, _ in module_order(tmp_path, ["nd_pmem", "kmem", "crc32c_generic"])]
    assert order == ["libnvdimm", "dax", "nd_pmem", "kmem"]


def _frame(name: str, text: str) -> str:
    return f"LAYOUTC-BEGIN {name}\n{base64.b64encode(text.encode()).decode()}\nLAYOUTC-END {name}\n"


def _guest_log(*, movable_start: int, offline: dict[int, str], memtotal_kb: int, crash: str) -> bytes:
    spanned = (0x140000000 - movable_start) // 4096
    zoneinfo = f"Node 0, zone  Movable\n        spanned  {spanned}\n        present  {spanned}\n"
    zoneinfo += f"        managed  {spanned}\n  start_pfn:           {movable_start // 4096}\n"
    iomem = f"00100000-bffdffff : System RAM\n  01000000-0225c92f : Kernel code\n{crash}"
    iomem += "100000000-13fffffff : System RAM\n"
    log = "LAYOUTC-START 7.2.13\n"
    log += _frame("cmdline", "console=ttyS0 movablecore=512M crashkernel=256M nokaslr panic=-1\n")
    log += _frame("iomem", iomem) + _frame("zoneinfo", zoneinfo)
    log += _frame("block_size_bytes", "8000000\n") + _frame("blocks-boot", "0 online 0 none\n39 online 0 Movable\n")
    log += _frame("meminfo", f"MemTotal: {memtotal_kb} kB\n") + _frame("kexec_crash_size", "268435456\n")
    for block, result in offline.items():
        on = "ok" if result == "ok" else "skipped"
        obs = {
            "kind": "offline",
            "block": block,
            "offline": result,
            "online_movable": on,
            "valid_zones": "Movable",
        }
        log += f"LAYOUTC-OBS {json.dumps(obs)}\n"
    dmesg = f"[0.0] Movable zone start for each node\n[0.0]   Node 0: 0x{movable_start:016x}\n"
    if crash:
        dmesg += "[0.0] crashkernel reserved: 0x00000000af000000 - 0x00000000bf000000 (256 MB)\n"
    log += _frame("dmesg", dmesg)
    return (log + "LAYOUTC-DONE\n").encode()


BASE_KB = 4000000
CRASH = "  af000000-beffffff : Crash kernel\n"
CMDLINE = "console=ttyS0 movablecore=512M crashkernel=256M nokaslr panic=-1"


def test_every_prediction_observed_passes() -> None:
    layout = load_layout(FIXTURES / "qemu-4g")
    prod = parse_serial(_guest_log(movable_start=0x120000000, offline={36: "ok", 37: "ok", 38: "ok"},
                                   memtotal_kb=BASE_KB - 256 * 1024, crash=CRASH))  # fmt: skip
    base = parse_serial(_guest_log(movable_start=0x120000000, offline={}, memtotal_kb=BASE_KB, crash=""))
    facts = production_facts(layout, prod, base, CMDLINE)
    assert [f for f in facts if f.status == "fail"] == []
    expected = {
        "ZONE_MOVABLE node 0",
        "crash kernel reservation",
        "armed overhead",
        "window block 38 offlinable",
    }
    assert {f.name for f in facts} >= expected | {"kernel image outside window"}


def test_mismatches_name_both_values() -> None:
    layout = load_layout(FIXTURES / "qemu-4g-unsafe-top")
    prod = parse_serial(_guest_log(movable_start=0x124000000, offline={38: "ok", 39: "EBUSY"},
                                   memtotal_kb=BASE_KB - 300 * 1024, crash=CRASH))  # fmt: skip
    base = parse_serial(_guest_log(movable_start=0x120000000, offline={}, memtotal_kb=BASE_KB, crash=""))
    failed = {f.name: f for f in production_facts(layout, prod, base, CMDLINE) if f.status == "fail"}
    assert set(failed) == {"ZONE_MOVABLE node 0", "window block 39 offlinable", "armed overhead"}
    assert failed["ZONE_MOVABLE node 0"].predicted == "[0x120000000, 0x140000000)"
    assert failed["ZONE_MOVABLE node 0"].observed == "[0x124000000, 0x140000000)"
    assert "EBUSY" in failed["window block 39 offlinable"].observed
    report = Report("qemu-4g-unsafe-top", "7.2.13", True, "tcg", "boot", "fail", facts=tuple(failed.values()))
    text = report.to_text()
    assert "predicted [0x120000000, 0x140000000); observed [0x124000000, 0x140000000)" in text
    assert report.exit_code == 4
    assert json.loads(report.to_json())["facts"][0]["status"] == "fail"


def test_guest_that_died_is_one_failure() -> None:
    layout = load_layout(FIXTURES / "qemu-4g")
    facts = production_facts(layout, parse_serial(b"Kernel panic - not syncing\n"), None, CMDLINE)
    assert [(f.name, f.status) for f in facts] == [("guest finished", "fail")]


CAPTURE_4G = Path(__file__).resolve().parents[1] / "captures" / "qemu-k7-pc-4G"


def test_probe_round_trip_imports_the_capture_and_compares_the_board(tmp_path: Path) -> None:
    from layoutc.lab.facts.roundtrip import import_roundtrip

    same = import_roundtrip(load_layout(FIXTURES / "qemu-4g"), CAPTURE_4G, tmp_path)
    assert [(f.name, f.status) for f in same] == [
        ("round trip: RAM map", "pass"), ("round trip: block size", "pass"), ("round trip: SRAT", "pass"),
    ]  # fmt: skip
    other = import_roundtrip(load_layout(FIXTURES / "qemu-8g-numa2"), CAPTURE_4G, tmp_path)
    assert other[0].status == "fail" and "node 1" in other[0].predicted and "node 1" not in other[0].observed
