# 80-kdump-tools: Debian's kdump-tools through a crash (crash.stack: kdump-tools; lab/system/kdump_cycle.py).
# The boot after the crash finds the dump kdump-config saved under KDUMP_COREDIR and reports it; any other boot
# reports what kdump-tools.service loaded (kdump-config show, its kexec command, the reservation) and panics.
COREDIR=/var/crash
dump=$(find "$COREDIR" -mindepth 2 -maxdepth 2 \( -name "dump.*" -o -name "vmcore.*" \) 2>/dev/null | sort | head -n 1)
if [ -n "$dump" ]; then
    size=$(stat -c %s "$dump")
    sum=$(sha256sum < "$dump" | cut -d' ' -f1)
    obs kdump-dump "\"path\":\"$dump\",\"size\":$size,\"sha256\":\"$sum\""
    ls -la --time-style=+ "$COREDIR" "$COREDIR"/2* > /run/layoutc-kdump-ls 2>&1
    emit kdump-ls /run/layoutc-kdump-ls
    for f in "$COREDIR"/2*/dmesg.*; do
        [ -f "$f" ] && tail -c 3000 "$f" > /run/layoutc-kdump-dmesg && emit kdump-dmesg /run/layoutc-kdump-dmesg
    done
else
    systemctl show -p Id,ActiveState,SubState,Result,ExecMainStatus kdump-tools.service > /run/layoutc-kdump-unit 2>&1
    emit kdump-unit /run/layoutc-kdump-unit
    kdump-config show > /run/layoutc-kdump-show 2>&1
    emit kdump-show /run/layoutc-kdump-show
    emit kdump-kexec-cmd "$COREDIR/kexec_cmd"
    journalctl -b -o short-monotonic --no-pager -u kdump-tools.service > /run/layoutc-journal-kdump 2>&1
    emit journal-kdump-tools /run/layoutc-journal-kdump
    ls -laL /var/lib/kdump > /run/layoutc-kdump-lib 2>&1
    emit kdump-lib /run/layoutc-kdump-lib
    emit kexec_crash_size /sys/kernel/kexec_crash_size
    emit kexec_crash_loaded /sys/kernel/kexec_crash_loaded
    emit proc-cmdline /proc/cmdline
    obs kdump-panic "\"at\":\"$(cut -d' ' -f1 /proc/uptime)\""
    sync
    echo 1 > /proc/sys/kernel/sysrq
    echo c > /proc/sysrq-trigger
fi
