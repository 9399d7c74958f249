# 40-arm: the generated arm.sh production (recover.sh for a hotplug window), then what it loaded
if [ "$ARM_MODE" = hotplug ]; then
    # a hotplug window has no production mode: the recovery unit runs on every boot, returns the window to
    # RAM and arms with arm.sh recovery
    dash /usr/lib/layoutc/recover.sh > "$SCRATCH"/arm.out 2>&1
else
    /usr/lib/layoutc/arm.sh production > "$SCRATCH"/arm.out 2>&1
fi
rc=$?
emit arm-output "$SCRATCH"/arm.out
obs arm "\"mode\":\"$ARM_MODE\",\"rc\":$rc,\"loaded\":\"$(loaded)\""
if [ "$rc" -ne 0 ] && [ -n "$FORCE_ARM" ]; then
    # negative control only: load the crash kernel the way arm.sh would have, to show what it prevented
    # shellcheck disable=SC2086 # FORCE_ARM is kexec flags ("-s -p"), split on purpose
    kexec $FORCE_ARM /boot/crash/vmlinuz --initrd=/boot/crash/initrd.img --append="$CRASH_APPEND" \
        > $SCRATCH/kexec.out 2>&1
    obs forced-arm "\"rc\":$?,\"loaded\":\"$(loaded)\""
fi
emit kexec_crash_size-armed /sys/kernel/kexec_crash_size
for f in /sys/kernel/kexec/crash_cma_ranges /sys/kernel/kexec_crash_cma_ranges; do
    [ -r "$f" ] && { emit crash_cma_ranges-armed "$f"; break; }
done
run_status armed
