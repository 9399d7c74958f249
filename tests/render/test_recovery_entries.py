"""The recovery entries that follow the installed kernels: the generated 45_layoutc_recovery run against a
scratch /boot (its GRUB text through grub-script-check) and the kernel-install plugin under systemd's own
``kernel-install`` with its ``90-loaderentry.install``, in a scratch boot root."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.frontend.load import load_profile
from layoutc.render import Artifact, render_all
from layoutc.solve import solve

from ..artifacts.helpers import tool
from ..conftest import REPO

ARGS = "console=ttyS0 crashkernel=256M memmap=272M!0x127000000 memory_hotplug.memmap_on_memory=0 " \
       "memhp_default_state=offline"  # fmt: skip
TITLE, ID = "Crash dump recovery (qemu-4g)", "layoutc-recovery-qemu-4g"
MACHINE = "0123456789abcdef0123456789abcdef"
LOADERENTRY = Path("/usr/lib/kernel/install.d/90-loaderentry.install")


def _board(tmp_path: Path, extra: str = "") -> dict[str, Path]:
    """qemu-4g (plus ``extra`` profile text) rendered into tmp_path/out: role -> file."""
    (tmp_path / "qemu-4g.yaml").write_text((REPO / "profiles/qemu/qemu-4g.yaml").read_text())
    src = tmp_path / "p.yaml"
    src.write_text(f"schema_version: 1\nextends: qemu-4g.yaml\nboard: qemu-4g\n{extra}")
    diags = Diagnostics()
    profile = load_profile(src, "p.yaml", diags)
    assert profile is not None, [d.message for d in diags]
    layout = solve(profile, diags)
    assert layout is not None, [d.message for d in diags]
    files: dict[str, Path] = {}
    for artifact in render_all(layout):
        files[artifact.role] = _write(tmp_path / "out", artifact)
    return files


def _write(out: Path, artifact: Artifact) -> Path:
    path = out / artifact.relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(artifact.content)
    path.chmod(artifact.mode)
    return path


def _mkconfig(script: Path, sysroot: Path, **grub: str) -> str:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LAYOUTC_GRUB_SYSROOT": str(sysroot), **grub}
    cfg = subprocess.run(["sh", str(script)], capture_output=True, text=True, check=True, env=env).stdout
    subprocess.run([tool("grub-script-check")], input=cfg, text=True, capture_output=True, check=True)
    return cfg


def _entry(title: str, ident: str, kernel: str, initrd: str | None) -> str:
    lines = [f"menuentry '{title}' --id '{ident}' {{", f"\tsearch --no-floppy --file --set=root '{kernel}'",
             f"\tlinux '{kernel}' {ARGS}"]  # fmt: skip
    return "\n".join([*lines, *([f"\tinitrd '{initrd}'"] if initrd else []), "}"]) + "\n"


def _touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(name)


def test_grub_lists_the_installed_kernels_newest_first(tmp_path: Path) -> None:
    script = _board(tmp_path)["grub-recovery-entry"]
    subprocess.run([tool("shellcheck"), "--severity=style", str(script)], check=True, capture_output=True)
    root = tmp_path / "root"
    _touch(root, "boot/vmlinuz-6.1.0-9-amd64", "boot/vmlinuz-6.1.0-18-amd64", "boot/vmlinuz-7.2.0-1-amd64",
           "boot/initrd.img-6.1.0-18-amd64", "boot/initrd.img-7.2.0-1-amd64",
           # garbage 10_linux skips, and a name that is no kernel version
           "boot/vmlinuz-6.1.0-9-amd64.old", "boot/vmlinuz-7.2.0-1-amd64.dpkg-tmp", "boot/vmlinuz-x'y",
           "boot/initrd.img-6.1.0-9-amd64.old")  # fmt: skip
    (root / "boot/vmlinuz-5.10.0-1-amd64").mkdir()  # a directory is no kernel
    assert _mkconfig(script, root) == (
        _entry(TITLE, ID, "/boot/vmlinuz-7.2.0-1-amd64", "/boot/initrd.img-7.2.0-1-amd64")
        + _entry(f"{TITLE}, Linux 6.1.0-18-amd64", f"{ID}-6.1.0-18-amd64", "/boot/vmlinuz-6.1.0-18-amd64",
                 "/boot/initrd.img-6.1.0-18-amd64")
        + _entry(f"{TITLE}, Linux 6.1.0-9-amd64", f"{ID}-6.1.0-9-amd64", "/boot/vmlinuz-6.1.0-9-amd64", None)
    )


def test_grub_falls_back_to_the_fixed_entry(tmp_path: Path) -> None:
    script = _board(tmp_path)["grub-recovery-entry"]
    root = tmp_path / "root"
    _touch(root, "boot/vmlinuz-6.1.0-9-amd64.dpkg-new", "boot/initrd.img-6.1.0-9-amd64")
    assert _mkconfig(script, root) == _entry(TITLE, ID, "/vmlinuz", "/initrd.img")


def test_grub_follows_the_profile_globs(tmp_path: Path) -> None:
    extra = "recovery:\n  kernel_glob: /efi/linux/Image-*.efi\n  initrd_glob: /efi/linux/initramfs-*.img\n"
    script = _board(tmp_path, extra)["grub-recovery-entry"]
    root = tmp_path / "root"
    _touch(root, "efi/linux/Image-6.12.efi", "efi/linux/Image-6.6.efi", "efi/linux/initramfs-6.6.img",
           "boot/vmlinuz-9.9")  # fmt: skip
    assert _mkconfig(script, root) == (
        _entry(TITLE, ID, "/efi/linux/Image-6.12.efi", None)
        + _entry(f"{TITLE}, Linux 6.6", f"{ID}-6.6", "/efi/linux/Image-6.6.efi", "/efi/linux/initramfs-6.6.img")
    )


def _kernel_install(tmp_path: Path, plugin: Path, *argv: str, layout: str = "bls",
                    token: str = MACHINE) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """systemd's kernel-install with its loader-entry plugin and ours only, on a scratch boot root."""
    conf = tmp_path / "conf"
    conf.mkdir(exist_ok=True)
    (conf / "install.conf").write_text(f"layout={layout}\n")
    (conf / "cmdline").write_text("root=/dev/vda1 production\n")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KERNEL_INSTALL_CONF_ROOT": str(conf),
           "BOOT_ROOT": str(tmp_path / "boot"), "MACHINE_ID": MACHINE, "ENTRY_TOKEN": token,
           "KERNEL_INSTALL_PLUGINS": f"{LOADERENTRY} {plugin}"}  # fmt: skip
    return subprocess.run([tool("kernel-install"), *argv], capture_output=True, text=True, env=env, check=True)


