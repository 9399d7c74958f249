"""Building the lab's Debian system root once per ``SystemPlan`` key (plan.py), atomically, in the cache.

Steps (each a real Debian tool, run as root, no loop device, no mount):

1. ``debootstrap --variant=minbase --include=PACKAGES bookworm ROOT MIRROR`` (the host's mirror);
2. the board's kernel ``.deb`` files from the lab's kernel cache, ``dpkg -i`` inside the root with ``INITRD=No``
   (the kernel hooks, kdump-tools' among them, build no initrd: kdump-tools' wants ``MODULES=dep``, which cannot
   probe a chroot); a 7.x kernel's image and config copied from ``/usr/lib/modules/RELEASE`` to ``/boot``
   (``lay_boot``: its packages lay nothing there); then ``update-initramfs -c -k RELEASE``: the root's own
   initramfs-tools makes the initrd;
3. the lab's files: ``/etc/fstab`` (root by ``ROOT_UUID``), ``/etc/default/grub`` (serial terminal, no menu
   wait), ``USE_KDUMP=0`` (layoutc arms the crash kernel, not kdump-tools), the stage unit and its runner,
   the first-boot GRUB setup (``sh/grub-setup.sh``), serial-getty on ttyS0 masked (the console carries frames).

The root is built in ``systems/.build-KEY-PID`` and renamed to ``systems/KEY`` when complete (``system.json``
written last); a lock file serialises concurrent builders of one key.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from layoutc.lab.errors import LabError
from layoutc.lab.image import kernels
from layoutc.lab.system import plan as sysplan

COMPLETE = "system.json"
RUNNER = "/usr/local/lib/layoutc-lab/stage-runner"
GRUB_SETUP = "/usr/local/lib/layoutc-lab/grub-setup"
KERNEL_DEBS = "/var/cache/layoutc-lab/kernel"  # the kernel's .deb files while dpkg installs them
STAGE_UNIT = "layoutc-lab-stage.service"
CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8"}


def script(name: str) -> str:
    """The text of ``sh/NAME`` (what the guest runs, byte for byte)."""
    return (resources.files("layoutc.lab.system") / "sh" / name).read_text(encoding="utf-8")


STAGE_UNIT_TEXT = f"""[Unit]
Description=layoutc lab: run the lab's stages from the stage disk and power off
After=multi-user.target layoutc-arm.service
ConditionPathExists=/dev/disk/by-label/{sysplan.STAGE_LABEL}

[Service]
Type=oneshot
ExecStart={RUNNER}
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0

