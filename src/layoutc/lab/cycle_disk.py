"""The crash cycle for disk targets (``cma-disk``, ``classic-disk``): the crash disk and what the host reads back.

The crash disk is what a board would have: a GPT-partitioned disk whose partition is named as the
profile's ``disk.device`` (``/dev/disk/by-partlabel/NAME``) and holds a filesystem of ``disk.fstype``. The
image is made on the host without root: the GPT is written here (``gpt_image``), the filesystem with
``mkfs.ext4 -E offset=`` straight into the partition's bytes; ``debugfs`` reads it back the same way
(``image?offset=N``). In the guests nothing creates ``/dev/disk/by-partlabel`` links (no udev): the
generated capture.sh and recover.sh resolve the label with ``blkid`` themselves.

Also here: ``/proc/vmcore``'s program headers as the crash kernel's lab glue reports them
(``PHDRS_PY``), checked against the production kernel's crash CMA ranges: the kernel itself keeps the CMA
(the crash kernel's own RAM while it runs) out of the vmcore.
"""

from __future__ import annotations

import hashlib
import struct
import subprocess
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path

from layoutc.lab.boot.serial import GuestOutput
from layoutc.lab.errors import LabError
from layoutc.lab.facts import procfs
from layoutc.lab.facts.boot_facts import Fact, hexr
from layoutc.lab.facts.cycle_facts import CycleResult, ok_fact
from layoutc.model.layout import Layout

MiB = 1 << 20
SECTOR = 512
PART_START = 2048  # first LBA of the partition (1 MiB, what sgdisk/parted align to)
PARTLABEL = "/dev/disk/by-partlabel/"
LINUX_FS = uuid.UUID("0fc63daf-8483-4772-8e79-3d69d8477de4")  # GPT type "Linux filesystem"
LAB_FSTYPES = ("ext4", "ext3", "ext2")  # made with mke2fs, read with debugfs

# run by the crash kernel's python3 (the dumper's interpreter): PT_LOAD p_paddr and p_memsz of /proc/vmcore
PHDRS_PY = """import struct, sys
with open(sys.argv[1] if len(sys.argv) > 1 else '/proc/vmcore', 'rb') as f:
    eh = f.read(64)
    phoff, = struct.unpack_from('<Q', eh, 32)
    phentsize, phnum = struct.unpack_from('<HH', eh, 54)
    f.seek(phoff)
    raw = f.read(phentsize * phnum)
for i in range(phnum):
    p_type, _, _, _, paddr, _, memsz, _ = struct.unpack_from('<IIQQQQQQ', raw, i * phentsize)
    if p_type == 1:
        print('%x %x' % (paddr, memsz))
"""


@dataclass(frozen=True, slots=True)
class CrashDisk:
    """A disk target's crash disk in the cycle: made (``attach``) before the production boot that captures onto
    it, read back (``readback_facts``) after the recovery boot."""

    device: str  # the profile's disk.device (/dev/disk/by-partlabel/NAME)
    fstype: str  # the profile's disk.fstype
    image: Path
    size: int = 1 << 30

    def attach(self) -> tuple[str, Path]:
        """Make the image; the lab drive (virtio serial ``crash``) that holds it."""
        crash_disk(self.image, self.size, self.device, self.fstype)
        return ("crash", self.image)

    def readback_facts(self, res: CycleResult, exported: Path | None, work: Path) -> None:
        disk_readback_facts(res, self.image, PART_START * SECTOR, exported, work)


def partlabel(device: str) -> str:
    """The GPT partition name of a ``/dev/disk/by-partlabel/NAME`` disk target ("" for any other form)."""
    return device[len(PARTLABEL) :] if device.startswith(PARTLABEL) and "/" not in device[len(PARTLABEL) :] else ""


