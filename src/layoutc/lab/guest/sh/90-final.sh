# 90-final: meminfo and dmesg, last
emit meminfo-final /proc/meminfo
dmesg > /tmp/dmesg
emit dmesg /tmp/dmesg
