"""The diagnostic codes of ``layoutc initramfs`` (LC53x), each with the rule it enforces."""

from __future__ import annotations

INITRAMFS_CODES: dict[str, str] = {
    "LC530": "the crash initramfs does not fit the crash kernel's memory",
    "LC531": "warning: the crash initramfs is larger than the crash.initrd_size the layout was sized with",
    "LC532": "a file the crash initramfs needs is not in the root (busybox, python3, a tool, a library, a module)",
    "LC533": "the board cannot be read (no layout.json or device files, or its profile is not found)",
    "LC534": "the crash initramfs cannot be written",
}

RULES: dict[str, str] = {
    "LC530": "the crash kernel's memory holds the kernel, the initramfs as loaded (compressed) and as unpacked, "
    "and the runtime; the sizing model with the measured sizes must fit crashkernel= (classic) or the "
    "reservation and ,cma (cma) (LNX:init/initramfs.c do_populate_rootfs; docs/initramfs.md)",
    "LC531": "crash.reserve: auto sizes the reservation from crash.initrd_size; a larger real initramfs "
    "leaves less memory than the model assumed",
    "LC532": "a crash initramfs is built from the device's own files (--root): every binary with every library "
    "its dynamic section needs, the needed kernel modules of --kernel-version",
    "LC533": "layoutc initramfs takes a profile, or a compiled board directory (layoutc compile -o OUT: OUT "
    "or OUT/BOARD) with layout.json and device/",
    "LC534": "the output is written atomically (a temporary file and a rename)",
}
