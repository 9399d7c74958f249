# 60-recover: the generated recover.sh three times: upload failing, upload working, again
pmem_list pmem-recovery
emit iomem-recovery /proc/iomem
blocks blocks-recovery-0
state() {
    { find "$STORE" /var/lib/layoutc -type f 2>/dev/null | sort; cat "$SCRATCH"/pmem; } > "$SCRATCH"/state
    emit "state-$1" "$SCRATCH"/state
}
run() {
    dash /usr/lib/layoutc/recover.sh > "$SCRATCH"/recover.out 2>&1
    rc=$?
    emit "recover-$1" "$SCRATCH"/recover.out
    pmem_list "pmem-after-$1"
    magic=none
    dev=$(cut -d' ' -f1 "$SCRATCH"/pmem | head -n 1)
    [ -n "$dev" ] && magic=$(dd if="/dev/$dev" bs=1 skip=1080 count=2 2>/dev/null | od -An -tx1 | tr -d ' \n')
    ups=$(cat "$SCRATCH"/uploads 2>/dev/null || echo 0)
    dumps=none
    [ -n "$DISK_LABEL" ] && disk_dumps "$1" && dumps=$(cat "$SCRATCH"/disk.n)
    obs recover "\"run\":$1,\"rc\":$rc,\"loaded\":\"$(loaded)\",\"uploads\":$ups,\"magic\":\"$magic\",\
\"disk\":\"$dumps\""
    blocks "blocks-recovery-$1"
    state "$1"
}
disk_dumps() { # disk target: mount the crash disk read-only, list it, count the COMPLETE dumps ($SCRATCH/disk.n)
    n=0
    part=$(blkid -l -o device -t "PARTLABEL=$DISK_LABEL" 2>/dev/null)
    mkdir -p "$SCRATCH"/crashdisk
    if [ -n "$part" ] && mount -t "$DISK_FSTYPE" -o ro "$part" "$SCRATCH"/crashdisk 2>"$SCRATCH"/disk.err; then
        for d in "$SCRATCH"/crashdisk/layoutc-*; do [ -f "$d/COMPLETE" ] && n=$((n + 1)); done
        { echo "$part"; ls -lR "$SCRATCH"/crashdisk; } > "$SCRATCH"/disk.txt 2>&1
        umount "$SCRATCH"/crashdisk
    else
        { echo "partition '$part'"; cat "$SCRATCH"/disk.err; } > "$SCRATCH"/disk.txt 2>&1
    fi
    emit "disk-$1" "$SCRATCH"/disk.txt
    echo "$n" > "$SCRATCH"/disk.n
}
dev=$(cut -d' ' -f1 "$SCRATCH"/pmem | head -n 1)
if [ -n "$dev" ] && mkdir -p "$SCRATCH"/win && mount -t ext4 -o ro "/dev/$dev" "$SCRATCH"/win 2>"$SCRATCH"/win.err; then
    { ls -l "$SCRATCH"/win; cat "$SCRATCH"/win/SHA256SUMS; (cd "$SCRATCH"/win && sha256sum -c SHA256SUMS); echo "rc=$?"; } \
        > "$SCRATCH"/win.txt 2>&1
    emit window-listing "$SCRATCH"/win.txt
    umount "$SCRATCH"/win
fi
run_status recovery-start
run 1
for f in "$STORE"/*/SHA256SUMS "$STORE"/*/COMPLETE "$STORE"/*/INCOMPLETE; do
    [ -f "$f" ] && emit "store-${f##*/}" "$f"
done
touch "$SCRATCH"/upload-ok
run 2
run 3
run_status recovered
emit meminfo-recovered /proc/meminfo
emit zoneinfo-recovered /proc/zoneinfo
