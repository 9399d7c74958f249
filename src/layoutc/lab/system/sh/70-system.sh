# 70-system: what systemd, the boot loader and the installed layout left (a Debian system guest only)
UNITS="local-fs.target layoutc-arm.service layoutc-rearm.service layoutc-lab-stage.service multi-user.target kdump-tools.service"
PROPS=Id,ActiveState,SubState,Result,ExecMainStatus,ActiveEnterTimestampMonotonic,InactiveExitTimestampMonotonic
# shellcheck disable=SC2086 # one word per unit
systemctl show -p "$PROPS" $UNITS > /tmp/units 2>&1
emit units /tmp/units
systemctl list-units --failed --plain --no-legend > /tmp/failed 2>&1
emit failed-units /tmp/failed
journalctl -b -o json --no-pager -u layoutc-arm.service > /tmp/journal-arm 2>&1
emit journal-arm /tmp/journal-arm
journalctl -b -o short-monotonic --no-pager -u 'layoutc-*' > /tmp/journal-layoutc 2>&1
emit journal-layoutc /tmp/journal-layoutc
emit pid1 /proc/1/comm
emit kexec_crash_loaded /sys/kernel/kexec_crash_loaded
stat -L -c '%s %n' "/boot/initrd.img-$(uname -r)" > /tmp/initrd-size 2>&1
emit initrd-size /tmp/initrd-size
emit os-release /etc/os-release
