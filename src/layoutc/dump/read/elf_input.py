"""ELF64 vmcore parsing: the header, program headers and notes (docs/reference/dump-formats.md §1).

Every read is bounds-checked against the file size; malformed input raises
:class:`~layoutc.dump.errors.FormatError` naming the offset and the field.
"""

from __future__ import annotations

import struct

from layoutc.dump.errors import FormatError
from layoutc.dump.read.arm64 import problems as arm64_problems
from layoutc.dump.read.vmcoreinfo import MAX_BYTES as MAX_VMCOREINFO_BYTES
from layoutc.dump.read.vmcoreinfo import VmcoreInfo
from layoutc.dump.read.vmcoreinfo import problems as vmcoreinfo_problems
from layoutc.dump.record import Frozen, init

TYPE_CHECKING = False
if TYPE_CHECKING:
    from layoutc.dump.read.vmcore_source import Reader

# docs/reference/dump-formats.md §1.3 (x86_64 and arm64, little-endian)
EHDR = struct.Struct("<16sHHIQQQIHHHHHH")  # Elf64_Ehdr, 64 bytes
PHDR = struct.Struct("<IIQQQQQQ")  # Elf64_Phdr, 56 bytes
SHDR = struct.Struct("<IIQQQQIIQQ")  # Elf64_Shdr, 64 bytes
NHDR = struct.Struct("<III")  # Elf64_Nhdr, 12 bytes

ELFMAG = b"\x7fELF"
ELFCLASS64 = 2
ELFDATA2LSB = 1
EV_CURRENT = 1
ET_CORE = 4
EM_X86_64 = 62
EM_AARCH64 = 183
PT_LOAD = 1
PT_NOTE = 4
PN_XNUM = 0xFFFF
NT_PRSTATUS = 1

MAX_NOTES_BYTES = 16 << 20
"""All PT_NOTEs together: real vmcores carry about 400 bytes per CPU (NT_PRSTATUS) plus one page
of VMCOREINFO, 3.3 MiB for x86's largest NR_CPUS (8192, arch/x86/Kconfig NR_CPUS_RANGE_END)."""
MAX_NOTES = 1 << 16
"""Notes in all: one NT_PRSTATUS per possible CPU, VMCOREINFO, a few more on some architectures."""
MAX_PHNUM = 1 << 20
"""Program headers: one PT_LOAD per System RAM range; arch/x86/Kconfig CRASH_MAX_MEMORY_RANGES
allows up to 1048576 with memory hotplug (kernel/crash_core.c sizes the ELF header from it)."""

MACHINES = {EM_X86_64: "x86_64", EM_AARCH64: "aarch64"}


class Phdr(Frozen):
    """One program header, fields named as in Elf64_Phdr."""

    __slots__ = ("p_type", "p_flags", "p_offset", "p_vaddr", "p_paddr", "p_filesz", "p_memsz", "p_align")
    p_type: int
    p_flags: int
    p_offset: int
    p_vaddr: int
    p_paddr: int
    p_filesz: int
    p_memsz: int
    p_align: int

    def __init__(
        self,
        p_type: int,
        p_flags: int,
        p_offset: int,
        p_vaddr: int,
        p_paddr: int,
        p_filesz: int,
        p_memsz: int,
        p_align: int,
    ) -> None:
        init(
            self,
            p_type=p_type,
            p_flags=p_flags,
            p_offset=p_offset,
            p_vaddr=p_vaddr,
            p_paddr=p_paddr,
            p_filesz=p_filesz,
            p_memsz=p_memsz,
            p_align=p_align,
        )


class Note(Frozen):
    """One ELF note; ``desc_offset`` is relative to the start of the concatenated notes blob."""

    __slots__ = ("name", "n_type", "desc", "desc_offset", "file_offset")
    name: str
    n_type: int
    desc: bytes
    desc_offset: int
    file_offset: int  # of desc in the source file

    def __init__(self, name: str, n_type: int, desc: bytes, desc_offset: int, file_offset: int = -1) -> None:
        init(self, name=name, n_type=n_type, desc=desc, desc_offset=desc_offset, file_offset=file_offset)


