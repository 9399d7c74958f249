"""Where the production kernel image lies (docs/reference/kernel-rules.md §3.6).

Physical KASLR (LNX:arch/x86/boot/compressed/kaslr.c choose_random_location) picks any free
slot of RAM that avoids at most MAX_MEMMAP_REGIONS memmap= ranges; it knows nothing of
movablecore=, so it can put the image inside the future ZONE_MOVABLE (measured: 2-3 of 16 boots;
capture qemu-k7-pc-8G-numa2/movablecore-512M has "Kernel code" at 0x136600000 inside node 0's
Movable zone and block 39 EBUSY on it). With ``nokaslr`` the image runs at LOAD_PHYSICAL_ADDR.
"""

from __future__ import annotations

from layoutc.model.units import MiB, align_up

# LNX:arch/x86/Kconfig PHYSICAL_START default 0x1000000; PHYSICAL_ALIGN 0x200000.
LOAD_PHYSICAL_ADDR = 16 * MiB
PHYSICAL_ALIGN = 2 * MiB
# LNX:arch/x86/boot/compressed/kaslr.c MAX_MEMMAP_REGIONS: more memmap= ranges abort randomization.
MAX_MEMMAP_REGIONS = 4


def fixed_image(image_size: int) -> tuple[int, int]:
    """The image's physical range under ``nokaslr``: [16 MiB, 16 MiB + size rounded to 2 MiB)."""
    return LOAD_PHYSICAL_ADDR, LOAD_PHYSICAL_ADDR + align_up(image_size, PHYSICAL_ALIGN)
