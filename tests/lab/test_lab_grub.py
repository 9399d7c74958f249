"""``layoutc lab --grub``: grub.cfg generation, serial cutting and the facts without QEMU; then (marker ``lab``)
GRUB alone consuming ``next_entry`` on an ext4 boot disk, and one full 7.x cycle on qemu-4g through GRUB."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from layoutc.lab import cycle_images
from layoutc.lab.boot import grubboot, qemu
from layoutc.lab.boot import machine as board
from layoutc.lab.run import LabOptions, run_lab

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "profiles" / "qemu" / "qemu-4g.yaml"
GRUB_PROFILE = ROOT / "tests" / "lab" / "fixtures" / "profiles" / "qemu-4g-grub.yaml"
RECOVERY_ID = "layoutc-recovery-qemu-4g"
RECOVERY_TITLE = "Crash dump recovery (qemu-4g)"
needs_grub = pytest.mark.skipif(not grubboot.HEADER.is_file(), reason="grub-common missing (requirements/apt-test.txt)")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("grub") / "c"
    argv = [sys.executable, "-m", "layoutc.cli.main", "compile", str(PROFILE), "-o", str(dest)]
    subprocess.run(argv, check=True, capture_output=True, timeout=120)
    return dest


@needs_grub
def test_grub_cfg_is_made_like_grub_mkconfig(compiled: Path, tmp_path: Path) -> None:
    cfg = grubboot.make_grub_cfg(compiled, "console=ttyS0", RECOVERY_ID, tmp_path)
    text = cfg.text
    # 00_header's one-shot: env block from $prefix, next_entry becomes the default and is cleared with save_env
    assert "load_env" in text and 'set default="${next_entry}"' in text and "save_env next_entry" in text
    assert 'set default="0"' in text and "terminal_output serial" in text
    # the production entry comes first (default 0); its cmdline went through the generated layoutc.cfg
    assert text.index(grubboot.PRODUCTION_ID) < text.index(RECOVERY_ID)
    assert cfg.production_args == "console=ttyS0 panic=-1 crashkernel=256M movablecore=512M nokaslr"
    # the recovery entry is what the generated 45_layoutc_recovery printed, byte for byte: with no installed
    # kernel below LAYOUTC_GRUB_SYSROOT, its fixed entry (layout.json recovery_boot: the lab's boot disk files)
    script = compiled / "grub" / "grub.d" / "45_layoutc_recovery"
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LAYOUTC_GRUB_SYSROOT": str(tmp_path / "mkconfig" / "sysroot")}
    printed = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env, check=True).stdout
    assert printed.startswith(f"menuentry '{RECOVERY_TITLE}' --id '{RECOVERY_ID}' {{\n")
    assert "\tlinux '/vmlinuz' " in printed and "\tinitrd '/initrd.img'\n" in printed and printed in text
    recovery = (compiled / "cmdline" / "recovery.txt").read_text().split()
    assert cfg.recovery_args.split() == ["console=ttyS0", *recovery]


def test_entry_args_by_id() -> None:
    cfg = (
        "menuentry 'a' --id 'x' {\n\tlinux /vmlinuz a=1 b\n\tinitrd /i\n}\n"
        "menuentry 'b' --id y {\n\tsearch --file /vmlinuz\n\tlinux /k c=2\n}\n"
    )
    assert grubboot.entry_args(cfg, "x") == "a=1 b"
    assert grubboot.entry_args(cfg, "y") == "c=2"
    assert grubboot.entry_args(cfg, "z") == ""


def test_default_grub_quotes_the_board_cmdline() -> None:
    text = grubboot.default_grub("console=ttyS0 quiet")
    assert "GRUB_CMDLINE_LINUX='console=ttyS0 quiet panic=-1'" in text and "GRUB_TIMEOUT=0" in text


def _serial(*titles: str) -> bytes:
    return b"".join(b"\x1b[H\x1b[J  Booting `" + t.encode() + b"'\r\n\r\nLAYOUTC-START " + t.encode() + b"\r\n"
                    for t in titles)  # fmt: skip


def test_split_serial_and_watch() -> None:
    data = b"GRUB junk\r\n" + _serial(grubboot.PRODUCTION_TITLE, RECOVERY_TITLE)
    assert grubboot.booted_titles(data) == [grubboot.PRODUCTION_TITLE, RECOVERY_TITLE]
    parts = grubboot.split_serial(data)
    assert [t for t, _ in parts] == ["", grubboot.PRODUCTION_TITLE, RECOVERY_TITLE]
    assert b"".join(p for _, p in parts) == data and parts[2][1].startswith(b"Booting `Crash")
    watch = grubboot.GrubWatch()
    assert not watch(1.0, _serial(grubboot.PRODUCTION_TITLE))
    assert not watch(2.0, data) and watch.seen == [(grubboot.PRODUCTION_TITLE, 1.0), (RECOVERY_TITLE, 2.0)]
    looping = grubboot.GrubWatch()  # no one-shot: production again would arm, panic and capture forever
    assert looping(3.0, _serial(grubboot.PRODUCTION_TITLE, grubboot.PRODUCTION_TITLE)) and looping.stopped


def test_grub_facts() -> None:
    cfg = grubboot.GrubConfig("", "console=ttyS0 panic=-1 a=1", "console=ttyS0 r=1")
    seen = [(grubboot.PRODUCTION_TITLE, 50.0), (RECOVERY_TITLE, 90.0)]
    prod, rec = "BOOT_IMAGE=/vmlinuz console=ttyS0 panic=-1 a=1\n", "BOOT_IMAGE=/vmlinuz console=ttyS0 r=1\n"
    facts = grubboot.grub_facts(cfg, seen, RECOVERY_TITLE, "console=ttyS0  r=1", prod, rec, {"next_entry": ""})
    assert [f.status for f in facts] == ["pass"] * 4, facts
    bad = grubboot.grub_facts(cfg, seen[:1], RECOVERY_TITLE, "console=ttyS0 r=2", None, "console=ttyS0 r=1",
                              {"next_entry": RECOVERY_ID})  # fmt: skip
    assert [f.status for f in bad] == ["fail"] * 3
    assert "not booted by GRUB" in bad[1].observed and RECOVERY_ID in bad[2].observed


def test_unsupported_cases() -> None:
    ok = dict(stage="full", window_mode="movable", boot_selection="grubenv", negative=False, carved=False,
              board_cmdline="console=ttyS0")  # fmt: skip
    assert grubboot.unsupported(**ok) == ""  # type: ignore[arg-type]
    for change in ({"stage": "arm"}, {"window_mode": "hotplug"}, {"boot_selection": "efi"}, {"negative": True},
                   {"carved": True}, {"board_cmdline": "console=tty0"}):  # fmt: skip
        assert grubboot.unsupported(**{**ok, **change}), change  # type: ignore[arg-type]


def test_qemu_argv_grub_boots_the_iso_and_may_reboot(tmp_path: Path) -> None:
    machine = board.Machine(4 << 30, (4 << 30,), (), (), ())
    boot = qemu.QemuBoot(Path("k"), Path("i"), "", machine, tmp_path / "s.log", cdrom=tmp_path / "grub.iso")
    argv = qemu.qemu_argv(boot)
    assert "-no-reboot" not in argv and "-kernel" not in argv and "-append" not in argv
    assert f"file={tmp_path}/grub.iso,format=raw,if=ide,media=cdrom,readonly=on" in argv
    assert argv[-2:] == ["-boot", "order=d"]
    plain = qemu.qemu_argv(qemu.QemuBoot(Path("k"), Path("i"), "c", machine, tmp_path / "s.log"))
    assert "-no-reboot" in plain and plain[-2:] == ["-append", "c"]


@pytest.mark.lab
@needs_grub
def test_grub_consumes_next_entry_on_ext4(compiled: Path, tmp_path: Path) -> None:
    """GRUB alone (entries that only echo and halt): the one-shot is taken and cleared on the ext4 boot disk."""
    if shutil.which("qemu-system-x86_64") is None or shutil.which("grub-mkrescue") is None:
        pytest.fail("qemu-system-x86_64 or grub-mkrescue missing: run sh scripts/bootstrap.sh --all")
    cfg = grubboot.make_grub_cfg(compiled, "console=ttyS0", RECOVERY_ID, tmp_path)
    text = cfg.text.replace("\tlinux ", "\techo LAB-ENTRY\n\thalt\n\tlinux ")
    env = cycle_images.grubenv_block({"next_entry": RECOVERY_ID})
    files = {"grub/grub.cfg": text.encode(), "grub/grubenv": env, **grubboot.grub_modules()}
    disk = cycle_images.ext4_image(tmp_path / "boot.img", 16 << 20, files)
    machine = board.Machine(256 << 20, (), (), (), ())
    boot = qemu.QemuBoot(Path("k"), Path("i"), "", machine, tmp_path / "s.log", timeout=60,
                     drives=(("boot", disk),), cdrom=grubboot.build_iso(tmp_path))  # fmt: skip
    result = qemu.run_boot(boot)
    serial = boot.serial_log.read_bytes()
    assert result.returncode == 0 and grubboot.booted_titles(serial) == [RECOVERY_TITLE], serial[-2000:]
    assert cycle_images.parse_grubenv(cycle_images.debugfs_cat(disk, "/grub/grubenv")) == {"next_entry": ""}


@pytest.mark.lab
@needs_grub
def test_full_cycle_through_grub(tmp_path: Path) -> None:
    """qemu-4g on 7.x, compiled for GRUB's initrd placement (boot.loader grub-bios), one QEMU: GRUB → production →
    panic → capture → reboot → GRUB → recovery entry."""
    out = tmp_path / "run"
    compiled = out / "compiled"
    argv = [sys.executable, "-m", "layoutc.cli.main", "compile", str(GRUB_PROFILE), "-o", str(compiled)]
    subprocess.run(argv, check=True, capture_output=True, timeout=120)
    report = run_lab(compiled, kernel="7", stage="full", out_dir=out,
                     options=LabOptions(timeout=500, profile=GRUB_PROFILE, grub=True))  # fmt: skip
    assert not report.problems, report.to_text()
    assert not report.failures, report.to_text()
    names = {f.name for f in report.facts if f.status == "pass"}
    for needed in (
        "GRUB booted the recovery entry by itself (grubenv next_entry one-shot)",
        "recovery kernel cmdline = the generated GRUB entry's = board + layout recovery cmdline",
        "grubenv next_entry consumed (GRUB save_env on the ext4 boot disk)",
        "/dev/pmem* covers exactly the window (recovery boot)",
        "dump verifies after the reboot (sha256 = SHA256SUMS)",
        "blocks returned to RAM",
        "second recovery run is a no-op",
        "initrd placement (grub-bios)",
    ):
        assert needed in names, report.to_text()
    assert (out / "serial-recovery.log").stat().st_size > 0
