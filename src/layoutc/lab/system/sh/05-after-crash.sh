# 05-after-crash (--stage full): the boot after the crash kernel's reboot (95-crash left the mark on the root).
# It reports what that boot shows (its /proc/cmdline: the recovery entry's, layoutc-recover.service, the stored
# dump's checksums, layoutc status) and powers off before the boot stage's facts would run a second time.
if [ -e /var/lib/layoutc-lab/crashed ]; then
    obs after-crash '"mark":true'
    # recover.sh's hand-back onlines the window's blocks, and udev starts a re-arm for each event (each reloads
    # the crash kernel unless System RAM is what arm.sh last armed with): what is read below is the state once
    # they have run (01-settle-rearm.sh)
    settle_rearm
    obs rearm-settled "\"waited_s\":$REARM_WAITED,\"boot\":\"after-crash\""
    AFTER=/run/layoutc-after  # the guest's tmpfs (the stage disk is mounted read-only)
    mkdir -p "$AFTER"
    emit cmdline-after /proc/cmdline
    AFTER_PROPS=Id,ActiveState,SubState,Result,ExecMainStatus,ActiveEnterTimestampMonotonic,InactiveExitTimestampMonotonic
    systemctl show -p "$AFTER_PROPS" local-fs.target layoutc-recover.service layoutc-arm.service \
        layoutc-lab-stage.service > "$AFTER"/units-after 2>&1
    emit units-after "$AFTER"/units-after
    journalctl -b -o short-monotonic --no-pager -u 'layoutc-*' > "$AFTER"/journal-after 2>&1
    emit journal-after "$AFTER"/journal-after
    # the crashed boot's last layoutc lines (the root keeps a persistent journal)
    journalctl -b -1 -o short-monotonic --no-pager -u 'layoutc-*' 2>&1 | tail -n 40 > "$AFTER"/journal-before
    emit journal-before "$AFTER"/journal-before
    systemctl list-units --failed --plain --no-legend > "$AFTER"/failed-after 2>&1
    emit failed-after "$AFTER"/failed-after
    emit kexec_crash_loaded-after /sys/kernel/kexec_crash_loaded
    find /var/crash -type f -exec sha256sum {} + > "$AFTER"/store-sums 2>&1
    emit store-sums "$AFTER"/store-sums
    for sums in /var/crash/*/SHA256SUMS; do
        [ -f "$sums" ] && emit store-SHA256SUMS "$sums"
    done
    run_status recovered
    echo "LAYOUTC-DONE"
    sync
    systemctl poweroff --no-block
    exit 0
fi
