# 10-facts: what the kernel shows of memory, the crash reservation and the memory blocks
emit cmdline /proc/cmdline
emit iomem /proc/iomem
emit zoneinfo /proc/zoneinfo
emit meminfo /proc/meminfo
emit block_size_bytes /sys/devices/system/memory/block_size_bytes
emit auto_online_blocks /sys/devices/system/memory/auto_online_blocks
emit kexec_crash_size /sys/kernel/kexec_crash_size
emit kexec_crash_cma_ranges /sys/kernel/kexec_crash_cma_ranges
blocks blocks-boot
LSMEM_COLUMNS=RANGE,SIZE,STATE,REMOVABLE,BLOCK,NODE,ZONES
lsmem -J -b -o "$LSMEM_COLUMNS" > "$SCRATCH"/lsmem.json 2>/dev/null && emit lsmem.json "$SCRATCH"/lsmem.json
lsmem -o "$LSMEM_COLUMNS" > "$SCRATCH"/lsmem.txt 2>/dev/null && emit lsmem.txt "$SCRATCH"/lsmem.txt