class Vmcore(Frozen):
    """The parsed metadata of an ELF vmcore; page data stays in the file."""

    __slots__ = (
        "path", "file_size", "e_machine", "loads", "notes_blob", "notes", "vmcoreinfo", "vmcoreinfo_raw", "warnings"
    )
    path: str
    file_size: int
    e_machine: int
    loads: tuple[Phdr, ...]
    notes_blob: bytes
    notes: tuple[Note, ...]
    vmcoreinfo: dict[str, str]
    vmcoreinfo_raw: bytes
    warnings: tuple[str, ...]

    def __init__(
        self,
        path: str,
        file_size: int,
        e_machine: int,
        loads: tuple[Phdr, ...],
        notes_blob: bytes,
        notes: tuple[Note, ...],
        vmcoreinfo: dict[str, str],
        vmcoreinfo_raw: bytes,
        warnings: tuple[str, ...] = (),
    ) -> None:
        init(
            self,
            path=path,
            file_size=file_size,
            e_machine=e_machine,
            loads=loads,
            notes_blob=notes_blob,
            notes=notes,
            vmcoreinfo=vmcoreinfo,
            vmcoreinfo_raw=vmcoreinfo_raw,
            warnings=warnings,
        )

    @property
    def machine(self) -> str:
        """The utsname machine string for this ELF machine."""
        return MACHINES.get(self.e_machine, "unknown")

    @property
    def nr_cpus(self) -> int:
        """Number of CPUs that saved registers (NT_PRSTATUS notes)."""
        return sum(1 for n in self.notes if n.name == "CORE" and n.n_type == NT_PRSTATUS)

    @property
    def page_size(self) -> int:
        """PAGESIZE from VMCOREINFO, 4096 without it."""
        value = self.vmcoreinfo.get("PAGESIZE", "4096")
        return int(value) if value.isdigit() else 4096

    @property
    def vmcoreinfo_note(self) -> Note | None:
        """The VMCOREINFO note, if the source has one."""
        for note in self.notes:
            if note.name == "VMCOREINFO":
                return note
        return None


def _read(reader: Reader, src: str, offset: int, size: int, field: str) -> bytes:
    if offset < 0 or size < 0 or offset + size > reader.size:
        raise FormatError(src, offset, field, f"{size} bytes needed, file has {reader.size}")
    return bytes(reader.read(offset, size))


def parse(reader: Reader, src: str) -> Vmcore:
    """Parse the ELF header, program headers and notes of a vmcore."""
    e_machine, phdrs, e_phoff = _program_headers(reader, src)
    loads = []
    blobs = []
    warnings: list[str] = []
    note_bytes = 0
    for i, ph in enumerate(phdrs):
        where = e_phoff + i * PHDR.size
        if ph.p_type == PT_LOAD:
            warning = _check_load(src, where, ph, reader.size)
            if warning:
                warnings.append(warning)
            loads.append(ph)
        elif ph.p_type == PT_NOTE:
            if ph.p_filesz > MAX_NOTES_BYTES:
                raise FormatError(src, where + 32, "p_filesz", f"PT_NOTE of {ph.p_filesz} bytes is implausible")
            note_bytes += ph.p_filesz
            if note_bytes > MAX_NOTES_BYTES:
                raise FormatError(
                    src,
                    where + 32,
                    "p_filesz",
                    f"the PT_NOTEs up to phdr[{i}] hold {note_bytes} bytes, more than the {MAX_NOTES_BYTES} "
                    "any kernel writes",
                )
            blobs.append((ph.p_offset, _read(reader, src, ph.p_offset, ph.p_filesz, f"phdr[{i}].p_offset")))
    notes_blob, notes = _merge_notes(src, blobs)
    info_note = next((n for n in notes if n.name == "VMCOREINFO"), None)
    raw = info_note.desc.rstrip(b"\0") if info_note else b""
    info = parse_vmcoreinfo(raw)
    if info_note is not None:
        _check_vmcoreinfo(src, info_note, raw, info, e_machine)
    return Vmcore(
        src,
        reader.size,
        e_machine,
        tuple(loads),
        notes_blob,
        tuple(notes),
        info,
        raw,
        tuple(warnings),
    )


def _program_headers(reader: Reader, src: str) -> tuple[int, list[Phdr], int]:
    """Check the ELF header (as fs/proc/vmcore.c does) and read the program header table."""
    fields = EHDR.unpack(_read(reader, src, 0, EHDR.size, "e_ident"))
    ident, e_type, e_machine, e_version, _, e_phoff, e_shoff, _, e_ehsize, e_phentsize, e_phnum = fields[:11]
    if ident[:4] != ELFMAG:
        raise FormatError(src, 0, "e_ident", f"not an ELF file (magic {ident[:4]!r})")
    if ident[4] != ELFCLASS64 or ident[5] != ELFDATA2LSB:
        raise FormatError(src, 4, "e_ident", "only little-endian ELF64 vmcores are supported")
    checks = (
        (16, "e_type", e_type == ET_CORE, f"{e_type}, expected ET_CORE (4)"),
        (18, "e_machine", e_machine in MACHINES, f"{e_machine}, expected EM_X86_64 (62) or EM_AARCH64 (183)"),
        (20, "e_version", e_version == EV_CURRENT, f"{e_version}, expected 1"),
        (52, "e_ehsize", e_ehsize == EHDR.size, f"{e_ehsize}, expected 64"),
        (54, "e_phentsize", e_phentsize == PHDR.size, f"{e_phentsize}, expected 56"),
        (56, "e_phnum", e_phnum != 0, "0, a vmcore needs program headers"),
    )
    for off, field, ok, problem in checks:
        if not ok:
            raise FormatError(src, off, field, problem)
    phnum = e_phnum
    if e_phnum == PN_XNUM:
        # More than 65534 phdrs: the real count is in section header 0's sh_info (§1.3).
        shdr0 = SHDR.unpack(_read(reader, src, e_shoff, SHDR.size, "e_shoff (section header 0)"))
        phnum = shdr0[7]
    if phnum * PHDR.size > reader.size - min(e_phoff, reader.size):
        raise FormatError(src, e_phoff, "e_phnum", f"{phnum} program headers do not fit in the file")
    if phnum > MAX_PHNUM:
        raise FormatError(
            src, e_shoff + 44, "sh_info", f"{phnum} program headers, more than the {MAX_PHNUM} a kernel writes"
        )
    table = _read(reader, src, e_phoff, phnum * PHDR.size, "e_phoff")
    return e_machine, [Phdr(*PHDR.unpack_from(table, i * PHDR.size)) for i in range(phnum)], e_phoff


