"""The importer's and probe's diagnostic codes (LC4xx), each with the rule it enforces.

Codes are stable: tools and tests match on them. ``IMPORT_CODES`` maps a code to a one-line
summary; ``RULES`` holds the rule text that goes into each diagnostic's ``rule`` field.
"""

from __future__ import annotations

IMPORT_CODES: dict[str, str] = {
    "LC401": "SYSINFO path or a required capture file is missing or unreadable",
    "LC402": "malformed /proc/iomem line",
    "LC403": "malformed lsmem output (JSON or text)",
    "LC404": "malformed block_size_bytes",
    "LC405": "malformed /proc/zoneinfo",
    "LC406": "malformed dmesg line (a recognised message with unexpected text)",
    "LC407": "malformed SysInfo JSON",
    "LC408": "malformed cmdline, uname-r or layout parameter",
    "LC409": "/proc/iomem read without privileges (every address is zero)",
    "LC410": "no kernel version in the capture",
    "LC411": "no RAM in the capture",
    "LC412": "--strategy needs crashkernel=,cma but the captured kernel is older than 6.17",
    "LC413": "--strategy needs an SRAT (hotplug window) but the capture shows none",
    "LC414": "warning: a layout parameter's effect cannot be undone from this capture",
    "LC415": "warning: two sources of the capture disagree about RAM",
    "LC416": "warning: RAM that no NUMA node range covers",
    "LC417": "board name not accepted by the profile schema",
    "LC418": "note: an optional source was unavailable (dmesg, lsmem, zoneinfo, ...)",
    "LC419": "--strategy not possible on arm64 (no crashkernel=,cma, no hotplug window)",
    "LC420": "SysInfo JSON of an unknown format version",
    "LC421": "the captured map has overlapping entries",
    "LC422": "the captured map has more entries than a profile holds (256)",
    "LC423": "malformed kernel configuration or modules capture",
    "LC424": "warning: an option built as a module whose module file the kernel's module directory lacks",
    "LC425": "note: no initrd of the running kernel found under /boot: boot.initrd_size is not imported",
    "LC426": "malformed boot capture (initrd size and path, efi)",
    "LC430": "malformed fdt.dtb (the device tree the kernel booted with)",
    "LC431": "the capture was taken inside a crash kernel (its device tree carries kexec's crash marks)",
    "LC432": "warning: the device tree's memory and /proc/iomem's System RAM disagree",
    "LC433": "warning: an arm64 capture without fdt.dtb: the map comes from /proc/iomem, the nodes from zoneinfo/sysfs",
}

RULES: dict[str, str] = {
    "LC401": "a SYSINFO is probe's JSON file or a directory of raw captures with at least 'iomem' "
    "(or, for a block-granular map, 'lsmem.json'/'lsmem.txt')",
    "LC402": "/proc/iomem lines are 'START-END : NAME' in hex, inclusive END, two spaces of indent per "
    "nesting level (kernel/resource.c r_show)",
    "LC403": "lsmem rows are RANGE 0xSTART-0xEND (inclusive, block-granular) with SIZE, STATE, REMOVABLE, "
    "BLOCK, NODE, ZONES columns (util-linux sys-utils/lsmem.c)",
    "LC404": "block_size_bytes is hex without 0x, a power of two (drivers/base/memory.c, "
    "docs/reference/kernel-rules.md §4.1)",
    "LC405": "/proc/zoneinfo has 'Node N, zone NAME' headers with spanned/present/managed/start_pfn "
    "counters (mm/vmstat.c zoneinfo_show_print)",
    "LC406": "dmesg lines are matched by their prefix (BIOS-e820:, ACPI: SRAT:, Movable zone start, "
    "crashkernel ...); a line with a known prefix must have the kernel's format",
    "LC407": "SysInfo JSON is the object 'layoutc probe' prints (format layoutc-sysinfo/1)",
    "LC408": "the kernel splits its cmdline at spaces outside double quotes (lib/cmdline.c next_arg), "
    "sizes are memparse() numbers, and 'uname -r' prints one release string starting MAJOR.MINOR",
    "LC409": "/proc/iomem shows zero addresses to readers without CAP_SYS_ADMIN (kernel/resource.c)",
    "LC410": "profiles need kernel.version; it comes from uname-r or dmesg 'Linux version'",
    "LC411": "a board has System RAM",
    "LC412": "crashkernel=,cma landed in Linux 6.17 (commits 35c18f2933c5, ab475510e042; "
    "docs/reference/kernel-rules.md §1.5)",
    "LC413": "dax/kmem needs a NUMA node to hand the window back (docs/reference/kernel-rules.md §3.5)",
    "LC414": "the imported map is the board's, before layout parameters (docs/import.md)",
    "LC415": "e820, /proc/iomem and lsmem describe the same RAM once layout parameters are undone",
    "LC416": "the kernel assigns memory to nodes from the SRAT's memory affinity ranges (numa_meminfo)",
    "LC417": "board names are lower-case letters, digits, '.', '_' and '-' (profile schema)",
    "LC418": "probe reads what the device offers; missing optional sources lower the import's fidelity",
    "LC419": "arm64 has no memmap=!: its window is a device-tree pmem-region in ZONE_MOVABLE (docs/reference/"
    "kernel-rules.md §8.5), and boot memory cannot be offlined, so there is no hotplug window; crashkernel=,cma is "
    "x86 since 6.17 (§1.5), ignored by the arm64 kernels measured",
    "LC420": "SysInfo JSON carries 'format': 'layoutc-sysinfo/1'",
    "LC421": "e820 and the iomem top level are sanitized maps: no entry overlaps another "
    "(e820__update_table)",
    "LC422": "memory.map holds at most 256 ranges (profile schema)",
    "LC423": "a kernel .config has 'CONFIG_X=y|m|\"text\"|number' and '# CONFIG_X is not set' lines "
    "(scripts/kconfig/confdata.c conf_write_symbol); the modules file has 'builtin NAME' or 'module NAME' lines",
    "LC424": "an option built =m works only when its module is installed for the running kernel "
    "(modprobe reads /lib/modules/RELEASE/modules.dep; kmod libkmod-module.c)",
    "LC425": "the kernel keeps the production initrd reserved while it places the crash areas, where the loader put "
    "it by its size (LNX:arch/x86/kernel/setup.c early_reserve_initrd); "
    "probe measures /boot/initrd.img-RELEASE, /boot/initramfs-RELEASE.img, /boot/initrd.img or /initrd.img",
    "LC426": "the boot capture has 'initrd SIZE PATH TARGET' or 'initrd none', and 'efi yes|no' lines",
    "LC430": "fdt.dtb is a flattened device tree (DTSpec v0.4 chapter 5) of at most 2 MiB whose memory nodes, "
    "/reserved-memory and /chosen have whole reg pairs in their parent's cells (LNX:drivers/of/fdt.c "
    "early_init_dt_scan_memory)",
    "LC431": "kexec-tools gives a crash kernel /chosen linux,elfcorehdr and linux,usable-memory-range; that kernel "
    "sees only the crash reservation (LNX:drivers/of/fdt.c early_init_dt_check_for_usable_mem_range)",
    "LC432": "the device tree is the memory the firmware gave the kernel; System RAM in /proc/iomem is what the kernel "
    "kept of it after mem= and no-map reservations (LNX:arch/arm64/kernel/setup.c request_standard_resources)",
    "LC433": "without a device tree (ACPI arm64 servers) the firmware's map is not captured; NUMA nodes come from "
    "/proc/zoneinfo or the memory blocks' node links in sysfs",
}
