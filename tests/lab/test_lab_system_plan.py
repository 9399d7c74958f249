"""The Debian system image's plan, cache key and cache place, its disks' scripts and its facts (no network)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from layoutc.lab.boot import qemu
from layoutc.lab.boot.machine import Machine
from layoutc.lab.boot.serial import parse_serial
from layoutc.lab.errors import LabError
from layoutc.lab.image import aptsources
from layoutc.lab.system import build, disk, system_facts
from layoutc.lab.system import plan as sysplan

DEBS = ("linux-image-6.1.0-56-cloud-amd64_6.1.192-2_amd64.deb",)


def _plan(**change: object) -> sysplan.SystemPlan:
    base = sysplan.system_plan("http://mirror.invalid/debian/", "6.1.0-56-cloud-amd64", DEBS)
    fields = {
        "suite": base.suite,
        "mirror": base.mirror,
        "packages": base.packages,
        "kernel_release": base.kernel_release,
        "kernel_debs": base.kernel_debs,
        "builder": base.builder,
    }
    fields.update(change)
    return sysplan.SystemPlan(**fields)  # type: ignore[arg-type]


def test_key_is_stable_and_names_suite_and_kernel() -> None:
    assert _plan().key() == _plan().key()
    assert _plan().key().startswith("debian-bookworm-6.1.0-56-cloud-amd64-")
    assert _plan().mirror == "http://mirror.invalid/debian"  # the trailing slash does not change the key


@pytest.mark.parametrize(
    "change",
    [
        {"suite": "trixie"},
        {"mirror": "http://other.invalid/debian"},
        {"packages": (*sysplan.PACKAGES, "strace")},
        {"kernel_release": "6.1.0-57-cloud-amd64"},
        {"kernel_debs": ("linux-image-6.1.0-56-cloud-amd64_6.1.192-3_amd64.deb",)},
        {"builder": sysplan.BUILDER_VERSION + 1},
        {"kernel_layout": sysplan.MODULES_DIR},
    ],
)
def test_key_changes_with_everything_that_goes_in(change: dict[str, object]) -> None:
    assert _plan(**change).key() != _plan().key()


K7_DEBS = tuple(f"linux-{p}-7.2.13+deb14-cloud-amd64_7.2.13-1_amd64.deb" for p in ("base", "binary", "modules"))


def test_a_7x_kernel_lays_boot_from_its_modules_dir_and_keys_apart() -> None:
    k7 = sysplan.system_plan("http://mirror.invalid/debian", "7.2.13+deb14-cloud-amd64", K7_DEBS)
    assert k7.kernel_layout == sysplan.MODULES_DIR
    assert _plan().kernel_layout == sysplan.BOOT  # Debian 12's linux-image lays /boot itself
    assert k7.key().startswith("debian-bookworm-7.2.13+deb14-cloud-amd64-")
    assert '"kernel_layout": "usr-lib-modules"' in k7.to_json()
    # BOOT adds nothing to the key: the Debian 12 images built before the field keep their cache directories
    blob = [sysplan.BUILDER_VERSION, "bookworm", "http://mirror.invalid/debian", sorted(sysplan.PACKAGES),
            "6.1.0-56-cloud-amd64", list(DEBS)]  # fmt: skip
    digest = hashlib.sha256(json.dumps(blob, separators=(",", ":")).encode()).hexdigest()[:12]
    assert _plan().key() == f"debian-bookworm-6.1.0-56-cloud-amd64-{digest}"


def test_lay_boot_copies_the_image_and_config_from_usr_lib_modules(tmp_path: Path) -> None:
    release = "7.2.13+deb14-cloud-amd64"
    mods = tmp_path / "usr" / "lib" / "modules" / release
    mods.mkdir(parents=True)
    (tmp_path / "boot").mkdir()
    (mods / "vmlinuz").write_bytes(b"bzImage")
    (mods / "config").write_text("CONFIG_CMA=y\n")
    build.lay_boot(tmp_path, release)
    assert (tmp_path / "boot" / f"vmlinuz-{release}").read_bytes() == b"bzImage"
    assert (tmp_path / "boot" / f"config-{release}").read_text() == "CONFIG_CMA=y\n"
    (mods / "vmlinuz").unlink()
    with pytest.raises(LabError, match="laid no"):
        build.lay_boot(tmp_path, release)


@given(st.permutations(sysplan.PACKAGES))
def test_key_ignores_package_order(order: list[str]) -> None:
    assert _plan(packages=tuple(order)).key() == _plan().key()


def test_debootstrap_argv_is_minbase_of_the_suite_from_the_mirror(tmp_path: Path) -> None:
    argv = _plan().debootstrap_argv(tmp_path, "/usr/share/keyrings/debian-archive-keyring.gpg")
    assert argv[:3] == ["debootstrap", "--variant=minbase", "--keyring=/usr/share/keyrings/debian-archive-keyring.gpg"]
    assert argv[-3:] == ["bookworm", str(tmp_path), "http://mirror.invalid/debian"]
    included = next(a for a in argv if a.startswith("--include=")).removeprefix("--include=").split(",")
    for need in (
        "systemd",
        "udev",
        "kmod",
        "kexec-tools",
        "ndctl",
        "daxctl",
        "python3-minimal",
        "grub-pc",
        "kdump-tools",
        "makedumpfile",
        "initramfs-tools",
    ):
        assert need in included


def test_systems_dir_follows_the_lab_cache_then_xdg_then_home() -> None:
    assert sysplan.systems_dir({"LAYOUTC_LAB_CACHE": "/c", "XDG_CACHE_HOME": "/x"}) == Path("/c/systems")
    assert sysplan.systems_dir({"XDG_CACHE_HOME": "/x", "HOME": "/h"}) == Path("/x/layoutc/lab/systems")
    assert sysplan.systems_dir({"HOME": "/h"}) == Path("/h/.cache/layoutc/lab/systems")


def test_mirror_comes_from_the_hosts_deb822_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.invalid/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n"
    )
    mirror = aptsources.debian_mirror(etc=tmp_path, environ={})
    assert _plan(mirror=mirror.archive.uri).mirror == "http://mirror.invalid/debian"


def test_image_files_enable_the_stage_unit_on_the_serial_console() -> None:
    files = build.files()
    unit, mode = files[f"etc/systemd/system/{build.STAGE_UNIT}"]
    assert mode == 0o644 and f"ExecStart={build.RUNNER}\n" in unit and "TTYPath=/dev/ttyS0" in unit
    assert f"LABEL={sysplan.STAGE_LABEL}" in files[build.RUNNER.lstrip("/")][0]
    assert files["etc/fstab"][0].startswith(f"UUID={sysplan.ROOT_UUID} / ext4 ")
    assert "GRUB_TERMINAL=serial" in files["etc/default/grub"][0]


def test_system_shell_passes_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is not installed; run sh scripts/bootstrap.sh --all")
    files = sorted((Path(build.__file__).parent / "sh").glob("*.sh"))
    ours = {"grub-setup.sh", "stage-runner.sh", "01-settle-rearm.sh", "70-system.sh", "05-after-crash.sh",
            "95-crash.sh"}  # fmt: skip
    assert ours <= {f.name for f in files}
    result = subprocess.run(
        [shellcheck, "--shell=sh", "--severity=style", *map(str, files)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("sfdisk") is None or shutil.which("dumpe2fs") is None, reason="fdisk, e2fsprogs")
def test_boot_disk_has_an_mbr_partition_holding_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").write_text("x\n")
    img = disk.make_boot_disk(root, tmp_path / "disk.img", 64 << 20)
    table = subprocess.run(["sfdisk", "--dump", str(img)], capture_output=True, text=True, check=True).stdout
    assert "start=        2048" in table and "type=83, bootable" in table
    fs = subprocess.run(
        ["dumpe2fs", "-h", f"{img}?offset={disk.PART_START}"], capture_output=True, text=True, check=True
    ).stdout
    assert sysplan.ROOT_UUID in fs


def test_disk_boot_argv_boots_the_first_drive_through_the_firmware(tmp_path: Path) -> None:
    boot = qemu.QemuBoot(
        Path("/dev/null"),
        Path("/dev/null"),
        "",
        Machine(4 << 30, (), (), (), ()),
        tmp_path / "s.log",
        drives=(("system", tmp_path / "a"), ("stage", tmp_path / "b")),
        disk_boot=True,
    )
    argv = qemu.qemu_argv(boot)
    assert "-kernel" not in argv and "-no-reboot" not in argv
    assert any(a.startswith("virtio-blk-pci,drive=disk0,serial=system,bootindex=0") for a in argv)
    assert not any("disk1" in a and "bootindex" in a for a in argv)


SHOW = """Id=local-fs.target
ActiveState=active
ActiveEnterTimestampMonotonic=2000000

