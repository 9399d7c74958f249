"""Guest side of the crash cycle: the stages around the generated artifacts, and the crash kernel's ``/init``.

Nothing here re-implements an artifact: the production boot runs the generated ``arm.sh production``; the
crash kernel's ``/init`` only reports what the host cannot see (``/proc/vmcore``, its iomem), optionally
copies ``/proc/vmcore`` to a raw disk (``--keep-vmcore``) and makes a *reference* dump before anything touches
the window, then ``exec``s the generated ``capture-init.sh`` (which modprobes, runs ``capture.sh`` and
reboots); the recovery boot runs the generated ``recover.sh`` three times (upload failing, upload working,
again). The upload command is the lab's ``/lab/upload`` (put into the profile's ``recovery.upload`` when the
lab renders the artifacts): it fails until ``/tmp/upload-ok`` exists, then writes the stored ``vmcore`` to the
raw disk with serial ``export`` and reports its size and sha256, which is how the dump leaves the guest.

Disks are found by their virtio serial (``/sys/block/vd*/serial``): ``boot`` (ext4 holding
``grub/grubenv``, mounted on ``/boot`` in the crash kernel as a device would), ``export``, ``vmcore``,
``scratch`` (ext4, for the reference dump), and for disk targets ``crash`` (GPT, the partition named as the
profile's ``disk.device``; the generated scripts find it by that name with blkid, as the lab does here:
after each recover.sh run the guest mounts it read-only and counts the COMPLETE dumps on it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DISKS = r"""
disk() { # disk SERIAL: the vdX whose virtio serial is SERIAL
    for b in /sys/block/vd*; do
        [ "$(cat "$b/serial" 2>/dev/null)" = "$1" ] && { echo "${b##*/}"; return 0; }
    done
    return 1
}
pmem_list() { # pmemN resource size, one per line
    for d in /sys/block/pmem*; do
        [ -e "$d" ] || continue
        echo "${d##*/} $(cat "$d/device/resource" 2>/dev/null) $(cat "$d/device/size" 2>/dev/null)"
    done > /tmp/pmem
    emit "$1" /tmp/pmem
}
loaded() { cat /sys/kernel/kexec_crash_loaded 2>/dev/null || cat /sys/kernel/kexec/crash_loaded 2>/dev/null; }
"""

ARM = r"""
if [ "$ARM_MODE" = hotplug ]; then
    # a hotplug window has no production mode: the recovery unit runs on every boot, returns the window to
    # RAM and arms with arm.sh recovery
    dash /usr/lib/layoutc/recover.sh > /tmp/arm.out 2>&1
else
    /usr/lib/layoutc/arm.sh production > /tmp/arm.out 2>&1
fi
rc=$?
emit arm-output /tmp/arm.out
obs arm "\"mode\":\"$ARM_MODE\",\"rc\":$rc,\"loaded\":\"$(loaded)\""
if [ "$rc" -ne 0 ] && [ -n "$FORCE_ARM" ]; then
    # negative control only: load the crash kernel the way arm.sh would have, to show what it prevented
    kexec $FORCE_ARM /boot/crash/vmlinuz --initrd=/boot/crash/initrd.img --append="$CRASH_APPEND" \
        > /tmp/kexec.out 2>&1
    obs forced-arm "\"rc\":$?,\"loaded\":\"$(loaded)\""
fi
emit kexec_crash_size-armed /sys/kernel/kexec_crash_size
for f in /sys/kernel/kexec/crash_cma_ranges /sys/kernel/kexec_crash_cma_ranges; do
    [ -r "$f" ] && { emit crash_cma_ranges-armed "$f"; break; }
done
"""

PANIC = r"""
if [ "$(loaded)" = 1 ]; then
    obs panic "\"at\":\"$(cut -d' ' -f1 /proc/uptime)\""
    sync
    echo c > /proc/sysrq-trigger
