"""The bundled dumper: reads an ELF vmcore, writes filtered kdump-compressed, ELF or flattened dumps.

Standard library only at its core, and independent of the rest of layoutc: nothing here imports
a layoutc module outside this package, so ``layoutc dump`` starts without the compiler.
"""
