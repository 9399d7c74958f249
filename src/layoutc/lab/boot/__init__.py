"""Booting: QEMU machines that match a board, GRUB and EFI boots, the serial protocol."""
