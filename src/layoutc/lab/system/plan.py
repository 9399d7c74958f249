"""What goes into the lab's Debian system image, and the cache key made of it (pure: no I/O but the environ).

The image is a Debian 12 (bookworm) root made by ``debootstrap --variant=minbase`` from the host's own mirror
(``image.aptsources``), with ``PACKAGES`` and the board's Debian kernel installed by ``dpkg`` inside it. It is
cached outside the clone (a fresh clone, as CI makes, reuses it): ``$LAYOUTC_LAB_CACHE/systems`` when that is
set (the lab's cache override, ``image.kernels.cache_dir``), else ``$XDG_CACHE_HOME/layoutc/lab/systems``, else
``~/.cache/layoutc/lab/systems``; one directory per key, so a changed package list, suite, kernel, mirror or
builder gives a new image and never reuses an old one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

BUILDER_VERSION = 1  # bump when the build steps or the files the builder writes change
SUITE = "bookworm"
# what a device running layoutc has: systemd as PID 1, udev, the tools arm.sh and capture.sh run, GRUB for
# BIOS, the distribution's kdump tooling beside layoutc's; busybox and the python3.11 stdlib because the crash
# initramfs (``layoutc initramfs --root``) is built from the system's own files
PACKAGES = (
    "systemd", "systemd-sysv", "udev", "kmod", "kexec-tools", "ndctl", "daxctl", "python3-minimal",
    "libpython3.11-stdlib", "grub-pc", "kdump-tools", "makedumpfile", "initramfs-tools", "linux-base",
    "e2fsprogs", "busybox", "util-linux",
)  # fmt: skip
# where the kernel's packages put its image: ``/boot`` (Debian 12's ``linux-image``), or only
# ``/usr/lib/modules/RELEASE`` (the 7.x ``linux-binary``: the builder copies it to ``/boot``, build.lay_boot)
BOOT, MODULES_DIR = "boot", "usr-lib-modules"
ROOT_UUID = "6c61796f-7574-4c61-6200-000000000001"  # the root file system's UUID (fstab, root=UUID=)
STAGE_LABEL = "LAYOUTCLAB"  # the stage disk's file system label (the stage unit's condition)


@dataclass(frozen=True, slots=True)
class SystemPlan:
    """Everything the image is made of; ``key`` names its cache directory."""

    suite: str
    mirror: str  # the archive URI debootstrap reads
    packages: tuple[str, ...]
    kernel_release: str
    kernel_debs: tuple[str, ...]  # file names of the kernel's .deb files (their versions are in the names)
    builder: int = BUILDER_VERSION
    kernel_layout: str = BOOT  # BOOT or MODULES_DIR (kernel_layout_of the .deb names)

    def key(self) -> str:
        # MODULES_DIR joins the key as its own member; BOOT adds none, so Debian 12 images keep their keys
        extra = [] if self.kernel_layout == BOOT else [self.kernel_layout]
        blob = json.dumps(
            [self.builder, self.suite, self.mirror, sorted(self.packages), self.kernel_release,
             sorted(self.kernel_debs), *extra], separators=(",", ":"))  # fmt: skip
        return f"debian-{self.suite}-{self.kernel_release}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"

    def debootstrap_argv(self, root: Path, keyring: str | None) -> list[str]:
        """``debootstrap --variant=minbase`` of the suite with the packages, from the mirror."""
        key = [f"--keyring={keyring}"] if keyring else []
        return ["debootstrap", "--variant=minbase", *key, f"--include={','.join(self.packages)}",
                "--components=main", self.suite, str(root), self.mirror]  # fmt: skip

    def to_json(self) -> str:
        return json.dumps(
            {"builder": self.builder, "suite": self.suite, "mirror": self.mirror, "packages": list(self.packages),
             "kernel_release": self.kernel_release, "kernel_debs": list(self.kernel_debs),
             "kernel_layout": self.kernel_layout, "key": self.key()},
            indent=2, sort_keys=True) + "\n"  # fmt: skip


def kernel_layout_of(kernel_debs: tuple[str, ...]) -> str:
    """MODULES_DIR for the 7.x packages (a ``linux-binary-RELEASE`` .deb), else BOOT."""
    return MODULES_DIR if any(n.startswith("linux-binary-") for n in kernel_debs) else BOOT


def system_plan(mirror: str, kernel_release: str, kernel_debs: tuple[str, ...]) -> SystemPlan:
    debs = tuple(kernel_debs)
    return SystemPlan(SUITE, mirror.rstrip("/"), PACKAGES, kernel_release, debs, kernel_layout=kernel_layout_of(debs))


def systems_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where built images live: ``$LAYOUTC_LAB_CACHE/systems``, else the user's cache directory, never the clone."""
    env = os.environ if environ is None else environ
    if env.get("LAYOUTC_LAB_CACHE"):
        return Path(env["LAYOUTC_LAB_CACHE"]) / "systems"
    home = Path(env.get("HOME", "~")).expanduser()
    base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else home / ".cache"
    return base / "layoutc" / "lab" / "systems"
