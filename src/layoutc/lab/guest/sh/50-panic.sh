# 50-panic: crash through sysrq when a crash kernel is loaded
if [ "$(loaded)" = 1 ]; then
    obs panic "\"at\":\"$(cut -d' ' -f1 /proc/uptime)\""
    sync
    # On CPU $PANIC_CPU (the plan's; 0, the boot CPU, by default): an x86 crash kernel started on another
    # CPU keeps the real boot CPU down (an INIT to it would reset the machine:
    # arch/x86/kernel/cpu/topology.c check_for_real_bsp(), seen on 7.2), so a two-CPU guest's crash kernel
    # would get one CPU or two depending on where the panic ran. taskset takes a hexadecimal mask.
    taskset "$(printf %x $((1 << ${PANIC_CPU:-0})))" sh -c 'echo c > /proc/sysrq-trigger' 2>/dev/null
    echo c > /proc/sysrq-trigger
fi
obs panic-skipped "\"loaded\":\"$(loaded)\""
