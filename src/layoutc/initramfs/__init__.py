"""The crash initramfs of a board: a plan of every file from a device's root (``build``), measured against
the crash kernel's memory (``fit``); ``layoutc.writer.cpio`` writes it (docs/initramfs.md)."""
