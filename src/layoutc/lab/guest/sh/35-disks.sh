# 35-disks: crash-cycle helpers: lab disks by virtio serial, pmem devices, kexec_crash_loaded
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
    done > "$SCRATCH"/pmem
    emit "$1" "$SCRATCH"/pmem
}
loaded() { cat /sys/kernel/kexec_crash_loaded 2>/dev/null || cat /sys/kernel/kexec/crash_loaded 2>/dev/null; }
