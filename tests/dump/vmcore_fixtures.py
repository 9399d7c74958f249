"""Synthetic ELF vmcores built with struct, shaped like /proc/vmcore (docs/reference/dump-formats.md §1, §6.4)."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")
NHDR = struct.Struct("<III")
PS = 4096
PAGE_OFFSET = 0xFFFF888000000000
KERNEL_MAP = 0xFFFFFFFF80000000

# What drgn and libkdumpfile need to open a file (docs/reference/dump-formats.md §5).
VMCOREINFO = (
    "OSRELEASE=6.1.0-synthetic\n"
    "PAGESIZE=4096\n"
    "SYMBOL(swapper_pg_dir)=ffffffff82a0c000\n"
    "NUMBER(pgtable_l5_enabled)=0\n"
    "NUMBER(phys_base)=0\n"
    "CRASHTIME=1700000000\n"
)


def note(name: bytes, ntype: int, desc: bytes) -> bytes:
    """One ELF note with 4-byte padding (append_elf_note)."""
    n = name + b"\0"
    pad = lambda b: b + bytes(-len(b) % 4)  # noqa: E731
    return NHDR.pack(len(n), len(desc), ntype) + pad(n) + pad(desc)


def prstatus(cpu: int) -> bytes:
    """A 336-byte elf_prstatus with pr_pid and a recognisable rip."""
    desc = bytearray(336)
    struct.pack_into("<i", desc, 32, 1000 + cpu)
    regs = [0] * 27
    regs[16] = 0xFFFFFFFF81000000 + cpu  # rip
    struct.pack_into("<27Q", desc, 112, *regs)
    return bytes(desc)


def prstatus_arm64(cpu: int) -> bytes:
    """arm64's 392-byte elf_prstatus: 34 registers (x0-x30, sp, pc, pstate) from offset 112."""
    desc = bytearray(392)
    struct.pack_into("<i", desc, 32, 1000 + cpu)
    regs = [0] * 34
    regs[32] = 0xFFFF800080010000 + cpu  # pc
    struct.pack_into("<34Q", desc, 112, *regs)
    return bytes(desc)


