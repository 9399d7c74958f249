"""What a board's crash initramfs holds, whichever tool builds it: ``layoutc initramfs`` (``build``), or the
initramfs-tools hook and the dracut module compiled per board (``render.initramfs_view``).

The modules are the capability table's (``kernel.capabilities``): the options the dump target needs that
``kernel.config`` (or the assumed configuration of the kernel version) builds ``=m``; the tools are what
``capture.sh`` calls; the Python names are the dumper's standard-library imports that the crash boot never
takes, and the codec package the filter spec's compression needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from layoutc.dump.write.compression import DEBIAN_MODULES
from layoutc.initramfs.python_runtime import NOT_SHIPPED, THIRD_PARTY, ZIPAPP_RUNTIME
from layoutc.kernel.capabilities import assumed_config, crash_needs, needed_modules
from layoutc.model.profile import CrashMemory, Dumper, Profile, Target

# the commands capture-init.sh, capture.sh and their shared functions call (a busybox applet each); shell
# builtins (test, [, echo, printf, true, false) are left out
SCRIPT_COMMANDS = (
    "mount", "umount", "mkdir", "grep", "cat", "dd", "tr", "sha256sum", "logger", "sleep", "ls", "rm", "mv",
    "cp", "ln", "sed", "awk", "head", "tail", "wc", "date", "stat", "cut", "find", "uname", "readlink",
    "basename", "dirname", "chmod", "mknod", "sort", "env", "od", "sync", "modprobe", "insmod", "reboot",
    "blockdev",
)


@dataclass(frozen=True, slots=True)
class CrashContents:
    """The board's part of a crash initramfs: modules (needed, then optional), tools, the dumper's Python."""

    modules: tuple[str, ...]  # needed: the dump target does not work without them
    optional_modules: tuple[str, ...]  # shipped when the kernel has them as modules
    tools: tuple[str, ...]  # needed commands
    optional_tools: tuple[str, ...]  # shipped when present
    layoutc_dumper: bool  # False: the board dumps with makedumpfile (no python3, no zipapp)
    python_packages: tuple[str, ...]  # the codec package(s) of the filter spec's compression
    python_skipped: tuple[str, ...]  # imports of the dumper the crash boot never takes
    python_runtime: tuple[str, ...]  # what running a zipapp loads beyond the dumper's imports


def crash_modules(profile: Profile) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The modules capture-init.sh loads: needed (the capability table over kernel.config) and optional."""
    config = (dict(profile.kernel_config.options) if profile.kernel_config is not None
              else assumed_config(profile.arch, profile.kernel_version))
    fstype = profile.disk.fstype if profile.disk else None
    needs = crash_needs(profile.arch, profile.crash.memory is CrashMemory.CMA,
                        profile.crash.target is Target.PMEM_WINDOW, fstype)
    optional = ("efivarfs", *((fstype,) if fstype and profile.crash.target is Target.DISK else ()))
    rec = profile.recovery
    grubenv_fs = (rec.grubenv_fstype,) if rec.grubenv_device and rec.grubenv_fstype != "ext4" else ()
    needed = tuple(dict.fromkeys((*needed_modules(needs, config), *profile.crash.modules)))
    return needed, (*optional, *grubenv_fs)


def crash_contents(profile: Profile, compression: str) -> CrashContents:
    """The board's crash initramfs contents; ``compression`` is the filter spec's."""
    needed, optional = crash_modules(profile)
    layoutc_dumper = profile.dump.dumper is not Dumper.MAKEDUMPFILE
    window = profile.crash.target is Target.PMEM_WINDOW
    # blkid: a disk target's partition, and the grubenv file system by UUID, label or partition label
    tools: tuple[str, ...] = ("mkfs.ext4",) if window else ("blkid",)
    tools += ("blkid",) if window and profile.recovery.grubenv_device else ()
    tools += () if layoutc_dumper else ("makedumpfile",)
    packages = DEBIAN_MODULES.get(compression, ()) if layoutc_dumper else ()
    skipped = tuple(sorted(NOT_SHIPPED | {n for n in THIRD_PARTY if n not in packages}))
    return CrashContents(needed, optional, tools,
                         ("vmcore-dmesg", *(("blkid",) if window and "blkid" not in tools else ())),
                         layoutc_dumper, packages, skipped, ZIPAPP_RUNTIME)
