"""Guest side of the crash cycle: the stages around the generated artifacts, and the crash kernel's ``/init``.

Nothing here re-implements an artifact: the production boot runs the generated ``arm.sh production``; the
crash kernel's ``/init`` only reports what the host cannot see (``/proc/vmcore``, its iomem), optionally
copies ``/proc/vmcore`` to a raw disk (``--keep-vmcore``) and makes a *reference* dump before anything touches
the window, then ``exec``s the generated ``capture-init.sh`` (which modprobes, runs ``capture.sh`` and
reboots); the recovery boot runs the generated ``recover.sh`` three times (upload failing, upload working,
again). The upload command is the lab's ``/lab/upload`` (put into the profile's ``recovery.upload`` when the
lab renders the artifacts): it fails until ``$SCRATCH/upload-ok`` exists (the stages' tmpfs), then writes
the stored ``vmcore`` to the raw disk with serial ``export`` and reports its size and sha256, which is how
the dump leaves the guest.

Disks are found by their virtio serial (``/sys/block/vd*/serial``): ``boot`` (ext4 holding
``grub/grubenv``, mounted on ``/boot`` in the crash kernel as a device would), ``export``, ``vmcore``,
``scratch`` (ext4, for the reference dump), and for disk targets ``crash`` (GPT, the partition named as the
profile's ``disk.device``; the generated scripts find it by that name with blkid, as the lab does here:
after each recover.sh run the guest mounts it read-only and counts the COMPLETE dumps on it).

The shell is in ``sh/``: ``35-disks.sh``, ``40-arm.sh``, ``41-crash-dtb.sh`` (arm64), ``50-panic.sh``,
``60-recover.sh``, ``crash-init.sh`` (the crash initramfs's ``/init``) and ``upload.sh`` (``/lab/upload``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from layoutc.lab.guest.stages import script

DISKS = script("35-disks.sh")
ARM = script("40-arm.sh")
CRASH_DTB = script("41-crash-dtb.sh")  # arm64: the crash kernel's DTB arm.sh built (cycle_arm64)
PANIC = script("50-panic.sh")
CRASH_INIT = script("crash-init.sh")
UPLOAD = script("upload.sh")
RECOVER = script("60-recover.sh")


@dataclass(frozen=True, slots=True)
class CyclePlan:
    """Host-computed values for the cycle stages (``/lab/plan``)."""

    crash_append: str = ""
    force_arm: str = ""  # kexec flags for the negative control's forced load ("" = never force)
    keep_vmcore: bool = False
    reference: bool = False
    capture_mode: str = "init"  # init: exec capture-init.sh; script: capture.sh then copy (negative control)
    window_start: int = 0
    arm_mode: str = "production"  # hotplug: recover.sh (release + arm.sh recovery) on the first boot
    store: str = "/var/crash"  # the profile's recovery.store, where recover.sh keeps the verified dump
    disk_label: str = ""  # disk targets: the crash partition's GPT name (disk.device by-partlabel)
    disk_fstype: str = ""
    lab_modprobe: str = ""  # modules the crash kernel's lab glue loads before capture-init.sh (cycle_arm64)
    panic_cpu: int = 0  # the CPU 50-panic.sh panics on (0, the boot CPU, unless a test asks for another)

    def render(self) -> str:
        return (
            f"CRASH_APPEND='{self.crash_append}'\nFORCE_ARM='{self.force_arm}'\n"
            f"KEEP_VMCORE='{'1' if self.keep_vmcore else ''}'\nREFERENCE='{'1' if self.reference else ''}'\n"
            f"CAPTURE_MODE='{self.capture_mode}'\nWINDOW_START='{self.window_start:#x}'\n"
            f"ARM_MODE='{self.arm_mode}'\nSTORE='{self.store}'\n"
            f"DISK_LABEL='{self.disk_label}'\nDISK_FSTYPE='{self.disk_fstype}'\n"
            f"LAB_MODPROBE='{self.lab_modprobe}'\nPANIC_CPU='{int(self.panic_cpu)}'\n"
            f"OFFLINE_BLOCKS=''\nHOTPLUG_START=''\n"
        )


def production_stages(*, panic: bool) -> Mapping[str, str]:
    table = {"35-disks": DISKS, "40-arm": ARM}
    if panic:
        table["50-panic"] = PANIC
    return table


def recovery_stages() -> Mapping[str, str]:
    return {"35-disks": DISKS, "60-recover": RECOVER}
