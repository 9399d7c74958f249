# 45-kexec-probe (arm64, on demand): can kexec-tools load a crash kernel for this kernel? Records whether
# /proc/kallsyms lists _text (kexec-tools derives page_offset from it) and what kexec -p said.
if grep -q ' _text$' /proc/kallsyms; then text=yes; else text=no; fi
kexec -p -i /boot/Image --append="console=ttyAMA0 nr_cpus=1 reset_devices" > "$SCRATCH"/kexec.out 2>&1
rc=$?
obs kexec-probe "\"text\":\"$text\",\"rc\":$rc"
emit kexec-output "$SCRATCH"/kexec.out
emit kexec_crash_loaded /sys/kernel/kexec_crash_loaded