def page_content(pfn: int, kind: str) -> bytes:
    """Deterministic page bytes: zero, text-like (compressible), random (incompressible)."""
    if kind == "zero":
        return bytes(PS)
    if kind == "random":
        out = b""
        seed = pfn.to_bytes(8, "little")
        while len(out) < PS:
            seed = hashlib.sha256(seed).digest()
            out += seed
        return out[:PS]
    line = f"pfn {pfn:#x} synthetic page content line ".encode()
    body = (line * (PS // len(line) + 1))[: PS - 8]
    return struct.pack("<Q", pfn) + body


def default_kind(pfn: int) -> str:
    """Mix of page kinds: every 7th zero, every 11th random, else text."""
    if pfn % 7 == 3:
        return "zero"
    if pfn % 11 == 5:
        return "random"
    return "text"


@dataclass
class Fixture:
    """A vmcore description and its ground truth."""

    ranges: list[tuple[int, int]]  # physical (start, size) of RAM PT_LOADs
    kernel_text: tuple[int, int] | None = None  # duplicate PT_LOAD inside a RAM range
    vmcoreinfo: str | None = VMCOREINFO
    nr_cpus: int = 2
    kinds: dict[int, str] = field(default_factory=dict)  # overrides of default_kind
    zero_run: tuple[int, int] | None = None  # pfn range forced to zero
    overrides: dict[int, bytes] = field(default_factory=dict)  # exact page contents by pfn
    page_offset: int = PAGE_OFFSET  # p_vaddr - p_paddr of RAM PT_LOADs (5-level: 0xff11000000000000)
    e_machine: int = 62  # EM_X86_64; EM_AARCH64 (183) writes arm64's NT_PRSTATUS

    def kind(self, pfn: int) -> str:
        if self.zero_run and self.zero_run[0] <= pfn < self.zero_run[1]:
            return "zero"
        return self.kinds.get(pfn, default_kind(pfn))

    def page(self, pfn: int) -> bytes:
        if pfn in self.overrides:
            return self.overrides[pfn]
        return page_content(pfn, self.kind(pfn))

    def byte_at(self, paddr: int) -> int:
        return self.page(paddr // PS)[paddr % PS]

    def pfns(self) -> list[int]:
        out: set[int] = set()
        for start, size in self.ranges:
            out.update(range(start // PS, -(-(start + size) // PS)))
        return sorted(out)

    def nodata_pfns(self) -> set[int]:
        """Pages wholly past a segment's file data (exclude_nodata_pages): none here, p_filesz == p_memsz.

        A partial last page is dumped, zero-padded, as makedumpfile does since f2c5f76 (1.7.7);
        1.7.2 rounded down and left it out.
        """
        return set()

    def partial_pfns(self) -> set[int]:
        """Last pages that a segment covers only in part."""
        return {(start + size) // PS for start, size in self.ranges if (start + size) % PS}

    def covered_bytes(self, pfn: int) -> int:
        """How many bytes of page ``pfn``, from its start, the segments cover (a partial last page: fewer than
        a page). ELF output ends its segment there, as the source's does."""
        ends = [(start + size) % PS for start, size in self.ranges if (start + size) // PS == pfn]
        return ends[0] if ends and ends[0] else PS

    def write(self, path: str) -> str:
        """Write the ELF file, laid out as /proc/vmcore: page-aligned, page-padded segment data."""
        status = prstatus_arm64 if self.e_machine == 183 else prstatus
        notes = b"".join(note(b"CORE", 1, status(c)) for c in range(self.nr_cpus))
        if self.vmcoreinfo is not None:
            notes += note(b"VMCOREINFO", 0, self.vmcoreinfo.encode())
        loads = list(self.ranges)
        if self.kernel_text:
            loads.insert(0, self.kernel_text)
        phnum = 1 + len(loads)
        xnum = phnum >= 0xFFFF  # PN_XNUM: the real count goes to section header 0's sh_info
        hdr = EHDR.size + PHDR.size * phnum + (64 if xnum else 0)
        notes_off = hdr
        data_off = -(-(notes_off + len(notes)) // PS) * PS
        phdrs = [PHDR.pack(4, 0, notes_off, 0, 0, len(notes), len(notes), 0)]
        blobs = []
        pos = data_off
        for i, (start, size) in enumerate(loads):
            first = start - start % PS
            end = -(-(start + size) // PS) * PS
            blob = b"".join(self.page(p) for p in range(first // PS, end // PS))
            vaddr = (KERNEL_MAP + start) if (self.kernel_text and i == 0) else self.page_offset + start
            phdrs.append(PHDR.pack(1, 7, pos + (start - first), vaddr, start, size, size, 0))
            blobs.append((pos, blob))
            pos += len(blob)
        ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
        with open(path, "wb") as f:
            shoff = EHDR.size + PHDR.size * phnum if xnum else 0
            e_phnum = 0xFFFF if xnum else phnum
            f.write(
                EHDR.pack(
                    ident,
                    4,
                    self.e_machine,
                    1,
                    0,
                    EHDR.size,
                    shoff,
                    0,
                    64,
                    56,
                    e_phnum,
                    64 if xnum else 0,
                    1 if xnum else 0,
                    0,
                )
            )
            f.write(b"".join(phdrs))
            if xnum:
                f.write(struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, phnum, 0, 0))
            f.write(notes)
            for off, blob in blobs:
                f.seek(off)
                f.write(blob)
        return path


def standard() -> Fixture:
    """Low 1 MiB hole, RAM with an unaligned start, a 300-page zero run, kernel text duplicate."""
    return Fixture(
        ranges=[(0x1000, 0x9E000 - 0x1000 + 0x800), (0x100000, 0x400000), (0x600800, 0x1FF800)],
        kernel_text=(0x200000, 0x80000),
        zero_run=(0x300, 0x300 + 300),
    )


def expected_page(fx: Fixture, pfn: int) -> bytes:
    """What a correct dump holds for ``pfn``: the content where a PT_LOAD covers it, zeros elsewhere."""
    page = bytearray(PS)
    content = fx.page(pfn)
    lo, hi = pfn * PS, (pfn + 1) * PS
    for start, size in fx.ranges + ([fx.kernel_text] if fx.kernel_text else []):
        a, b = max(lo, start), min(hi, start + size)
        if a < b:
            page[a - lo : b - lo] = content[a - lo : b - lo]
    return bytes(page)
