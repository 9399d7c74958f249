"""Where the boot loader puts the production initrd, which the kernel keeps reserved while it places
crashkernel= and the ``,cma`` areas.

The kernel reserves the initrd before it reserves crash memory:
LNX:arch/x86/kernel/setup.c setup_arch() calls early_reserve_memory() -> early_reserve_initrd()
(``memblock_reserve(ramdisk_image, PAGE_ALIGN(ramdisk_image + ramdisk_size) - ramdisk_image)``) long
before arch_reserve_crashkernel() (v6.1: reserve_crashkernel()), and the range stays reserved until
the initramfs is unpacked (free_initrd_mem). dmesg prints it as ``RAMDISK: [mem A-B]`` (reserve_initrd,
B = PAGE_ALIGN(end) - 1). Both 6.1 and 7.2 have this order.

Loaders (x86_64; the bzImage header of 6.1 and 7.2 has ``initrd_addr_max = 0x7fffffff`` and sets
XLF_CAN_BE_LOADED_ABOVE_4G, LNX:arch/x86/boot/header.S):

* ``direct`` -- QEMU ``-kernel/-initrd``, QEMU hw/i386/x86.c x86_load_linux (QEMU 7.2): with
  XLF_CAN_BE_LOADED_ABOVE_4G ``initrd_max = UINT32_MAX``, then capped at
  ``below_4g_mem_size - acpi_data_size``; ``initrd_addr = (initrd_max - size) & ~4095``.
  Measured (lab, QEMU 7.2, Debian 7.2): the cap is the end of e820 RAM below 4 GiB (the 128 KiB above
  it is firmware's): a 32 MiB initrd at ``RAMDISK: [mem 0xbdfe0000-0xbffdffff]`` on 4 GiB pc, the
  captures' 7.3 MiB one at 0xbf879000-0xbffdffff, and 0x7f879000-0x7ffdffff on a 2 GiB pc.
* ``grub-bios`` -- GRUB grub-core/loader/i386/linux.c grub_cmd_initrd (GRUB 2.06): ``aligned_size =
  ALIGN_UP(size, 4096)`` (``size`` from grub_get_initrd_size: the file's for one initrd), ``addr_max =
  min(initrd_addr_max, GRUB_LINUX_INITRD_MAX_ADDRESS = 0x37ffffff) - 0x10000``, ``addr = (addr_max -
  aligned_size) & ~0xfff``, then ``grub_relocator_alloc_chunk_align_safe(..., addr_min, addr,
  aligned_size, 0x1000, GRUB_RELOCATOR_PREFERENCE_HIGH)``, which subtracts ``aligned_size`` once more
  (include/grub/relocator.h: its ``max_addr`` is the highest *end*, and ``addr`` already is a start): the
  initrd starts at the highest free 4 KiB-aligned address at or below ``addr - aligned_size``, modelled as
  the highest such position inside e820 RAM; the kernel gets ``ramdisk_size = size``. Measured (lab,
  Debian GRUB 2.06-13 i386-pc on SeaBIOS, 4 GiB pc): Debian 7.2 with a 32 MiB initrd at ``RAMDISK: [mem
  0x33fef000-0x35feefff]``, one size below ``addr`` (the single-subtraction reading gave 0x35fef000); the
  Debian 12 system's 6.1 with its own 15,724,071-byte initrd at ``0x361f1000``, which only the page-aligned
  size gives (the byte size in both subtractions gave 0x361f2000, one page high).
* ``grub-efi``, ``systemd-boot`` -- the kernel's EFI stub loads the initrd itself
  (LNX:drivers/firmware/efi/libstub/x86-stub.c efi_load_initrd with the hard limit ULONG_MAX,
  efi-stub-helper.c efi_load_initrd_dev_path / file.c handle_cmdline_files -> mem.c
  efi_allocate_pages, ``AllocatePages(EFI_ALLOCATE_MAX_ADDRESS)``): the firmware chooses any free
  pages below the limit, so the model is a bound -- every page-aligned position in RAM above 1 MiB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from layoutc.model.profile import BootLoader as Loader
from layoutc.model.units import GiB, MiB, align_down, align_up

PAGE = 4096
INITRD_ADDR_MAX = 0x7FFFFFFF  # LNX:arch/x86/boot/header.S initrd_addr_max (x86_64, 6.1 and 7.2)
GRUB_LINUX_INITRD_MAX_ADDRESS = 0x37FFFFFF  # GRUB include/grub/i386/linux.h
GRUB_OLD_LINUX_SLACK = 0x10000  # grub_cmd_initrd: "avoid the last 64kb" (Linux 2.2/2.3 range-check bugs)
LOW_LIMIT = 4 * GiB
FIRST_MIB = 1 * MiB


class InitrdError(ValueError):
    """The loader cannot place an initrd of that size (QEMU exits, GRUB says "the initrd is too big")."""


@dataclass(frozen=True, slots=True)
class InitrdPlacement:
    """Where the initrd may start: exactly ``lowest`` when ``exact``, else any page in [lowest, highest]."""

    loader: Loader
    size: int
    lowest: int
    highest: int
    exact: bool

    @property
    def reserved(self) -> int:
        """Bytes memblock keeps reserved: PAGE_ALIGN(start + size) - start, start page-aligned."""
        return align_up(self.size, PAGE)

    @property
    def span(self) -> tuple[int, int]:
        """Every byte the initrd may occupy (the exact range when ``exact``)."""
        return self.lowest, self.highest + self.reserved


def place_initrd(loader: Loader | str, ram: Sequence[tuple[int, int]], size: int) -> InitrdPlacement:
    """The initrd of ``size`` bytes as ``loader`` places it in e820 RAM ``ram`` ([start, end) ranges)."""
    loader = Loader(loader)
    if loader is Loader.DIRECT:
        low_end = max((min(e, LOW_LIMIT) for s, e in ram if s < LOW_LIMIT), default=0)
        # XLF_CAN_BE_LOADED_ABOVE_4G: UINT32_MAX, then capped below the ACPI data; measured on QEMU 7.2 the
        # ceiling is the end of e820 RAM below 4 GiB itself (a 32 MiB initrd ends exactly at 0xbffe0000)
        initrd_max = min(0xFFFFFFFF, low_end)
        if size >= initrd_max:
            raise InitrdError(f"qemu: initrd is too large (max {initrd_max:#x})")
        start = (initrd_max - size) & ~(PAGE - 1)
        return InitrdPlacement(loader, size, start, start, True)
    if loader is Loader.GRUB_BIOS:
        addr_max = min(INITRD_ADDR_MAX, GRUB_LINUX_INITRD_MAX_ADDRESS) - GRUB_OLD_LINUX_SLACK
        aligned = align_up(size, PAGE)
        # grub_cmd_initrd's addr is a start; alloc_chunk_align_safe takes it as the end (measured, above);
        # both subtract the page-aligned size
        highest = ((addr_max - aligned) & ~(PAGE - 1)) - aligned
        for s, e in sorted(ram, reverse=True):
            start = align_down(min(highest, e - aligned), PAGE)
            if start >= max(s, FIRST_MIB):
                return InitrdPlacement(loader, size, start, start, True)
        raise InitrdError("the initrd is too big")
    usable = [(max(s, FIRST_MIB), e) for s, e in ram if e > FIRST_MIB]
    fits = [(align_up(s, PAGE), align_down(e - align_up(size, PAGE), PAGE)) for s, e in usable]
    fits = [(lo, hi) for lo, hi in fits if hi >= lo]
    if not fits:
        raise InitrdError("no RAM range holds the initrd")
    return InitrdPlacement(loader, size, min(lo for lo, _ in fits), max(hi for _, hi in fits), False)