def _check_load(src: str, where: int, ph: Phdr, file_size: int) -> str | None:
    """Reject impossible PT_LOADs; a segment cut by the end of the file is only a warning.

    A truncated copy of /proc/vmcore is still worth dumping: the pages that are there are written
    and the dump is marked INCOMPLETE.
    """
    if ph.p_filesz > ph.p_memsz:
        raise FormatError(src, where + 32, "p_filesz", f"{ph.p_filesz} exceeds p_memsz {ph.p_memsz}")
    if ph.p_offset + ph.p_filesz >= 1 << 63:
        raise FormatError(src, where + 8, "p_offset", f"0x{ph.p_offset:x} + p_filesz overflows a file offset")
    if ph.p_paddr + ph.p_memsz > 1 << 52:
        raise FormatError(src, where + 24, "p_paddr", "physical range beyond 52 bits (x86_64 MAX_PHYSMEM_BITS)")
    if ph.p_offset + ph.p_filesz > file_size:
        return (
            f"{src}:0x{where + 8:x}: p_offset: segment [0x{ph.p_offset:x}, 0x{ph.p_offset + ph.p_filesz:x}) "
            f"extends past the end of the file (0x{file_size:x}): the source is truncated"
        )
    return None


def _merge_notes(src: str, blobs: list[tuple[int, bytes]]) -> tuple[bytes, list[Note]]:
    """Walk every PT_NOTE until n_namesz == 0 and concatenate them (fs/proc/vmcore.c)."""
    merged = bytearray()
    notes: list[Note] = []
    for file_off, blob in blobs:
        pos = 0
        while pos + NHDR.size <= len(blob):
            namesz, descsz, ntype = NHDR.unpack_from(blob, pos)
            if namesz == 0:
                break
            name_end = pos + NHDR.size + _pad4(namesz)
            end = name_end + _pad4(descsz)
            if end > len(blob):
                raise FormatError(src, file_off + pos, "n_descsz", f"note of {end - pos} bytes overruns its PT_NOTE")
            if len(notes) >= MAX_NOTES:
                raise FormatError(
                    src, file_off + pos, "n_namesz", f"more than {MAX_NOTES} notes; a kernel writes one per CPU"
                )
            name = blob[pos + NHDR.size : pos + NHDR.size + namesz].rstrip(b"\0").decode("ascii", "replace")
            desc_off = len(merged) + (name_end - pos)
            desc = bytes(blob[name_end : name_end + descsz])
            notes.append(Note(name, ntype, desc, desc_off, file_off + name_end))
            merged += blob[pos:end]
            pos = end
    return bytes(merged), notes


def _check_vmcoreinfo(src: str, note: Note, raw: bytes, info: dict[str, str], e_machine: int) -> None:
    """Refuse VMCOREINFO that no kernel writes (:func:`.vmcoreinfo.problems`), or an arm64
    configuration the dumper does not translate (:func:`.arm64.problems`), naming the line."""
    fix = "the VMCOREINFO note is damaged: dump an undamaged copy of the vmcore"
    if len(note.desc) > MAX_VMCOREINFO_BYTES:
        raise FormatError(
            src,
            note.file_offset,
            "VMCOREINFO",
            f"{len(note.desc)} bytes, more than the {MAX_VMCOREINFO_BYTES} of the kernel's buffer; {fix}",
        )
    for key, problem in vmcoreinfo_problems(info):
        at = raw.rfind(b"\n" + key.encode() + b"=") + 1  # the line that counts: later keys win
        raise FormatError(src, note.file_offset + at, f"VMCOREINFO {key}", f"{problem}; {fix}")
    if e_machine == EM_AARCH64:
        for key, problem in arm64_problems(VmcoreInfo(info)):
            at = raw.rfind(b"\n" + key.encode() + b"=") + 1
            raise FormatError(src, note.file_offset + at, f"VMCOREINFO {key}", problem)


def _pad4(n: int) -> int:
    return (n + 3) & ~3


def parse_vmcoreinfo(raw: bytes) -> dict[str, str]:
    """``KEY=VALUE`` lines of the VMCOREINFO note (docs/reference/dump-formats.md §1.5); later keys win."""
    info: dict[str, str] = {}
    for line in raw.decode("ascii", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            info[key] = value
    return info
