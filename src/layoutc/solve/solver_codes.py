"""The solver's diagnostic codes (LC3xx) with the rule each one enforces.

Docs (docs/how-layouts-are-solved.md) and tests list this table; a code never changes meaning.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    title: str
    rule: str  # the rule text, citing docs/reference/kernel-rules.md §7 and the kernel source


CODES: tuple[Code, ...] = (
    Code("LC301", "dependency cycle", "the constraint graph must be acyclic; every participant is named"),
    Code(
        "LC302",
        "window does not fit",
        "docs/reference/kernel-rules.md §7.16: the window lies in ZONE_MOVABLE of its node, below the guard over "
        "the early "
        "top-of-node memblock allocations (LNX:mm/mm_init.c find_zone_movable_pfns_for_nodes)",
    ),
    Code(
        "LC303",
        "window returns no whole block",
        "docs/reference/kernel-rules.md §7.11/§7.28: dax/kmem hot-adds whole memory blocks only "
        "(LNX:drivers/dax/kmem.c dax_kmem_range)",
    ),
    Code(
        "LC304",
        "crashkernel cannot be placed safely",
        "docs/reference/kernel-rules.md §7.20: crashkernel= must land outside ZONE_MOVABLE and the window "
        "(LNX:kernel/crash_reserve.c reserve_crashkernel_generic)",
    ),
    Code(
        "LC305",
        "crashkernel offset misaligned or not free",
        "docs/reference/kernel-rules.md §7.9: crashkernel=SIZE@OFFSET needs OFFSET % 16 MiB == 0 and free RAM "
        "there (x86 CRASH_ALIGN)",
    ),
    Code(
        "LC306",
        "crash CMA area breaks a zone or the window",
        "docs/reference/kernel-rules.md §7.14/§7.21: each CMA area lies in one zone (LNX:mm/cma.c "
        "cma_activate_area) and "
        "outside the window (§7.17)",
    ),
    Code(
        "LC307",
        "window base misaligned",
        "docs/reference/kernel-rules.md §7.10: the window base is a multiple of memremap_compat_align() (2 MiB on x86; "
        "LNX:drivers/nvdimm/pfn_devs.c nd_pfn_init) and of the pmem region alignment (16 MiB; "
        "LNX:drivers/nvdimm/region_devs.c default_align, enforced by ndctl)",
    ),
    Code(
        "LC308",
        "window outside ZONE_MOVABLE or inside the guard",
        "docs/reference/kernel-rules.md §7.16 and §2.3: the window lies inside ZONE_MOVABLE and clear of the "
        "early allocations",
    ),
    Code(
        "LC309",
        "window over non-RAM or a reserved range",
        "docs/reference/kernel-rules.md §7.15/§7.18: memmap=! outranks every e820 type, so the window stays "
        "inside one RAM range "
        "and off the low 1 MiB and the kernel image",
    ),
    Code(
        "LC310",
        "crash reservation too small",
        "docs/reference/kernel-rules.md §7.9/§7.29: the reservation holds the crash kernel, its initrd and their "
        "runtime",
    ),
    Code(
        "LC311",
        "command line too long",
        "docs/reference/kernel-rules.md §7.7: x86 COMMAND_LINE_SIZE is 2048 bytes, minus the kexec_file "
        "elfcorehdr= prefix",
    ),
    Code(
        "LC312",
        "size not below RAM",
        "docs/reference/kernel-rules.md §7.27: crashkernel and movablecore must be smaller than System RAM",
    ),
    Code(
        "LC313",
        "movable zone much larger than kernel memory",
        "docs/reference/kernel-rules.md §7.27: MOVABLE:KERNEL beyond about 3:1 starves kernel allocations "
        "(memory-hotplug.rst)",
    ),
    Code(
        "LC314",
        "ZONE_MOVABLE start not block-aligned",
        "docs/reference/kernel-rules.md §7.13: the zone start is rounded to 4 MiB, not to a block; the straddling "
        "block cannot be offlined",
    ),
    Code(
        "LC315",
        "solved layout breaks a rule",
        "every applicable docs/reference/kernel-rules.md §7 rule holds on the result (layoutc.solve.check); this "
        "is a solver bug",
    ),
    Code(
        "LC316",
        "KASLR kept with a movable window",
        "docs/reference/kernel-rules.md §7.19: KASLR may put the kernel image inside ZONE_MOVABLE; the arm "
        "script's runtime "
        "check of /proc/iomem is then the only guard",
    ),
    Code(
        "LC317",
        "window too large for memory",
        "the window (and, for movable, its zone) must leave the kernel its memory: docs/reference/kernel-rules.md "
        "§7.27",
    ),
    Code(
        "LC318",
        "window size not a multiple of the pmem region alignment",
        "LNX:drivers/nvdimm/region_devs.c default_align(): 16 MiB for regions of 16 MiB or more; ndctl "
        "refuses to reconfigure a namespace of another size (measured in the lab)",
    ),
    Code(
        "LC319",
        "explicit crash reservation or CMA size below the sizing model's need",
        "docs/reference/kernel-rules.md §7.29, §1.5: the reservation holds what kexec loads and (classic) the "
        "crash kernel's runtime; with ,cma the runtime lives in the CMA part (layoutc.kernel.sizing)",
    ),
    Code(
        "LC320",
        "the boot loader cannot load an initrd of the profile's size",
        "the loader's limits on where an initrd may go (layoutc.kernel.bootloader: QEMU x86_load_linux, GRUB "
        "grub_cmd_initrd); the profile's boot.initrd_size must fit below them",
    ),
    Code(
        "LC321",
        "warning: the firmware may put the initrd over a crash area, which would move it",
        "the initrd stays memblock-reserved while crashkernel= and ,cma are placed (LNX:arch/x86/kernel/setup.c "
        "early_reserve_initrd before arch_reserve_crashkernel); under the EFI stub the firmware chooses its "
        "pages (LNX:drivers/firmware/efi/libstub/mem.c efi_allocate_pages)",
    ),
    Code(
        "LC330",
        "arm64 window not in the highest-addressed node",
        "docs/reference/kernel-rules.md §8.6: the arm64 recovery boot keeps the window out of memblock with "
        "mem= (LNX:arch/arm64/mm/init.c early_mem, arm64_memblock_init -> memblock_mem_limit_remove_map), "
        "which removes every byte above the window's start; only a window in the node that holds the highest "
        "RAM leaves the other nodes to the recovery boot",
    ),
)

CODE2RULE = {c.code: c.rule for c in CODES}