def gpt_bytes(size: int, name: str, *, disk_guid: uuid.UUID, part_guid: uuid.UUID) -> dict[int, bytes]:
    """Offset → bytes of a GPT disk of ``size`` bytes with one Linux-filesystem partition named ``name``
    from LBA 2048 to the last usable LBA (UEFI 2.10 §5.3): protective MBR, primary header and entries,
    backup entries and header."""
    if size % SECTOR or size < (PART_START + 34) * SECTOR + MiB:
        raise ValueError(f"disk size {size} is not a multiple of {SECTOR} or too small")
    encoded = name.encode("utf-16-le")
    if not name or len(encoded) > 70:
        raise ValueError(f"partition name {name!r} is empty or longer than 35 UTF-16 units")
    last = size // SECTOR - 1
    first_usable, last_usable = 34, last - 33
    entry = struct.pack(
        "<16s16sQQQ72s", LINUX_FS.bytes_le, part_guid.bytes_le, PART_START, last_usable, 0, encoded.ljust(72, b"\0")
    )
    entries = entry + bytes(128 * 127)
    entries_crc = zlib.crc32(entries)

    def header(current: int, backup: int, entries_lba: int) -> bytes:
        fields = [b"EFI PART", 0x00010000, 92, 0, 0, current, backup, first_usable, last_usable, disk_guid.bytes_le,
                  entries_lba, 128, 128, entries_crc]  # fmt: skip
        raw = struct.pack("<8sIIIIQQQQ16sQIII", *fields)
        fields[3] = zlib.crc32(raw)
        return struct.pack("<8sIIIIQQQQ16sQIII", *fields).ljust(SECTOR, b"\0")

    mbr = bytearray(SECTOR)
    mbr[446:462] = struct.pack("<B3sB3sII", 0, b"\x00\x02\x00", 0xEE, b"\xff\xff\xff", 1, min(last, 0xFFFFFFFF))
    mbr[510:512] = b"\x55\xaa"
    return {
        0: bytes(mbr),
        SECTOR: header(1, last, 2),
        2 * SECTOR: entries,
        (last - 32) * SECTOR: entries,
        last * SECTOR: header(last, 1, last - 32),
    }