def _entries(tmp_path: Path) -> dict[str, str]:
    folder = tmp_path / "boot/loader/entries"
    return {p.name: p.read_text() for p in sorted(folder.iterdir())} if folder.is_dir() else {}


def _bls(kver: str, boot: Path, token: str, initrds: tuple[str, ...]) -> str:
    machine = [f"machine-id {MACHINE}"] if token == MACHINE else []
    # the root from kernel-install's cmdline (_kernel_install), then the board's and the recovery words
    options = "root=/dev/vda1 " + ARGS + (f" systemd.machine_id={MACHINE}" if token == MACHINE else "")
    lines = [f"title      {TITLE}", f"version    {kver}", *machine, f"options    {options}",
             f"linux      {boot}/{token}/{kver}/linux", *(f"initrd     {boot}/{token}/{kver}/{i}" for i in initrds)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("token", [MACHINE, "debian"])
def test_kernel_install_keeps_a_recovery_entry_per_kernel(tmp_path: Path, token: str) -> None:
    if not LOADERENTRY.is_file():
        pytest.skip(f"{LOADERENTRY} missing (systemd, requirements/apt-test.txt)")
    plugin = _board(tmp_path)["kernel-install-plugin"]
    assert plugin.name == "91-layoutc-recovery.install" and plugin.stat().st_mode & 0o777 == 0o755
    subprocess.run([tool("shellcheck"), "--severity=style", str(plugin)], check=True, capture_output=True)
    _touch(tmp_path, "src/vmlinuz-6.1.0-18-amd64", "src/initrd.img-6.1.0-18-amd64", "src/vmlinuz-7.2.0-1-amd64")
    src, boot = tmp_path / "src", tmp_path / "boot"
    _kernel_install(tmp_path, plugin, "add", "6.1.0-18-amd64", str(src / "vmlinuz-6.1.0-18-amd64"),
                    str(src / "initrd.img-6.1.0-18-amd64"), token=token)  # fmt: skip
    older = _bls("6.1.0-18-amd64", boot, token, ("initrd.img-6.1.0-18-amd64",))
    recovery = _entries(tmp_path)
    assert recovery[f"{token}-6.1.0-18-amd64-layoutc-recovery.conf"] == older
    assert recovery[f"{ID}.conf"] == older  # the one-shot's fixed entry: the newest kernel
    _kernel_install(tmp_path, plugin, "add", "7.2.0-1-amd64", str(src / "vmlinuz-7.2.0-1-amd64"), token=token)
    newer = _bls("7.2.0-1-amd64", boot, token, ())
    assert _entries(tmp_path)[f"{ID}.conf"] == newer
    assert _entries(tmp_path)[f"{token}-7.2.0-1-amd64-layoutc-recovery.conf"] == newer
    _kernel_install(tmp_path, plugin, "remove", "7.2.0-1-amd64", token=token)
    left = _entries(tmp_path)
    assert f"{token}-7.2.0-1-amd64-layoutc-recovery.conf" not in left and left[f"{ID}.conf"] == older
    _kernel_install(tmp_path, plugin, "remove", "6.1.0-18-amd64", token=token)
    assert _entries(tmp_path) == {}
    assert not [p for p in (boot / "loader/entries").iterdir()]  # no temporary file left behind


def test_kernel_install_plugin_acts_only_for_the_bls_layout(tmp_path: Path) -> None:
    plugin = _board(tmp_path)["kernel-install-plugin"]
    _touch(tmp_path, "src/vmlinuz-6.1.0-18-amd64")
    _kernel_install(tmp_path, plugin, "add", "6.1.0-18-amd64", str(tmp_path / "src/vmlinuz-6.1.0-18-amd64"),
                    layout="other")  # fmt: skip
    assert _entries(tmp_path) == {}


def test_kernel_install_plugin_refuses_a_strange_version(tmp_path: Path) -> None:
    """Run as kernel-install runs it (argv and environment): a version with a quote writes nothing."""
    plugin = _board(tmp_path)["kernel-install-plugin"]
    boot = tmp_path / "boot"
    env = {"PATH": "/usr/bin:/bin", "KERNEL_INSTALL_LAYOUT": "bls", "KERNEL_INSTALL_BOOT_ROOT": str(boot),
           "KERNEL_INSTALL_ENTRY_TOKEN": "debian", "KERNEL_INSTALL_MACHINE_ID": MACHINE}  # fmt: skip
    kver = "6.1'$(touch PWNED)"
    result = subprocess.run([str(plugin), "add", kver, str(boot / "debian" / kver), "/nonexistent"], cwd=tmp_path,
                            env=env, capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0 and "not a plain version" in result.stderr
    assert not (tmp_path / "PWNED").exists() and _entries(tmp_path) == {}


@pytest.mark.parametrize(("grub", "root"), [
    ({"GRUB_DEVICE": "/dev/vda1", "GRUB_DEVICE_UUID": "6c61796f-7574-4c61-6200-000000000001"},
     "'root=UUID=6c61796f-7574-4c61-6200-000000000001' ro "),
    ({"GRUB_DEVICE": "/dev/vda1", "GRUB_DEVICE_UUID": "6c61796f-7574-4c61-6200-000000000001",
      "GRUB_DISABLE_LINUX_UUID": "true"}, "'root=/dev/vda1' ro "),
    ({"GRUB_DEVICE": "/dev/mapper/vg-root'x", "GRUB_DEVICE_UUID": ""}, "'root=/dev/mapper/vg-root'\\''x' ro "),
    ({}, ""),  # not run by grub-mkconfig: no root= (and a word on stderr)
])
def test_grub_entry_names_the_root_as_10_linux(tmp_path: Path, grub: dict[str, str], root: str) -> None:
    """grub-mkconfig exports GRUB_DEVICE, GRUB_DEVICE_UUID and GRUB_DISABLE_LINUX_UUID: the entry's linux line
    has root= and ro before the board's words, the recovery words last, and passes grub-script-check."""
    script = _board(tmp_path)["grub-recovery-entry"]
    root_dir = tmp_path / "root"
    _touch(root_dir, "boot/vmlinuz-6.1.0-18-amd64", "boot/initrd.img-6.1.0-18-amd64")
    cfg = _mkconfig(script, root_dir, **grub)
    assert f"\tlinux '/boot/vmlinuz-6.1.0-18-amd64' {root}{ARGS}\n" in cfg, cfg


def test_board_root_is_not_repeated(tmp_path: Path) -> None:
    """A board whose kernel.cmdline names root= gets no second one, in GRUB or BLS."""
    files = _board(tmp_path, "kernel:\n  cmdline: console=ttyS0 root=/dev/sda2 ro\n")
    root_dir = tmp_path / "root"
    _touch(root_dir, "boot/vmlinuz-6.1.0-18-amd64")
    cfg = _mkconfig(files["grub-recovery-entry"], root_dir, GRUB_DEVICE="/dev/vda1", GRUB_DEVICE_UUID="u")
    linux = next(line for line in cfg.splitlines() if line.startswith("\tlinux "))
    assert linux.count("root=") == 1 and "root=/dev/sda2 ro" in linux, linux
