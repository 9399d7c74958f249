# 95-crash (--stage full): after the boot stage's facts, the crash. A mark on the root (05-after-crash reads it
# on the next boot), then the panic: the kernel the installed layoutc-arm.service loaded takes over.
if [ "$(cat /sys/kernel/kexec_crash_loaded 2>/dev/null)" = 1 ]; then
    mkdir -p /var/lib/layoutc-lab
    uname -r > /var/lib/layoutc-lab/crashed
    sync
    echo "LAYOUTC-DONE"
    echo "LAYOUTC-PANIC"
    sleep 1
    echo c > /proc/sysrq-trigger
fi