def crash_disk(path: Path, size: int, device: str, fstype: str) -> int:
    """Make the crash disk image for ``disk.device``/``disk.fstype``; returns the partition's byte offset."""
    name = partlabel(device)
    if not name:
        raise LabError("unfaithful", f"disk.device {device!r}: the lab emulates /dev/disk/by-partlabel/NAME only")
    if fstype not in LAB_FSTYPES:
        raise LabError("unfaithful", f"disk.fstype {fstype!r}: the lab makes and reads {', '.join(LAB_FSTYPES)}")
    path.unlink(missing_ok=True)
    with path.open("wb") as fh:
        fh.truncate(size)
        seed = hashlib.sha256(name.encode()).digest()
        for off, data in gpt_bytes(size, name, disk_guid=uuid.UUID(bytes=seed[:16]),
                                   part_guid=uuid.UUID(bytes=seed[16:])).items():  # fmt: skip
            fh.seek(off)
            fh.write(data)
    offset = PART_START * SECTOR
    part_kib = (size // SECTOR - 34 - PART_START) * SECTOR // 1024
    argv = ["mkfs." + fstype, "-q", "-F", "-E", f"offset={offset}", str(path), f"{part_kib}k"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0 or path.stat().st_size != size:
        raise LabError("tool-missing", f"{' '.join(argv)}: {proc.stderr.strip() or 'image size changed'}")
    return offset


def debugfs(image: Path, offset: int, request: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["debugfs", "-R", request, f"{image}?offset={offset}"], capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip


def dump_dirs(listing: str) -> list[str]:
    """The ``layoutc-<id>`` directories in ``debugfs -R 'ls -p /'`` output (``/ino/mode/uid/gid/name/size/``)."""
    out = []
    for line in listing.splitlines():
        parts = line.strip().split("/")
        if len(parts) >= 7 and parts[2].startswith("04") and parts[5].startswith("layoutc-"):
            out.append(parts[5])
    return sorted(out)


def parse_phdrs(text: str) -> tuple[tuple[int, int], ...]:
    """``PHDRS_PY`` output: PT_LOAD ``[paddr, paddr + memsz)`` ranges."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and all(p and all(c in "0123456789abcdef" for c in p) for p in parts):
            start = int(parts[0], 16)
            out.append((start, start + int(parts[1], 16)))
    return tuple(out)


def overlaps(loads: tuple[tuple[int, int], ...], ranges: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    """Every non-empty intersection of a PT_LOAD range with one of ``ranges`` (all half-open)."""
    hits = []
    for s, e in loads:
        for a, b in ranges:
            lo, hi = max(s, a), min(e, b)
            if lo < hi:
                hits.append((lo, hi))
    return hits


def cma_vmcore_fact(res: CycleResult, prod: GuestOutput) -> None:
    """/proc/vmcore of the crash kernel holds no PT_LOAD overlapping the production kernel's crash CMA."""
    text = prod.text("crash_cma_ranges-armed") or prod.text("kexec_crash_cma_ranges")
    loads = parse_phdrs(prod.text("vmcore-phdrs") or "")
    if text is None or not loads:
        res.facts.append(Fact("/proc/vmcore excludes the crash CMA ranges", "fail", "both reported",
                              f"cma ranges {'seen' if text else 'missing'}, {len(loads)} PT_LOAD"))  # fmt: skip
        return
    cma = procfs.parse_cma_ranges(text)
    hits = overlaps(loads, cma)
    res.facts.append(
        ok_fact(
            "/proc/vmcore excludes the crash CMA ranges",
            bool(cma) and not hits,
            "no PT_LOAD overlaps " + (", ".join(hexr(s, e) for s, e in cma) or "(no CMA ranges reported)"),
            ", ".join(hexr(s, e) for s, e in hits) or "none overlaps",
            f"{len(loads)} PT_LOAD ranges, {sum(e - s for s, e in loads) / MiB:.0f} MiB; "
            f"CMA {sum(e - s for s, e in cma) / MiB:.0f} MiB (production kernel's crash_cma_ranges)",
        )
    )


def disk_readback_facts(res: CycleResult, image: Path, offset: int, exported: Path | None, work: Path) -> None:
    """After the recovery boot the host reads the crash disk: one dump directory, COMPLETE, and its vmcore
    is byte for byte the one recover.sh stored and uploaded (the disk copy stays)."""
    dirs = dump_dirs(debugfs(image, offset, "ls -p /").stdout)
    if len(dirs) != 1:
        seen = ", ".join(dirs) or "none"
        res.facts.append(Fact("dump on the disk (host readback)", "fail", "one layoutc-<id>/", seen))
        return
    names = {line.strip().split("/")[5] for line in debugfs(image, offset, f"ls -p /{dirs[0]}").stdout.splitlines()
             if line.count("/") >= 6}  # fmt: skip
    dest = work / "disk.vmcore"
    dest.unlink(missing_ok=True)
    debugfs(image, offset, f"dump /{dirs[0]}/vmcore {dest}")
    digest = hashlib.sha256(dest.read_bytes()).hexdigest() if dest.is_file() else ""
    want = hashlib.sha256(exported.read_bytes()).hexdigest() if exported and exported.is_file() else "?"
    res.facts.append(
        ok_fact(
            "dump on the disk (host readback) equals the stored and uploaded one",
            "COMPLETE" in names and "INCOMPLETE" not in names and digest == want,
            f"{dirs[0]}/ with COMPLETE, vmcore sha256 {want[:16]}",
            f"{', '.join(sorted(names - {'.', '..'}))}; vmcore sha256 {digest[:16] or 'unreadable'}",
            f"{dest.stat().st_size / MiB:.1f} MiB read with debugfs at offset {offset}" if dest.is_file() else "",
        )
    )
    dest.unlink(missing_ok=True)


def disk_note(layout: Layout) -> str:
    return (
        f"{layout.strategy.crash_memory}-disk target: no pmem window, no blocks returned, no recovery-boot "
        "selection (grubenv next_entry), no re-arm by recover.sh: those facts do not apply and are not reported"
    )
