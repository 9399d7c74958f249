"""Writing the dump: kdump-compressed and ELF outputs, sinks, codecs, progress."""
