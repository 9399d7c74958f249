"""Reading the dump source: ELF /proc/vmcore, VMCOREINFO, physical map, page tables."""
