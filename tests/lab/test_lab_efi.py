"""``layoutc lab --efi``: the ESP, the variable store parser, serial cutting and the facts without QEMU; then
(marker ``lab``) one full 7.x cycle of the qemu-4g-efi fixture through OVMF and systemd-boot."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from layoutc.lab.boot import efiboot, qemu
from layoutc.lab.boot import machine as board
from layoutc.lab.run import LabOptions, run_lab

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "tests" / "lab" / "fixtures" / "profiles" / "qemu-4g-efi.yaml"
ENTRY = "layoutc-recovery-qemu-4g-efi.conf"
TITLE = "Crash dump recovery (qemu-4g-efi)"
PROD = efiboot.PRODUCTION_TITLE
needs_efi = pytest.mark.skipif(
    not (efiboot.OVMF_CODE.is_file() and efiboot.SYSTEMD_BOOT.is_file()),
    reason="ovmf / systemd-boot-efi missing (requirements/apt-test.txt)",
)


def _record(name: str, data: bytes, state: int, guid: str = efiboot.LOADER_GUID) -> bytes:
    raw_name = (name + "\0").encode("utf-16-le")
    head = struct.pack("<HBBIQ16sIII16s", 0x55AA, state, 0, 7, 0, bytes(16), 0, len(raw_name), len(data),
                       uuid.UUID(guid).bytes_le)  # fmt: skip
    body = head + raw_name + data
    return body + bytes(-len(body) % 4)


def _store(*records: bytes) -> bytes:
    fv = bytearray(0x48)
    fv[40:44] = b"_FVH"
    struct.pack_into("<H", fv, 48, 0x48)
    body = b"".join(records)
    size = 28 + len(body) + 64
    header = uuid.UUID("aaf32c78-947b-439a-a180-2e144ec37792").bytes_le + struct.pack("<IBBHI", size, 0x5A, 0xFE, 0, 0)
    return bytes(fv) + header + body + b"\xff" * 64


def test_efi_vars_lists_live_and_deleted_records() -> None:
    value = (ENTRY + "\0").encode("utf-16-le")
    store = _store(_record("Timeout", b"\0\0", 0x3F, "8be4df61-93ca-11d2-aa0d-00e098032b8c"),
                   _record(efiboot.ONESHOT, value, 0x3D), _record(efiboot.ONESHOT, value, 0x3F))  # fmt: skip
    found = efiboot.efi_vars(store)
    assert [(v.name, v.live) for v in found] == [("Timeout", True), (efiboot.ONESHOT, False), (efiboot.ONESHOT, True)]
    assert [efiboot.utf16(v.data) for v in efiboot.oneshot_records(store)] == [ENTRY, ENTRY]
    with pytest.raises(ValueError):
        efiboot.efi_vars(b"\0" * 200)


@needs_efi
def test_pristine_ovmf_store_has_no_oneshot() -> None:
    store = efiboot.OVMF_VARS.read_bytes()
    assert efiboot.oneshot_records(store) == [] and all(v.guid for v in efiboot.efi_vars(store))


def test_entries_and_cmdlines() -> None:
    entry = efiboot.production_entry("console=ttyS0  crashkernel=208M\n")
    assert efiboot.bls_value(entry, "options") == "console=ttyS0 crashkernel=208M panic=-1"
    assert efiboot.bls_value(entry, "linux") == "/vmlinuz" and efiboot.bls_value(entry, "x") == ""
    serial = (b"BdsDxe: starting Boot0001\r\n[    0.000000] Linux version 7.2\r\n"
              b"[    0.000000] Command line: initrd=\\initrd.img console=ttyS0 r=1\r\n")  # fmt: skip
    lines = efiboot.command_lines(serial)
    assert [line for _, line in lines] == ["initrd=\\initrd.img console=ttyS0 r=1"]
    assert efiboot.cmdline_words(lines[0][1]) == (["console=ttyS0", "r=1"], ["initrd=\\initrd.img"])


def _boot(options: str, at: str = "0.000000") -> bytes:
    return (f"BdsDxe: starting Boot0001\r\n[    {at}] Linux version 7.2\r\n"
            f"[    {at}] Command line: initrd=\\i {options}\r\nLAYOUTC-START 7.2\r\n").encode()  # fmt: skip


def test_entry_watch_names_boots_and_stops_a_loop() -> None:
    entries = {PROD: "console=ttyS0 p=1", TITLE: "console=ttyS0 r=1"}
    watch = efiboot.EntryWatch(entries)
    serial = _boot("console=ttyS0 p=1") + _boot("console=ttyS0 elfcorehdr=1K") + _boot("console=ttyS0 r=1")
    assert not watch(5.0, serial)
    assert watch.seen == [(PROD, 5.0), (TITLE, 5.0)] and [t for _, t in watch.cuts] == [PROD, TITLE]
    assert serial[watch.cuts[1][0] :].startswith(b"[    0.000000] Linux version")
    looping = efiboot.EntryWatch(entries)  # no one-shot: production again would arm, panic and capture forever
    assert looping(9.0, _boot("console=ttyS0 p=1") * 2) and "stopped" in looping.stopped


def test_efi_facts_and_runtime_fact() -> None:
    value = (ENTRY + "\0").encode("utf-16-le")
    consumed = _store(_record(efiboot.ONESHOT, value, 0x3D))
    seen = [(PROD, 8.0), (TITLE, 70.0)]
    ok = efiboot.efi_facts("console=ttyS0 p=1", "console=ttyS0 r=1", seen, TITLE, "console=ttyS0  r=1",
                           "initrd=\\i console=ttyS0 p=1\n", "initrd=\\initrd.img console=ttyS0 r=1\n", consumed,
                           ENTRY)  # fmt: skip
    assert [f.status for f in ok] == ["pass"] * 4, ok
    left = _store(_record(efiboot.ONESHOT, value, 0x3F))
    bad = efiboot.efi_facts("console=ttyS0 p=1", "console=ttyS0 r=1", seen[:1] * 2, TITLE, "console=ttyS0 r=2",
                            None, "console=ttyS0 r=1", left, ENTRY)  # fmt: skip
    assert [f.status for f in bad] == ["fail"] * 4
    never = efiboot.efi_facts("a", "b", seen, TITLE, "b", "a", "b", _store(), ENTRY)
    assert never[-1].status == "fail" and never[-1].observed == "never written"
    report = "config_table\nefivars\nruntime\nsystab\n[    1.3] efivars: Registered efivars operations\n"
    assert efiboot.runtime_fact(report, "kexec -p").status == "pass"
    assert efiboot.runtime_fact("runtime\n[    1.0] Registered efivars operations\n", "kexec -p").status == "pass"
    assert efiboot.runtime_fact("config_table\nsystab\n", "kexec -s -p").status == "fail"
    assert efiboot.runtime_fact(None, "kexec -p").status == "fail"


def test_unsupported_cases() -> None:
    ok = dict(stage="full", window_mode="movable", boot_selection="efi", negative=False, carved=False,
              board_cmdline="console=ttyS0")  # fmt: skip
    assert efiboot.unsupported(**ok) == ""  # type: ignore[arg-type]
    for change in ({"stage": "arm"}, {"window_mode": "hotplug"}, {"boot_selection": "grubenv"}, {"negative": True},
                   {"carved": True}, {"board_cmdline": "console=tty0"}, {"grub": True}):  # fmt: skip
        why = efiboot.unsupported(**{**ok, **change})  # type: ignore[arg-type]
        assert why and "--grub needs" not in why, change


def test_qemu_argv_efi_boots_the_esp_from_pflash(tmp_path: Path) -> None:
    machine = board.Machine(4 << 30, (4 << 30,), (), (), ())
    drives = (("esp", tmp_path / "esp.img"), ("boot", tmp_path / "boot.img"))
    boot = qemu.QemuBoot(Path("k"), Path("i"), "", machine, tmp_path / "s.log", drives=drives,
                     pflash=(Path("/c.fd"), tmp_path / "v.fd"))  # fmt: skip
    argv = qemu.qemu_argv(boot)
    assert "-no-reboot" not in argv and "-kernel" not in argv and "-append" not in argv
    assert "virtio-blk-pci,drive=disk0,serial=esp,bootindex=0" in argv
    assert "virtio-blk-pci,drive=disk1,serial=boot" in argv
    assert argv[-4:] == ["-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/c.fd",
                         "-drive", f"if=pflash,format=raw,unit=1,file={tmp_path}/v.fd"]  # fmt: skip


@pytest.mark.skipif(shutil.which("mcopy") is None, reason="mtools missing (requirements/apt-test.txt)")
def test_fat_image_holds_the_files(tmp_path: Path) -> None:
    files = {"loader/loader.conf": efiboot.LOADER_CONF.encode(), "loader/entries/a.conf": b"title a\n", "k": b"x" * 5}
    image = efiboot.fat_image(tmp_path / "esp.img", files)
    for rel, data in files.items():
        proc = subprocess.run(["mtype", "-i", str(image), f"::/{rel}"], capture_output=True, check=True,
                              env={"PATH": "/usr/bin:/bin", "MTOOLS_SKIP_CHECK": "1"})  # fmt: skip
        assert proc.stdout == data, rel


@pytest.mark.lab
@needs_efi
def test_full_cycle_through_systemd_boot(tmp_path: Path) -> None:
    """qemu-4g-efi on 7.x, one QEMU: OVMF → systemd-boot → production → panic → capture (LoaderEntryOneShot)
    → reboot → systemd-boot → the generated BLS entry."""
    out = tmp_path / "run"
    compiled = out / "compiled"
    argv = [sys.executable, "-m", "layoutc.cli.main", "compile", str(PROFILE), "-o", str(compiled)]
    subprocess.run(argv, check=True, capture_output=True, timeout=120)
    report = run_lab(compiled, kernel="7", stage="full", out_dir=out,
                     options=LabOptions(timeout=500, profile=PROFILE, efi=True))  # fmt: skip
    assert not report.problems, report.to_text()
    assert not report.failures, report.to_text()
    names = {f.name for f in report.facts if f.status == "pass"}
    for needed in (
        "crash kernel (kexec -p) has EFI runtime services (efivars registered)",
        "systemd-boot booted the recovery entry by itself (LoaderEntryOneShot)",
        "recovery kernel cmdline = the generated BLS entry's options = board + layout recovery cmdline",
        "LoaderEntryOneShot written by the crash kernel and consumed (systemd-boot deleted it)",
        "dump verifies after the reboot (sha256 = SHA256SUMS)",
        "blocks returned to RAM",
        "second recovery run is a no-op",
        "initrd placement (systemd-boot)",
    ):
        assert needed in names, report.to_text()
    assert (out / "serial-recovery.log").stat().st_size > 0
