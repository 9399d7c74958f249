#!/bin/sh
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
SCRATCH=/scratch  # the stages' own files, on a tmpfs of their own
export SCRATCH
mkdir -p "$SCRATCH"
mount -t tmpfs tmpfs "$SCRATCH"
dmesg -n 1
echo "LAYOUTC-START $(uname -r)"
while read -r ko; do
    insmod "$ko" 2>$SCRATCH/insmod.err && continue
    # shellcheck disable=SC1003 # deletes quotes and backslashes
    err=$(tr -d '"\\' <$SCRATCH/insmod.err | head -c 200)
    echo "LAYOUTC-OBS {\"kind\":\"insmod\",\"module\":\"${ko##*/}\",\"error\":\"$err\"}"
done < /lab/modules
# shellcheck source=/dev/null # written by the host: GuestPlan.render or CyclePlan.render
. /lab/plan
for stage in /lab/stages/*; do
    # shellcheck source=/dev/null # the stages in /lab/stages
    [ -f "$stage" ] && . "$stage"
done
echo "LAYOUTC-DONE"
sync
poweroff -f
