"""The dynamic section of an ELF file, read with the standard library: what the loader needs.

A crash initramfs must carry every shared library of each binary it ships. This reads what the
dynamic loader reads (the ELF specification's program headers, ``PT_INTERP`` and ``PT_DYNAMIC`` with
``DT_NEEDED``, ``DT_RPATH``, ``DT_RUNPATH`` and ``DT_STRTAB``, whose address ``PT_LOAD`` maps to a file
offset), so a device's root can be resolved without running anything from it (``ldd`` runs the binary's
own loader). Pure: bytes in, ``DynamicInfo`` out.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
DT_NULL, DT_NEEDED, DT_STRTAB, DT_RPATH, DT_RUNPATH = 0, 1, 5, 15, 29


class ElfError(ValueError):
    """Bytes that are not an ELF file this reader understands."""


@dataclass(frozen=True, slots=True)
class DynamicInfo:
    """What the dynamic loader reads: the interpreter, the needed sonames and the search paths."""

    interpreter: str | None  # PT_INTERP, e.g. /lib64/ld-linux-x86-64.so.2; None for a static binary
    needed: tuple[str, ...]  # DT_NEEDED in file order
    rpath: tuple[str, ...]  # DT_RPATH (used only when there is no DT_RUNPATH)
    runpath: tuple[str, ...]  # DT_RUNPATH
    machine: int  # e_machine (62 x86-64, 183 AArch64)

    @property
    def static(self) -> bool:
        return self.interpreter is None and not self.needed


@dataclass(frozen=True, slots=True)
class _Header:
    wide: bool  # ELFCLASS64
    order: str  # "<" or ">"
    machine: int
    phoff: int
    phentsize: int
    phnum: int


def is_elf(data: bytes) -> bool:
    return data[:4] == b"\x7fELF"


def _header(data: bytes) -> _Header:
    if not is_elf(data) or len(data) < 52:
        raise ElfError("not an ELF file")
    wide = {1: False, 2: True}.get(data[4])
    order = {1: "<", 2: ">"}.get(data[5])
    if wide is None or order is None:
        raise ElfError("unknown ELF class or byte order")
    if len(data) < (64 if wide else 52):  # sizeof(Elf64_Ehdr), sizeof(Elf32_Ehdr): include/uapi/linux/elf.h
        raise ElfError(f"ELF header cut short: {len(data)} bytes")
    if wide:
        machine, = struct.unpack_from(order + "H", data, 18)
        phoff, = struct.unpack_from(order + "Q", data, 32)
        phentsize, phnum = struct.unpack_from(order + "HH", data, 54)
    else:
        machine, = struct.unpack_from(order + "H", data, 18)
        phoff, = struct.unpack_from(order + "I", data, 28)
        phentsize, phnum = struct.unpack_from(order + "HH", data, 42)
    return _Header(wide, order, machine, phoff, phentsize, phnum)


def _segments(data: bytes, h: _Header) -> list[tuple[int, int, int, int]]:
    """(type, file offset, virtual address, file size) of every program header."""
    found = []
    for i in range(h.phnum):
        at = h.phoff + i * h.phentsize
        if h.wide:
            kind, _flags, offset, vaddr, _paddr, filesz = struct.unpack_from(h.order + "IIQQQQ", data, at)
        else:
            kind, offset, vaddr, _paddr, filesz = struct.unpack_from(h.order + "IIIII", data, at)
        found.append((kind, offset, vaddr, filesz))
    return found


def _file_offset(segments: list[tuple[int, int, int, int]], address: int) -> int:
    for kind, offset, vaddr, filesz in segments:
        if kind == PT_LOAD and vaddr <= address < vaddr + filesz:
            return offset + address - vaddr
    raise ElfError(f"address {address:#x} is in no PT_LOAD segment")


def _string(data: bytes, at: int) -> str:
    end = data.index(b"\0", at)
    return data[at:end].decode("utf-8", "replace")


def dynamic_info(data: bytes) -> DynamicInfo:
    """The interpreter, needed libraries and search paths of the ELF file ``data``."""
    h = _header(data)
    try:
        segments = _segments(data, h)
        interp = next((_string(data, off) for kind, off, _v, _s in segments if kind == PT_INTERP), None)
        entries: list[tuple[int, int]] = []
        for kind, offset, _vaddr, filesz in segments:
            if kind != PT_DYNAMIC:
                continue
            size = 16 if h.wide else 8
            for at in range(offset, offset + filesz - size + 1, size):
                tag, value = struct.unpack_from(h.order + ("qQ" if h.wide else "iI"), data, at)
                if tag == DT_NULL:
                    break
                entries.append((tag, value))
        strtab = next((v for t, v in entries if t == DT_STRTAB), None)
        if strtab is None:
            return DynamicInfo(interp, (), (), (), h.machine)
        base = _file_offset(segments, strtab)

        def strings(tag: int) -> tuple[str, ...]:
            return tuple(_string(data, base + v) for t, v in entries if t == tag)

        def paths(tag: int) -> tuple[str, ...]:
            return tuple(p for s in strings(tag) for p in s.split(":") if p)

        return DynamicInfo(interp, strings(DT_NEEDED), paths(DT_RPATH), paths(DT_RUNPATH), h.machine)
    except (struct.error, ValueError) as exc:
        raise ElfError(f"truncated or malformed ELF file ({exc})") from None
