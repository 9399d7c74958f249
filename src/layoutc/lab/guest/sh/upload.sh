#!/bin/sh
# lab upload command ({dump} = the stored vmcore): fails until $SCRATCH/upload-ok exists, then exports the dump
SCRATCH=${SCRATCH:-/scratch}  # set by the guest's /init; recover.sh passes its environment on
n=$(cat "$SCRATCH"/uploads 2>/dev/null || echo 0)
echo $((n + 1)) > "$SCRATCH"/uploads
if [ ! -e "$SCRATCH"/upload-ok ]; then
    echo "lab upload: simulated network failure" >&2
    exit 1
fi
d=""
for b in /sys/block/vd*; do [ "$(cat "$b/serial" 2>/dev/null)" = export ] && d=${b##*/}; done
[ -n "$d" ] || exit 1
dd if="$1" of="/dev/$d" bs=1M conv=fsync 2>/dev/null || exit 1
sum=$(sha256sum "$1" | cut -d' ' -f1)
echo "LAYOUTC-OBS {\"kind\":\"upload\",\"bytes\":$(stat -c %s "$1"),\"sha256\":\"$sum\"}" > /dev/console
