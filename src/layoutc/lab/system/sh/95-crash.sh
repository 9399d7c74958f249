# 95-crash (--stage full): after the boot stage's facts, the crash. The boot stage's probe onlines and offlines
# the window's blocks, and udev starts layoutc-rearm.service for each event; a panic while its kexec -p is
# loading is not captured (the kernel skips the crash kexec when it cannot take the kexec lock), so the stage
# waits for udev and the re-arm to finish first (settle_rearm: 01-settle-rearm.sh). Then a mark on the
# root (05-after-crash reads it on the next boot) and the panic: the kernel layoutc-arm.service loaded takes over.
settle_rearm
obs crash-ready "\"rearm_wait_s\":$REARM_WAITED"
if [ "$(cat /sys/kernel/kexec_crash_loaded 2>/dev/null)" = 1 ]; then
    mkdir -p /var/lib/layoutc-lab
    uname -r > /var/lib/layoutc-lab/crashed
    sync
    echo "LAYOUTC-DONE"
    echo "LAYOUTC-PANIC"
    sleep 1
    echo c > /proc/sysrq-trigger
fi