Id=layoutc-arm.service
ActiveState=active
Result=success
ExecMainStatus=0
InactiveExitTimestampMonotonic=2500000
ActiveEnterTimestampMonotonic=4000000

Id=layoutc-lab-stage.service
InactiveExitTimestampMonotonic=5000000
"""


def test_unit_facts_pass_on_an_armed_ordered_boot_and_fail_otherwise() -> None:
    units = system_facts.parse_show(SHOW)
    facts = system_facts.unit_facts(units, "1")
    assert [f.status for f in facts] == ["pass", "pass"]
    assert facts[0].observed == "active/success exit 0, kexec_crash_loaded 1"
    not_loaded = system_facts.unit_facts(units, "0")
    assert not_loaded[0].status == "fail"
    early = system_facts.parse_show(
        SHOW.replace("InactiveExitTimestampMonotonic=2500000", "InactiveExitTimestampMonotonic=1000000")
    )
    assert system_facts.unit_facts(early, "1")[1].status == "fail"


def test_setup_facts_read_the_first_boots_exit_codes() -> None:
    out = parse_serial(b'LAYOUTC-OBS {"kind":"grub-install","rc":0}\nLAYOUTC-OBS {"kind":"update-grub","rc":1}\n')
    assert [(f.status, f.observed) for f in system_facts.setup_facts(out)] == [("pass", "exit 0"), ("fail", "exit 1")]


def test_board_grub_words_survive_sh_and_grub(tmp_path: Path) -> None:
    """A carved ``memmap=SIZE$START`` reaches grub.cfg single-quoted: GRUB would expand an unquoted ``$0``."""
    from layoutc.lab.system.run import board_grub

    (tmp_path / "etc" / "default").mkdir(parents=True)
    (tmp_path / "etc" / "default" / "grub").write_text('GRUB_TIMEOUT=0\nGRUB_CMDLINE_LINUX="old"\n')
    words = board_grub(tmp_path, "console=ttyS0", ("memmap=0x6000$0xbffda000",))
    assert words == "console=ttyS0 memmap=0x6000$0xbffda000 panic=-1 systemd.show_status=0"
    shown = subprocess.run(["sh", "-c", '. "$1"; printf %s "$GRUB_CMDLINE_LINUX"', "sh",
                            str(tmp_path / "etc" / "default" / "grub")], capture_output=True, text=True,
                           check=True, timeout=30).stdout  # fmt: skip
    assert shown == "console=ttyS0 'memmap=0x6000$0xbffda000' panic=-1 systemd.show_status=0"


def test_a_disk_boot_drops_the_carve_seabios_already_made() -> None:
    from layoutc.lab.system.run import disk_boot_memmap

    assert disk_boot_memmap(("memmap=0x6000$0xbffda000",)) == ()
    assert disk_boot_memmap(("memmap=0x6000$0xbffd9000", "memmap=1M#0x1000000")) == (
        "memmap=0x6000$0xbffd9000", "memmap=1M#0x1000000")  # fmt: skip


def test_a_run_copy_gets_this_checkouts_lab_files_over_a_cached_image(tmp_path: Path) -> None:
    """The image key covers debootstrap and dpkg, not the lab's own scripts: every run's copy of the
    root has them written again, so an image built by an older checkout boots today's grub-setup."""
    cached = tmp_path / "cached"
    stale = cached / build.GRUB_SETUP.lstrip("/")
    stale.parent.mkdir(parents=True)
    stale.write_text("#!/bin/sh\n# an older grub-setup\n")
    (cached / "etc").mkdir()
    (cached / "etc" / "keep").write_text("the image's own file\n")
    copy = disk.copy_root(cached, tmp_path / "run" / "root")
    for rel, (text, mode) in build.files().items():
        assert (copy / rel).read_text() == text, rel
        assert (copy / rel).stat().st_mode & 0o777 == mode, rel
    assert (copy / "etc" / "keep").read_text() == "the image's own file\n"
    assert stale.read_text().endswith("an older grub-setup\n")  # the cache itself is not touched


