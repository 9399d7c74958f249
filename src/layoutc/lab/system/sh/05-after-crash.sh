# 05-after-crash (--stage full): the boot after the crash kernel's reboot (95-crash left the mark on the root).
# It reports what that boot shows (its /proc/cmdline: the recovery entry's, layoutc-recover.service, the stored
# dump's checksums, layoutc status) and powers off before the boot stage's facts would run a second time.
if [ -e /var/lib/layoutc-lab/crashed ]; then
    obs after-crash '"mark":true'
    emit cmdline-after /proc/cmdline
    AFTER_PROPS=Id,ActiveState,SubState,Result,ExecMainStatus,ActiveEnterTimestampMonotonic,InactiveExitTimestampMonotonic
    systemctl show -p "$AFTER_PROPS" local-fs.target layoutc-recover.service layoutc-arm.service \
        layoutc-lab-stage.service > /tmp/units-after 2>&1
    emit units-after /tmp/units-after
    journalctl -b -o short-monotonic --no-pager -u 'layoutc-*' > /tmp/journal-after 2>&1
    emit journal-after /tmp/journal-after
    # the crashed boot's last layoutc lines (the root keeps a persistent journal)
    journalctl -b -1 -o short-monotonic --no-pager -u 'layoutc-*' 2>&1 | tail -n 40 > /tmp/journal-before
    emit journal-before /tmp/journal-before
    systemctl list-units --failed --plain --no-legend > /tmp/failed-after 2>&1
    emit failed-after /tmp/failed-after
    emit kexec_crash_loaded-after /sys/kernel/kexec_crash_loaded
    find /var/crash -type f -exec sha256sum {} + > /tmp/store-sums 2>&1
    emit store-sums /tmp/store-sums
    for sums in /var/crash/*/SHA256SUMS; do
        [ -f "$sums" ] && emit store-SHA256SUMS "$sums"
    done
    run_status recovered
    echo "LAYOUTC-DONE"
    sync
    systemctl poweroff --no-block
    exit 0
fi
