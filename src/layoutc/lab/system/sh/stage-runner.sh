#!/bin/sh
# layoutc-lab-stage.service: run the lab's stages from the stage disk (label LAYOUTCLAB), then power off.
# The stages are the busybox guest's (00-common, 10-facts, ...) plus 70-system; output is the lab's serial
# protocol on the console (LAYOUTC-BEGIN/END frames, LAYOUTC-OBS lines).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
LAB=/run/layoutc-lab
SCRATCH=/run/layoutc-lab-scratch  # the stages' own files
export SCRATCH
mkdir -p "$LAB" "$SCRATCH"
mount -o ro LABEL=LAYOUTCLAB "$LAB" || { echo "LAYOUTC-OBS {\"kind\":\"stage-disk\",\"mounted\":false}"; exit 1; }
export LAB
dmesg -n 1
echo "LAYOUTC-START $(uname -r)"
# shellcheck source=/dev/null # written by the host: GuestPlan.render
. "$LAB/lab/plan"
for stage in "$LAB"/lab/stages/*; do
    # shellcheck source=/dev/null # the stages on the stage disk
    [ -f "$stage" ] && . "$stage"
done
echo "LAYOUTC-DONE"
sync
systemctl poweroff --no-block
