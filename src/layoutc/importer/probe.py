"""``layoutc probe``: read what the running kernel shows about memory, under a root directory.

``root`` is ``/`` on a device; tests point it at a fake tree. Commands (``lsmem``, ``dmesg``)
run only when ``root`` is ``/`` - in a fake tree the same facts come from the files
(``/sys/devices/system/memory``, ``/dev/kmsg`` as a regular file). Everything read goes through
the same parsers as a raw capture directory, so ``probe`` and ``import DIR`` cannot disagree.
"""

from __future__ import annotations

import dataclasses
import errno
import gzip
import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.importer import parse_report as report
from layoutc.importer.boot_capture import render_boot
from layoutc.importer.capture import parse_capture
from layoutc.importer.kconfig import modules_text
from layoutc.importer.sysinfo_types import BootFacts, InitrdFile, SysInfo

LSMEM_ARGS = ("-J", "-b", "-o", "RANGE,SIZE,STATE,REMOVABLE,BLOCK,NODE,ZONES", "--split", "NODE,ZONES")
COMMAND_TIMEOUT = 20.0
MAX_KMSG_BYTES = 16 << 20
MAX_LINKS = 40  # symbolic links followed per name, as the kernel's path walk (MAXSYMLINKS)
_MEMORY_DIR_RE = re.compile(r"^memory([0-9]+)$")
_NODE_RE = re.compile(r"^node([0-9]+)$")


def probe(root: Path, diags: Diagnostics) -> SysInfo | None:
    """Read the device under ``root`` into a SysInfo; None (with diagnostics) if /proc/iomem is unreadable."""
    notes: list[str] = []
    iomem = _read(root / "proc/iomem")
    if iomem is None:
        report.error(
            diags,
            "LC401",
            f"cannot read {root / 'proc/iomem'}",
            file=None,
            value=str(root / "proc/iomem"),
            hint="run layoutc probe on the device, as root",
        )
        return None
    texts = {"iomem": iomem, **_optional_sources(root, notes)}
    for note in notes:
        report.note(diags, "LC418", note, hint="the import falls back to /proc/iomem and zoneinfo")
    info = parse_capture(texts, "probe", diags, fdt=_fdt(root))
    return None if info is None else dataclasses.replace(info, source="probe", notes=tuple(notes))


def _optional_sources(root: Path, notes: list[str]) -> dict[str, str]:
    """Every capture file but iomem, by its raw-layout name; what is missing goes to ``notes``."""
    live = root.resolve() == Path("/")
    texts: dict[str, str] = {}
    for name, rel in (
        ("block_size_bytes", "sys/devices/system/memory/block_size_bytes"),
        ("cmdline", "proc/cmdline"),
        ("zoneinfo", "proc/zoneinfo"),
        ("uname-r", "proc/sys/kernel/osrelease"),
    ):
        text = _read(root / rel)
        if text is None and name == "uname-r" and live:
            text = os.uname().release + "\n"
        if text is None:
            notes.append(f"{name}: {root / rel} is unavailable")
        else:
            texts[name] = text
    lsmem = (_lsmem_command() if live else None) or _lsmem_sysfs(root / "sys/devices/system/memory")
    if lsmem is None:
        notes.append("lsmem: neither the lsmem command nor /sys/devices/system/memory is available")
    else:
        texts["lsmem.json"] = lsmem
    release = texts.get("uname-r", "").strip()
    for name, text, missing in (
        ("config", _kernel_config(root, release), f"neither /proc/config.gz nor /boot/config-{release} is readable"),
        ("modules", _modules(root, release), f"no module directory /lib/modules/{release}"),
    ):
        if text is None:
            notes.append(f"{name}: {missing}")
        else:
            texts[name] = text
    initrd = _initrd(root, release)
    if initrd is None:
        notes.append(f"initrd: none of {', '.join(initrd_names(release))} is a file")
    efi = (root / "sys/firmware/efi").is_dir() if (root / "sys").is_dir() else None
    texts["boot"] = render_boot(BootFacts(initrd, efi))
    dmesg = (_dmesg_command() if live else None) or _kmsg(root / "dev/kmsg")
    if dmesg is None:
        notes.append("dmesg: unavailable (dmesg_restrict? run as root); SRAT and e820 lines are missing")
    else:
        texts["dmesg"] = dmesg
    return texts


MAX_FDT_BYTES = 2 << 20  # the most a DTB may be (capture.MAX_FDT_BYTES)


def _fdt(root: Path) -> bytes | None:
    """/sys/firmware/fdt: the device tree the kernel booted with, as the boot loader passed it (arm64 and
    other device-tree machines; LNX:drivers/of/fdt.c of_fdt_raw_init). None on x86 and ACPI-only arm64
    servers, which have none: not an error, the import falls back to /proc/iomem, lsmem and zoneinfo."""
    try:
        with (root / "sys/firmware/fdt").open("rb") as handle:
            return handle.read(MAX_FDT_BYTES + 1)
    except OSError:
        return None


MAX_CONFIG_BYTES = 4 << 20  # a .config is about 150 KB; gunzip no further than this


def _kernel_config(root: Path, release: str) -> str | None:
    """/proc/config.gz (CONFIG_IKCONFIG_PROC, gzip), else /boot/config-RELEASE as distributions install it."""
    try:
        with gzip.open(root / "proc/config.gz", "rb") as handle:
            return handle.read(MAX_CONFIG_BYTES).decode("utf-8", errors="replace")
    except (OSError, EOFError, gzip.BadGzipFile):
        pass
    return _read(root / f"boot/config-{release}") if release and "/" not in release else None


