#!/bin/sh
# lab glue of the crash initramfs: report, keep /proc/vmcore, reference dump; then the generated /init
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
SCRATCH=/scratch  # the stages' own files, on a tmpfs of their own
export SCRATCH
mkdir -p "$SCRATCH"
mount -t tmpfs tmpfs "$SCRATCH"
# the crash cmdline is arm.sh's (the board's console may not be the serial port): talk to the serial port
# directly: arm64 virt's PL011 first (its kernel also makes ttyS* nodes for 8250 ports that do not exist)
if [ -c /dev/ttyAMA0 ]; then exec > /dev/ttyAMA0 2>&1; elif [ -c /dev/ttyS0 ]; then exec > /dev/ttyS0 2>&1; fi
dmesg -n 1
echo "LAYOUTC-START $(uname -r)"
# shellcheck source=/dev/null # written by the host: 00-common.sh and 35-disks.sh
. /lab/common
# shellcheck source=/dev/null # written by the host: CyclePlan.render
. /lab/plan
grep virtio /lab/modules | while read -r ko; do insmod "$ko" 2>/dev/null; done
# what the layout's module list lacks and this kernel builds =m (arm64: ext4), so the capture can mount
for m in $LAB_MODPROBE; do modprobe "$m" || obs modprobe "\"module\":\"$m\",\"rc\":1"; done
if [ -r /proc/vmcore ]; then v=true; sz=$(stat -c %s /proc/vmcore); else v=false; sz=0; fi
kb=$(sed -n 's/MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)
obs crash-kernel "\"vmcore\":$v,\"vmcore_bytes\":$sz,\"memtotal_kb\":$kb"
emit cmdline-crash /proc/cmdline
emit iomem-crash /proc/iomem
# /proc/vmcore's PT_LOAD ranges (the host checks them against the production kernel's crash CMA)
python3 /lab/phdrs.py > $SCRATCH/phdrs 2>&1 && emit vmcore-phdrs $SCRATCH/phdrs
if [ -n "$KEEP_VMCORE" ] && d=$(disk vmcore); then
    t0=$(date +%s)
    dd if=/proc/vmcore of="/dev/$d" bs=1M 2>$SCRATCH/dd.err
    obs keep-vmcore "\"rc\":$?,\"bytes\":$sz,\"seconds\":$(( $(date +%s) - t0 ))"
fi
if [ -n "$REFERENCE" ] && d=$(disk scratch); then
    mkdir -p /lab/scratch && mount -t ext4 "/dev/$d" /lab/scratch
    t0=$(date +%s)
    python3 /usr/lib/layoutc/dump.pyz --spec /lab/reference-filter.json /proc/vmcore /lab/scratch/reference.vmcore \
        > $SCRATCH/ref.out 2>&1
    rc=$?
    emit reference-output $SCRATCH/ref.out
    n=$(stat -c %s /lab/scratch/reference.vmcore 2>/dev/null || echo 0)
    obs reference-dump "\"rc\":$rc,\"bytes\":$n,\"seconds\":$(( $(date +%s) - t0 ))"
    sync
fi
if d=$(disk boot); then mkdir -p /boot && mount -t ext4 "/dev/$d" /boot; fi
obs capture-start "\"at\":\"$(cut -d' ' -f1 /proc/uptime)\""
if [ "$CAPTURE_MODE" = script ]; then
    # negative control: the generated capture.sh, then the window's dump is copied next to the reference
    for m in nd_e820 nd_pmem ext4; do modprobe "$m" 2>/dev/null; done
    mkdir -p /run
    mount -t tmpfs tmpfs /run
    /usr/lib/layoutc/capture.sh > $SCRATCH/capture.out 2>&1
    rc=$?
    emit capture-output $SCRATCH/capture.out
    pmem_list pmem-crash
    obs capture "\"rc\":$rc"
    dev=""
    while read -r name res _; do
        [ -n "$res" ] && [ $((res)) -eq $((WINDOW_START)) ] && dev=$name
    done < $SCRATCH/pmem
    mkdir -p /lab/window
    if mount -t ext4 -o ro "/dev/$dev" /lab/window && cp /lab/window/vmcore /lab/scratch/after.vmcore; then
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
    { ls /sys/firmware/efi; grep efivarfs /proc/filesystems; dmesg | grep -i -e 'efi[:v]' -e 'kexec'; } >$SCRATCH/efi 2>&1
    emit efi-crash $SCRATCH/efi
fi
dmesg -n 5
exec /usr/lib/layoutc/capture-init.sh
