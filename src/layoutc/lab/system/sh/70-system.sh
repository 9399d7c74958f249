# 70-system: what systemd, the boot loader and the installed layout left (a Debian system guest only)
settle_rearm
obs rearm-settled "\"waited_s\":$REARM_WAITED"
UNITS="local-fs.target layoutc-arm.service layoutc-rearm.service layoutc-lab-stage.service multi-user.target kdump-tools.service"
PROPS=Id,ActiveState,SubState,Result,ExecMainStatus,ActiveEnterTimestampMonotonic,InactiveExitTimestampMonotonic
# shellcheck disable=SC2086 # one word per unit
systemctl show -p "$PROPS" $UNITS > /run/layoutc-units 2>&1
emit units /run/layoutc-units
systemctl list-units --failed --plain --no-legend > /run/layoutc-failed 2>&1
emit failed-units /run/layoutc-failed
journalctl -b -o json --no-pager -u layoutc-arm.service > /run/layoutc-journal-arm 2>&1
emit journal-arm /run/layoutc-journal-arm
journalctl -b -o short-monotonic --no-pager -u 'layoutc-*' > /run/layoutc-journal-layoutc 2>&1
emit journal-layoutc /run/layoutc-journal-layoutc
emit pid1 /proc/1/comm
emit kexec_crash_loaded /sys/kernel/kexec_crash_loaded
stat -L -c '%s %n' "/boot/initrd.img-$(uname -r)" > /run/layoutc-initrd-size 2>&1
emit initrd-size /run/layoutc-initrd-size
emit os-release /etc/os-release