def _modules(root: Path, release: str) -> str | None:
    """The module directory as a ``modules`` file: modules.builtin plus modules.dep, modules.order or .ko files."""
    if not release or "/" in release:
        return None
    for base in (root / "lib/modules" / release, root / "usr/lib/modules" / release):
        if not base.is_dir():
            continue
        listed = _read(base / "modules.dep") or _read(base / "modules.order")  # depmod's, or the build's
        if listed is not None:
            loadable = [line.partition(":")[0] for line in listed.splitlines()]
        else:
            loadable = [str(p.relative_to(base)) for p in sorted(base.rglob("*.ko*"))]
        return modules_text(_read(base / "modules.builtin"), loadable)
    return None


def initrd_names(release: str) -> tuple[str, ...]:
    """Where distributions keep the running kernel's initrd, most specific first (device paths)."""
    own = (f"/boot/initrd.img-{release}", f"/boot/initramfs-{release}.img") if release and "/" not in release else ()
    return (*own, "/boot/initrd.img", "/initrd.img")


def _initrd(root: Path, release: str) -> InitrdFile | None:
    """The first of ``initrd_names`` that is a non-empty regular file, links followed inside ``root`` only."""
    for name in initrd_names(release):
        target = _resolve_inside(root, name)
        if target is None or any(c.isspace() for c in name + target):
            continue
        try:
            info = (root / target.lstrip("/")).lstat()
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) and info.st_size > 0:
            return InitrdFile(name, target, info.st_size)
    return None


def _resolve_inside(root: Path, name: str) -> str | None:
    """``name`` (a device path) with every symbolic link followed as the device would, or None when a
    link leads out of ``root`` (``..`` above it), loops, or a component is missing."""
    done: list[str] = []
    todo = [part for part in name.split("/") if part]
    links = 0
    while todo:
        part = todo.pop(0)
        if part == ".":
            continue
        if part == "..":
            if not done:
                return None
            done.pop()
            continue
        here = root.joinpath(*done, part)
        try:
            is_link = here.is_symlink()
            text = os.readlink(here) if is_link else ""
        except OSError:
            return None
        if not is_link:
            done.append(part)
            continue
        links += 1
        if links > MAX_LINKS:
            return None
        if text.startswith("/"):
            done = []
        todo = [p for p in text.split("/") if p] + todo
    return "/" + "/".join(done)


def _read(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return None


def _run(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, timeout=COMMAND_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0 or not done.stdout:
        return None
    return done.stdout.decode("utf-8", errors="replace")


def _lsmem_command() -> str | None:
    return _run(["lsmem", *LSMEM_ARGS])


def _dmesg_command() -> str | None:
    return _run(["dmesg"])


def _lsmem_sysfs(memory: Path) -> str | None:
    """Rebuild ``lsmem -J -b --split NODE,ZONES`` from /sys/devices/system/memory/memoryN."""
    size_text = _read(memory / "block_size_bytes")
    if size_text is None:
        return None
    try:
        block_size = int(size_text.strip(), 16)
        names = sorted((int(m.group(1)), p) for p in memory.iterdir() if (m := _MEMORY_DIR_RE.match(p.name)))
    except (ValueError, OSError):
        return None
    runs: list[tuple[tuple[str, str, int | None, str], int, int]] = []  # (split key, first, last)
    for index, path in names:
        state = (_read(path / "state") or "").strip()
        removable = (_read(path / "removable") or "").strip()
        zones = "/".join((_read(path / "valid_zones") or "").split())
        node = next((int(m.group(1)) for p in path.iterdir() if (m := _NODE_RE.match(p.name))), None)
        key = (state, removable, node, zones)
        if runs and runs[-1][0] == key and runs[-1][2] == index - 1:
            runs[-1] = (key, runs[-1][1], index)
        else:
            runs.append((key, index, index))
    items = []
    for (state, removable, node, zones), first, last in runs:
        start, end = first * block_size, (last + 1) * block_size
        items.append(
            {
                "range": f"0x{start:016x}-0x{end - 1:016x}",
                "size": end - start,
                "state": state,
                "removable": removable == "1" if state == "online" else None,
                "block": str(first) if first == last else f"{first}-{last}",
                "node": node,
                "zones": "None" if zones in ("none", "") else zones,
            }
        )
    return json.dumps({"memory": items}, indent=3) + "\n"


def _kmsg(path: Path) -> str | None:
    """Read /dev/kmsg records ('PRI,SEQ,USEC,FLAGS;MESSAGE') without blocking, as dmesg text."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    chunks: list[bytes] = []
    total = 0
    try:
        while total < MAX_KMSG_BYTES:
            try:
                chunk = os.read(fd, 8192)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EPIPE:  # a record was overwritten while reading: skip it
                    continue
                break
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    finally:
        os.close(fd)
    lines = []
    for record in b"".join(chunks).decode("utf-8", errors="replace").splitlines():
        if record.startswith(" ") or ";" not in record:
            continue  # continuation lines carry key=value device properties
        prefix, _, message = record.partition(";")
        fields = prefix.split(",")
        usec = int(fields[2]) if len(fields) > 2 and fields[2].isdigit() else 0
        lines.append(f"[{usec // 1_000_000:5d}.{usec % 1_000_000:06d}] {message}")
    return "".join(line + "\n" for line in lines) if lines else None