fi
obs panic-skipped "\"loaded\":\"$(loaded)\""
"""

CRASH_INIT = r"""#!/bin/sh
# lab glue of the crash initramfs: report, keep /proc/vmcore, reference dump; then the generated /init
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
# the crash cmdline is arm.sh's (the board's console may not be the serial port): talk to ttyS0 directly
[ -c /dev/ttyS0 ] && exec > /dev/ttyS0 2>&1
dmesg -n 1
echo "LAYOUTC-START $(uname -r)"
. /lab/common
. /lab/plan
grep virtio /lab/modules | while read -r ko; do insmod "$ko" 2>/dev/null; done
if [ -r /proc/vmcore ]; then v=true; sz=$(stat -c %s /proc/vmcore); else v=false; sz=0; fi
kb=$(sed -n 's/MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)
obs crash-kernel "\"vmcore\":$v,\"vmcore_bytes\":$sz,\"memtotal_kb\":$kb"
emit cmdline-crash /proc/cmdline
emit iomem-crash /proc/iomem
# /proc/vmcore's PT_LOAD ranges (the host checks them against the production kernel's crash CMA)
python3 /lab/phdrs.py > /tmp/phdrs 2>&1 && emit vmcore-phdrs /tmp/phdrs
if [ -n "$KEEP_VMCORE" ] && d=$(disk vmcore); then
    t0=$(date +%s)
    dd if=/proc/vmcore of=/dev/$d bs=1M 2>/tmp/dd.err
    obs keep-vmcore "\"rc\":$?,\"bytes\":$sz,\"seconds\":$(( $(date +%s) - t0 ))"
fi
if [ -n "$REFERENCE" ] && d=$(disk scratch); then
    mkdir -p /lab/scratch && mount -t ext4 /dev/$d /lab/scratch
    t0=$(date +%s)
    python3 /usr/lib/layoutc/dump.pyz --spec /lab/reference-filter.json /proc/vmcore /lab/scratch/reference.vmcore \
        > /tmp/ref.out 2>&1
    rc=$?
    emit reference-output /tmp/ref.out
    n=$(stat -c %s /lab/scratch/reference.vmcore 2>/dev/null || echo 0)
    obs reference-dump "\"rc\":$rc,\"bytes\":$n,\"seconds\":$(( $(date +%s) - t0 ))"
    sync
fi
if d=$(disk boot); then mkdir -p /boot && mount -t ext4 /dev/$d /boot; fi
obs capture-start "\"at\":\"$(cut -d' ' -f1 /proc/uptime)\""
if [ "$CAPTURE_MODE" = script ]; then
    # negative control: the generated capture.sh, then the window's dump is copied next to the reference
    for m in nd_e820 nd_pmem ext4; do modprobe "$m" 2>/dev/null; done
    mkdir -p /run
    mount -t tmpfs tmpfs /run
    /usr/lib/layoutc/capture.sh > /tmp/capture.out 2>&1
    rc=$?
    emit capture-output /tmp/capture.out
    pmem_list pmem-crash
    obs capture "\"rc\":$rc"
    dev=""
    while read -r name res size; do
        [ -n "$res" ] && [ $((res)) -eq $((WINDOW_START)) ] && dev=$name
    done < /tmp/pmem
    mkdir -p /lab/window
    if mount -t ext4 -o ro /dev/$dev /lab/window && cp /lab/window/vmcore /lab/scratch/after.vmcore; then
        obs after-copy "\"rc\":0,\"bytes\":$(stat -c %s /lab/scratch/after.vmcore)"
    else
        obs after-copy "\"rc\":1"
    fi
    umount /lab/window; umount /lab/scratch; sync
    echo "LAYOUTC-DONE"
    poweroff -f
fi
[ -n "$REFERENCE" ] && umount /lab/scratch
sync
if [ -d /sys/firmware/efi ]; then  # --efi: what the capture's LoaderEntryOneShot write will find (nothing loaded)
    { ls /sys/firmware/efi; grep efivarfs /proc/filesystems; dmesg | grep -i -e 'efi[:v]' -e 'kexec'; } >/tmp/efi 2>&1
    emit efi-crash /tmp/efi
fi
dmesg -n 5
exec /usr/lib/layoutc/capture-init.sh
"""

UPLOAD = r"""#!/bin/sh
# lab upload command ({dump} = the stored vmcore): fails until /tmp/upload-ok exists, then exports the dump
n=$(cat /tmp/uploads 2>/dev/null || echo 0)
echo $((n + 1)) > /tmp/uploads
if [ ! -e /tmp/upload-ok ]; then
    echo "lab upload: simulated network failure" >&2
    exit 1
fi
d=""
for b in /sys/block/vd*; do [ "$(cat "$b/serial" 2>/dev/null)" = export ] && d=${b##*/}; done
[ -n "$d" ] || exit 1
dd if="$1" of=/dev/$d bs=1M conv=fsync 2>/dev/null || exit 1
sum=$(sha256sum "$1" | cut -d' ' -f1)
echo "LAYOUTC-OBS {\"kind\":\"upload\",\"bytes\":$(stat -c %s "$1"),\"sha256\":\"$sum\"}" > /dev/console
"""

RECOVER = r"""
pmem_list pmem-recovery
emit iomem-recovery /proc/iomem
blocks blocks-recovery-0
state() {
    { find "$STORE" /var/lib/layoutc -type f 2>/dev/null | sort; cat /tmp/pmem; } > /tmp/state
    emit "state-$1" /tmp/state
}
run() {
    dash /usr/lib/layoutc/recover.sh > /tmp/recover.out 2>&1
    rc=$?
    emit "recover-$1" /tmp/recover.out
    pmem_list "pmem-after-$1"
    magic=none
    dev=$(cut -d' ' -f1 /tmp/pmem | head -n 1)
    [ -n "$dev" ] && magic=$(dd if=/dev/$dev bs=1 skip=1080 count=2 2>/dev/null | od -An -tx1 | tr -d ' \n')
    ups=$(cat /tmp/uploads 2>/dev/null || echo 0)
    dumps=none
    [ -n "$DISK_LABEL" ] && disk_dumps "$1" && dumps=$(cat /tmp/disk.n)
    obs recover "\"run\":$1,\"rc\":$rc,\"loaded\":\"$(loaded)\",\"uploads\":$ups,\"magic\":\"$magic\",\
\"disk\":\"$dumps\""
    blocks "blocks-recovery-$1"
    state "$1"
}
disk_dumps() { # disk target: mount the crash disk read-only, list it, count the COMPLETE dumps (/tmp/disk.n)
    n=0
    part=$(blkid -l -o device -t "PARTLABEL=$DISK_LABEL" 2>/dev/null)
    mkdir -p /tmp/crashdisk
    if [ -n "$part" ] && mount -t "$DISK_FSTYPE" -o ro "$part" /tmp/crashdisk 2>/tmp/disk.err; then
        for d in /tmp/crashdisk/layoutc-*; do [ -f "$d/COMPLETE" ] && n=$((n + 1)); done
        { echo "$part"; ls -lR /tmp/crashdisk; } > /tmp/disk.txt 2>&1
        umount /tmp/crashdisk
    else
        { echo "partition '$part'"; cat /tmp/disk.err; } > /tmp/disk.txt 2>&1
    fi
    emit "disk-$1" /tmp/disk.txt
    echo "$n" > /tmp/disk.n
}
dev=$(cut -d' ' -f1 /tmp/pmem | head -n 1)
if [ -n "$dev" ] && mkdir -p /tmp/win && mount -t ext4 -o ro /dev/$dev /tmp/win 2>/tmp/win.err; then
    { ls -l /tmp/win; cat /tmp/win/SHA256SUMS; (cd /tmp/win && sha256sum -c SHA256SUMS); echo "rc=$?"; } \
        > /tmp/win.txt 2>&1
    emit window-listing /tmp/win.txt
    umount /tmp/win
fi
run 1
for f in "$STORE"/*/SHA256SUMS "$STORE"/*/COMPLETE "$STORE"/*/INCOMPLETE; do
    [ -f "$f" ] && emit "store-${f##*/}" "$f"
done
touch /tmp/upload-ok
run 2
run 3
emit meminfo-recovered /proc/meminfo
emit zoneinfo-recovered /proc/zoneinfo
"""


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

    def render(self) -> str:
        return (
            f"CRASH_APPEND='{self.crash_append}'\nFORCE_ARM='{self.force_arm}'\n"
            f"KEEP_VMCORE='{'1' if self.keep_vmcore else ''}'\nREFERENCE='{'1' if self.reference else ''}'\n"
            f"CAPTURE_MODE='{self.capture_mode}'\nWINDOW_START='{self.window_start:#x}'\n"
            f"ARM_MODE='{self.arm_mode}'\nSTORE='{self.store}'\n"
            f"DISK_LABEL='{self.disk_label}'\nDISK_FSTYPE='{self.disk_fstype}'\n"
            "OFFLINE_BLOCKS=''\nHOTPLUG_START=''\n"
        )


def production_stages(*, panic: bool) -> Mapping[str, str]:
    table = {"35-disks": DISKS, "40-arm": ARM}
    if panic:
        table["50-panic"] = PANIC
    return table


def recovery_stages() -> Mapping[str, str]:
    return {"35-disks": DISKS, "60-recover": RECOVER}