def test_settle_rearm_waits_for_queued_and_running_rearms(tmp_path: Path) -> None:
    """settle_rearm (01-settle-rearm.sh) in sh with stub commands: udevadm settle first, then a rearm job
    queued for two polls (the unit still 'failed' from an earlier run: a queued job is not 'activating') and
    the unit activating for one more; it returns once neither holds."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    polls = tmp_path / "polls"
    stubs = {
        "udevadm": f'echo "udevadm $*" >>"{calls}"',
        "sleep": f'echo sleep >>"{calls}"; echo x >>"{polls}"',
        "systemctl": (
            f'n=$(cat "{polls}" 2>/dev/null | wc -l)\n'
            'case "$1" in\n'
            '    list-jobs) [ "$n" -ge 2 ] || echo "77 layoutc-rearm.service start waiting";;\n'
            '    show) case $n in 2) echo activating;; *) echo failed;; esac;;\n'
            "esac"
        ),
    }
    for name, body in stubs.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    script = Path(build.__file__).parent / "sh" / "01-settle-rearm.sh"
    run = subprocess.run(["sh", "-c", f'PATH="{bin_dir}:$PATH"; . "{script}"; settle_rearm; echo "$REARM_WAITED"'],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert run.stdout.strip() == "3", run.stderr
    assert calls.read_text().splitlines() == ["udevadm settle --timeout=60", "sleep", "sleep", "sleep"]
