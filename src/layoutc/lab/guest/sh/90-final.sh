# 90-final: meminfo and dmesg, last
emit meminfo-final /proc/meminfo
dmesg > "$SCRATCH"/dmesg
emit dmesg "$SCRATCH"/dmesg