[Install]
WantedBy=multi-user.target
"""
DEFAULT_GRUB = """GRUB_DEFAULT=0
GRUB_TIMEOUT=0
GRUB_TIMEOUT_STYLE=menu
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=ttyS0,115200"
GRUB_TERMINAL=serial
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_OS_PROBER=true
"""


@dataclass(frozen=True, slots=True)
class SystemImage:
    """A built root in the cache: its plan, where it is, how long the build took (0 when reused)."""

    plan: sysplan.SystemPlan
    root: Path
    built_seconds: float

    @property
    def release(self) -> str:
        return self.plan.kernel_release


def kernel_debs(k: kernels.Kernel, cache: Path | None = None) -> tuple[Path, ...]:
    """The cached ``.deb`` files of kernel ``k`` (their names are in the kernel's completion record)."""
    root = cache or kernels.cache_dir()
    record = root / "kernels" / k.release / ".complete.json"
    try:
        names = json.loads(record.read_text())["packages"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LabError("kernel-unavailable", f"no package record for {k.release} in {record}") from exc
    debs = tuple(root / "debs" / str(n) for n in names)
    missing = [d.name for d in debs if not d.is_file()]
    if missing:
        raise LabError("kernel-unavailable", f"kernel packages not in the cache: {', '.join(missing)}")
    return debs


def chroot(root: Path, argv: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 900) -> str:
    words = [f"{k}={v}" for k, v in {**CHROOT_ENV, **(env or {})}.items()]
    return kernels.run_tool(["chroot", str(root), "env", *words, *argv], timeout=timeout)


def ensure_system(k: kernels.Kernel, *, mirror_uri: str | None = None, keyring: str | None = None) -> SystemImage:
    """The cached Debian system of kernel ``k``; built (a few minutes) when its key is not in the cache."""
    if os.geteuid() != 0:
        raise LabError("tool-missing", "--system debian builds a root with debootstrap and chroot: run as root")
    for tool, package in (("debootstrap", "debootstrap"), ("sfdisk", "fdisk"), ("mke2fs", "e2fsprogs")):
        if shutil.which(tool) is None:
            raise LabError("tool-missing", f"{tool} not found (Debian package {package}; scripts/bootstrap.sh --all)")
    debs = kernel_debs(k)
    if mirror_uri is None:
        archive = kernels.debian_mirror().archive
        mirror_uri, keyring = archive.uri, archive.options.get("signed-by")
    plan = sysplan.system_plan(mirror_uri, k.release, tuple(d.name for d in debs))
    top = sysplan.systems_dir()
    top.mkdir(parents=True, exist_ok=True)
    final = top / plan.key()
    with open(top / f"{plan.key()}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / COMPLETE).is_file():
            return SystemImage(plan, final / "root", 0.0)
        start = time.monotonic()
        work = top / f".build-{plan.key()}-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        try:
            _build(plan, work / "root", debs, keyring)
            (work / COMPLETE).write_text(plan.to_json())
            shutil.rmtree(final, ignore_errors=True)
            os.replace(work, final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return SystemImage(plan, final / "root", time.monotonic() - start)


def _build(plan: sysplan.SystemPlan, root: Path, debs: Sequence[Path], keyring: str | None) -> None:
    kernels.run_tool(plan.debootstrap_argv(root, keyring if keyring and "\n" not in keyring else None), timeout=1800)
    staged = root / KERNEL_DEBS.lstrip("/")  # inside the root: dpkg -i runs in the chroot
    staged.mkdir(parents=True, exist_ok=True)
    for deb in debs:
        shutil.copy2(deb, staged / deb.name)
    chroot(root, ["dpkg", "-i", *(f"{KERNEL_DEBS}/{d.name}" for d in debs)], env={"INITRD": "No"})
    if plan.kernel_layout == sysplan.MODULES_DIR:
        lay_boot(root, plan.kernel_release)
    chroot(root, ["update-initramfs", "-c", "-k", plan.kernel_release])
    shutil.rmtree(staged)
    write_files(root)
    chroot(root, ["systemctl", "enable", STAGE_UNIT])
    chroot(root, ["systemctl", "mask", "serial-getty@ttyS0.service"])
    chroot(root, ["apt-get", "clean"])


def lay_boot(root: Path, release: str) -> None:
    """``/boot/vmlinuz-RELEASE`` and ``/boot/config-RELEASE`` from ``/usr/lib/modules/RELEASE`` (a 7.x kernel).

    The 7.x packages (``linux-binary``, ``linux-modules``, ``linux-base``) depend only on each other and ``kmod``,
    so bookworm's dpkg installs them as they are; but they ship the image as ``/usr/lib/modules/RELEASE/vmlinuz``
    and their maintainer scripts run ``depmod`` only, where bookworm's ``linux-image`` packages lay ``/boot``
    and run ``/etc/kernel/postinst.d``. Bookworm's ``10_linux``, ``kdump-config`` and ``update-initramfs`` look
    in ``/boot``: the copy is that one missing step (the root's own ``update-initramfs`` then makes the initrd)."""
    src = root / "usr" / "lib" / "modules" / release
    if not (src / "vmlinuz").is_file():
        raise LabError("kernel-unavailable", f"the kernel packages of {release} laid no {src / 'vmlinuz'}")
    for name, dest in (("vmlinuz", f"vmlinuz-{release}"), ("config", f"config-{release}")):
        if (src / name).is_file():
            shutil.copy2(src / name, root / "boot" / dest)


def files() -> dict[str, tuple[str, int]]:
    """The lab's files in the root: path → (text, mode)."""
    return {
        "etc/fstab": (f"UUID={sysplan.ROOT_UUID} / ext4 errors=remount-ro 0 1\n", 0o644),
        "etc/hostname": ("layoutc-lab\n", 0o644),
        "etc/default/grub": (DEFAULT_GRUB, 0o644),
        "etc/default/kdump-tools": ("USE_KDUMP=0\n", 0o644),
        f"etc/systemd/system/{STAGE_UNIT}": (STAGE_UNIT_TEXT, 0o644),
        RUNNER.lstrip("/"): (script("stage-runner.sh"), 0o755),
        GRUB_SETUP.lstrip("/"): (script("grub-setup.sh"), 0o755),
    }


def write_files(root: Path) -> None:
    for rel, (text, mode) in files().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        path.write_text(text)
        path.chmod(mode)
