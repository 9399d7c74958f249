"""How far physical memory can reach, and the smallest memory block, per architecture.

Every address of a profile is bounded by the architecture's widest physical address width,
so no computation downstream ever sees an address the kernel could not map (and none of them
grows with a hostile exabyte range).

* x86_64: LNX:arch/x86/include/asm/sparsemem.h ``MAX_PHYSMEM_BITS (pgtable_l5_enabled ? 52 : 46)``
  (read at torvalds/linux master, 7.x): 52 bits with 5-level paging, 46 with 4-level.
* arm64: LNX:arch/arm64/include/asm/sparsemem.h ``MAX_PHYSMEM_BITS CONFIG_ARM64_PA_BITS``, 48 or
  52 (52-bit PA: 64K pages, or LPA2 with 4K/16K pages).

A profile does not say which paging mode or PA_BITS its kernel is built with, so the bound is
the widest the architecture allows, 2^52 for both. Memory past the running kernel's own limit
is cut off at boot (LNX:mm/sparse.c mminit_validate_memmodel_limits: "End of range ... exceeds
SPARSEMEM max"); the profile error catches a typo such as ``1E`` before any arithmetic.

The smallest memory block is one section: LNX:include/linux/memory.h ``MIN_MEMORY_BLOCK_SIZE
(1UL << SECTION_SIZE_BITS)``; LNX:drivers/base/memory.c memory_dev_init() panics unless
``memory_block_size_bytes()`` is a power of two of at least that size (read at torvalds/linux
master, 7.x). SECTION_SIZE_BITS is 27 on x86_64 and on arm64 with 4K pages (since 5.12).
"""

from __future__ import annotations

from layoutc.model.profile import Arch

# Widest MAX_PHYSMEM_BITS of each architecture (see the module docstring).
MAX_PHYSMEM_BITS = {Arch.X86_64: 52, Arch.ARM64: 52}
# MAX_PHYSMEM_BITS of the narrower configuration, for messages (4-level paging; 48-bit PA).
NARROW_PHYSMEM_BITS = {Arch.X86_64: 46, Arch.ARM64: 48}
SECTION_SIZE_BITS = {Arch.X86_64: 27, Arch.ARM64: 27}


def address_limit(arch: Arch) -> int:
    """The first byte past the widest physical address space of ``arch`` (ends may equal it)."""
    return 1 << MAX_PHYSMEM_BITS[arch]


def min_block_size(arch: Arch) -> int:
    """MIN_MEMORY_BLOCK_SIZE: one memory section."""
    return 1 << SECTION_SIZE_BITS[arch]
