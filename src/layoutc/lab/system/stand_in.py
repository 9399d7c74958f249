"""``--system debian --stage full`` with the lab's stand-ins (``LabOptions.stand_ins``) for the two steps the
generated files do not do in a Debian system yet, so that the rest of the cycle (the recovery boot, recover.sh,
the stored dump) can be observed; the facts of those two steps still fail (cycle.py), and the report says what
was stood in for:

* the one-shot: the crash initramfs ``layoutc initramfs`` builds does not mount the file system holding
  ``/boot/grub/grubenv`` (nor has the virtio disk's modules), so capture.sh cannot select the recovery entry
  (exit 44). The lab stops QEMU when GRUB boots again, writes ``next_entry`` into the disk's grubenv itself
  (debugfs) and starts a second QEMU on the same guest RAM (shared files under ``/dev/shm``), as the busybox
  cycle's host-played one-shot does (the crashed system never unmounted its root: debugfs writes beside a
  journal that the next mount replays, after GRUB has read the block; fine for a one-shot, not for more);
* the root: 45_layoutc_recovery's entry has no ``root=`` (initramfs-tools then stops: "No root device
  specified"); the lab appends ``root=UUID=… ro`` to the installed script's ``args`` before update-grub.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

from layoutc.lab.boot import qemu
from layoutc.lab.boot.grubboot import booted_titles, split_serial
from layoutc.lab.cycle_images import grubenv_block
from layoutc.lab.system.cycle import STUCK
from layoutc.lab.system.disk import PART_START
from layoutc.lab.system.plan import ROOT_UUID

RECOVERY_SCRIPT = "etc/grub.d/45_layoutc_recovery"


def root_words(root: Path) -> str:
    """Append ``root=UUID=… ro`` to the installed recovery script's ``args='…'`` line; a note of it."""
    path = root / RECOVERY_SCRIPT
    text, n = re.subn(r"^args='([^']*)'$", rf"args='\1 root=UUID={ROOT_UUID} ro'", path.read_text(), count=1,
                      flags=re.M)  # fmt: skip
    if n != 1:
        return f"stand-in: no args= line in /{RECOVERY_SCRIPT}; the recovery entry left as generated"
    path.write_text(text)
    return f"stand-in: root=UUID={ROOT_UUID} ro appended to the recovery entry's args (/{RECOVERY_SCRIPT})"


def write_next_entry(disk_img: Path, entry_id: str, work: Path) -> bool:
    """GRUB's one-shot on the boot disk: a fresh 1024-byte ``/boot/grub/grubenv`` with ``next_entry``."""
    block = work / "grubenv.stand-in"
    block.write_bytes(grubenv_block({"next_entry": entry_id}))
    image = f"{disk_img}?offset={PART_START}"
    for cmd in ("rm /boot/grub/grubenv", f"write {block} /boot/grub/grubenv"):
        subprocess.run(["debugfs", "-w", "-R", cmd, image], capture_output=True, timeout=120, check=False)
    shown = subprocess.run(["debugfs", "-R", "cat /boot/grub/grubenv", image], capture_output=True, timeout=120,
                           check=False)  # fmt: skip
    return f"next_entry={entry_id}".encode() in shown.stdout


def _second_grub(seconds: float, serial: bytes) -> bool:
    return len(booted_titles(serial)) > 1


def _after(seconds: float, serial: bytes) -> bool:
    """The second QEMU: stop at a second GRUB boot, or when the boot is stuck before systemd."""
    parts = split_serial(serial)
    return len(parts) > 2 or (len(parts) == 2 and any(m in parts[1][1] for m in STUCK)
                              and b"LAYOUTC-START" not in parts[1][1])  # fmt: skip


def boot_two(prod: qemu.QemuBoot, disk_img: Path, entry_id: str,
             work: Path) -> tuple[list[qemu.BootResult], bytes, list[str]]:  # fmt: skip
    """Production → panic → crash kernel → (QEMU stopped at GRUB's second boot; the host's one-shot) → a second
    QEMU on the same RAM; the serial of both as one log (the first up to GRUB's second boot)."""
    shm = Path("/dev/shm")
    ram_dir = Path(tempfile.mkdtemp(prefix="layoutc-lab-", dir=shm if shm.is_dir() else None))
    notes: list[str] = []
    try:
        first = replace(prod, ram_path=ram_dir / "ram")
        r1 = qemu.run_boot(first, _second_grub)
        log1 = first.serial_log.read_bytes()
        parts = split_serial(log1)
        if len(parts) < 3:
            return [r1], log1, notes
        ok = write_next_entry(disk_img, entry_id, work)
        notes.append(f"stand-in: the host wrote next_entry={entry_id} into the disk's grubenv "
                     f"({'read back' if ok else 'NOT read back'}); a second QEMU on the same RAM")  # fmt: skip
        second = replace(first, serial_log=first.serial_log.with_name("serial-after-crash.log"))
        r2 = qemu.run_boot(second, _after)
        return [r1, r2], parts[0][1] + parts[1][1] + second.serial_log.read_bytes(), notes
    finally:
        shutil.rmtree(ram_dir, ignore_errors=True)
