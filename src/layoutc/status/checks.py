"""The status's values (``Level``, ``Check``, ``Status``, the window and dump states) and its checks of the
crash kernel: loaded, cmdline, reservation, kexec_crash_size, crash CMA (pure, never raise).

Every parser here takes kernel text as it came and returns None on anything it does not recognise.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from layoutc.dump.exit_codes import ExitCode
from layoutc.status.expected import Expected
from layoutc.status.facts import Facts

EXT4_MAGIC = b"\x53\xef"  # 0xef53 little-endian (fs/ext4/ext4.h EXT4_SUPER_MAGIC)
# /proc/iomem lines: "%0*llx-%0*llx : name", nested two spaces a level (LNX:kernel/resource.c r_show, v6.1)
IOMEM_LINE = re.compile(r"^( *)([0-9a-fA-F]+)-([0-9a-fA-F]+) : (.*)$")
CMA_LINE = re.compile(r"^\s*([0-9a-fA-F]+)-([0-9a-fA-F]+)\s*$")
MiB = 1 << 20


class Level(enum.Enum):
    """How a check bears on the verdict; ``rank`` orders urgency, ``code`` is the exit code it stands for."""

    OK = ("ok", 0, ExitCode.OK)
    INFO = ("info", 0, ExitCode.OK)
    MISMATCH = ("mismatch", 1, ExitCode.STATUS_MISMATCH)
    NOT_ARMED = ("not-armed", 2, ExitCode.STATUS_NOT_ARMED)
    HELD = ("window-held", 3, ExitCode.STATUS_WINDOW_HELD)
    UNREADABLE = ("unreadable", 4, ExitCode.STATUS_UNREADABLE)
    PENDING = ("dump-pending", 5, ExitCode.STATUS_DUMP_PENDING)

    def __init__(self, label: str, rank: int, code: int) -> None:
        self.label = label
        self.rank = rank
        self.code = code


class WindowState(enum.StrEnum):
    """What the dump window's memory is now (docs/status.md, "Window states")."""

    MOVABLE_RAM = "movable-ram"  # online memory blocks in ZONE_MOVABLE (a movable window's production boot)
    RAM = "ram"  # online in another zone (the window would not be free to capture into)
    OFFLINE = "offline"  # its memory blocks exist but are offline
    PMEM = "pmem"  # a raw /dev/pmemN at the window (the crash and recovery boots, before its release)
    DEVDAX = "devdax"  # a dax device of device_dax: recover.sh ran ndctl but not daxctl
    SYSTEM_RAM = "system-ram"  # returned to RAM through dax/kmem (after recover.sh)
    ABSENT = "absent"  # no memory block, pmem or dax device covers it


class DumpState(enum.StrEnum):
    NONE = "none"  # the window holds no dump (RAM, or pmem without a filesystem)
    PENDING = "pending"  # the window holds capture.sh's filesystem and no recovery handled it in this boot
    HANDLED = "handled"  # recover.sh stored it in this boot (released-BOOT)
    UNREADABLE = "unreadable"  # the window's magic cannot be read: recover.sh keeps such a window
    NOT_APPLICABLE = "n/a"  # no window (disk target)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    level: Level
    expected: str
    observed: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Status:
    state: str  # the verdict's label: armed, not-armed, mismatch, dump-pending, window-held, unreadable
    exit_code: int
    board: str
    boot: str  # production | recovery | unknown
    window: str  # a WindowState, or "" without a window
    dump: str  # a DumpState
    checks: tuple[Check, ...]
    pending_uploads: tuple[str, ...]
    last_recovery: tuple[tuple[str, str], ...]


def parse_int(text: str | None, base: int = 0) -> int | None:
    """An integer of sysfs text ("0x1f", "1234", hex without 0x with base 16), else None."""
    if text is None:
        return None
    try:
        value = int(text.strip(), base)
    except ValueError:
        return None
    return value if value >= 0 else None


def iomem_entries(text: str) -> list[tuple[int, int, int, str]]:
    """(depth, start, end exclusive, name) of each line of /proc/iomem that parses."""
    found = []
    for line in text.splitlines():
        m = IOMEM_LINE.match(line)
        if m:
            start, last = int(m.group(2), 16), int(m.group(3), 16)
            if last >= start:
                found.append((len(m.group(1)) // 2, start, last + 1, m.group(4).strip()))
    return found


def size_text(n: int) -> str:
    return f"{n} bytes ({n / MiB:g} MiB)" if n % MiB else f"{n // MiB} MiB"


def check_loaded(f: Facts) -> Check:
    """LNX:kernel/ksysfs.c kexec_crash_loaded_show (v6.1; v6.19 adds /sys/kernel/kexec/crash_loaded)."""
    text = (f.crash_loaded.text or "").strip()
    where = f.crash_loaded.path
    if f.crash_loaded.text is None:
        return Check("crash kernel loaded", Level.NOT_ARMED, "1", "absent", f"no {where}: a kernel without kexec")
    if text == "1":
        return Check("crash kernel loaded", Level.OK, "1", "1", where)
    level = Level.NOT_ARMED if text == "0" else Level.UNREADABLE
    return Check("crash kernel loaded", level, "1", text or "empty", where)


def recovery_marks(e: Expected) -> tuple[str, ...]:
    """The words of ``cmdline.recovery`` that only the recovery boot has, as arm.sh's ``is_recovery_boot`` reads
    them: on arm64 its ``mem=`` (the window is a device-tree pmem-region there, and ``mem=`` keeps it out of the
    recovery boot's RAM: LNX:arch/arm64/mm/init.c early_mem, v6.1); elsewhere the movable window's
    ``memmap=SIZE!BASE``. Empty: no boot of this layout is told apart as a recovery boot. The renderer's
    ``recovery_mark`` (render/device_view.py: arm.sh, recover.sh, the arm unit's condition) is the same rule;
    tests/artifacts/test_recovery_condition.py keeps the two equal."""
    if e.window is None:
        return ()
    if e.arch == "arm64":
        return tuple(w for w in e.recovery if w.startswith("mem="))
    if e.window.mode == "movable":
        return tuple(w for w in e.recovery if w.startswith("memmap=") and "!" in w)
    return ()


def boot_kind(f: Facts, e: Expected) -> str:
    """recovery when every word of ``recovery_marks`` is on /proc/cmdline, else production."""
    if f.cmdline is None:
        return "unknown"
    words = set(f.cmdline.split())
    marks = recovery_marks(e)
    if marks and all(m in words for m in marks):
        return "recovery"
    return "production"


def check_cmdline(f: Facts, e: Expected, boot: str) -> Check:
    wanted = e.recovery if boot == "recovery" else e.production
    name = f"cmdline ({boot})"
    if f.cmdline is None:
        return Check(name, Level.UNREADABLE, " ".join(wanted), "unreadable", "/proc/cmdline")
    have = set(f.cmdline.split())
    missing = [w for w in wanted if w not in have]
    if missing:
        return Check(name, Level.MISMATCH, " ".join(wanted), "lacks " + " ".join(missing), "/proc/cmdline")
    return Check(name, Level.OK, " ".join(wanted), "all present", "/proc/cmdline")


def check_reservation(f: Facts, e: Expected) -> Check:
    """The "Crash kernel" resources (LNX:kernel/crash_core.c crashk_res, crashk_low_res, v6.1)."""
    name = "reservation (/proc/iomem Crash kernel)"
    if f.iomem is None:
        return Check(name, Level.UNREADABLE, size_text(e.reservation), "unreadable", "/proc/iomem")
    entries = iomem_entries(f.iomem)
    if entries and all(s == 0 and end == 1 for _, s, end, _ in entries):
        return Check(name, Level.UNREADABLE, size_text(e.reservation), "addresses hidden",
                     "/proc/iomem shows zero addresses to users without CAP_SYS_ADMIN: run as root")  # fmt: skip
    crash = [(s, end) for _, s, end, n in entries if n == "Crash kernel"]
    total = sum(end - s for s, end in crash)
    where = ", ".join(f"[{s:#x}, {end:#x})" for s, end in crash) or "none"
    level = Level.OK if total == e.reservation else Level.MISMATCH
    return Check(name, level, size_text(e.reservation), size_text(total), where)


def check_crash_size(f: Facts, e: Expected) -> Check:
    """kexec_crash_size: the main reservation only (LNX:kernel/kexec_core.c crash_get_memory_size, v6.1)."""
    size = parse_int(f.crash_size.text, 10)
    if size is None:
        observed = "absent" if f.crash_size.text is None else repr(f.crash_size.text.strip())
        return Check("kexec_crash_size", Level.UNREADABLE, str(e.crash_size), observed, f.crash_size.path)
    level = Level.OK if size == e.crash_size else Level.MISMATCH
    return Check("kexec_crash_size", level, str(e.crash_size), str(size), f.crash_size.path)


def _cma_total(text: str) -> int | None:
    total = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        m = CMA_LINE.match(line)
        if not m or int(m.group(2), 16) < int(m.group(1), 16):
            return None
        total += int(m.group(2), 16) + 1 - int(m.group(1), 16)  # inclusive end, as arm.sh reads it
    return total


def _meminfo_kib(text: str | None, key: str) -> int | None:
    for line in (text or "").splitlines():
        name, _, rest = line.partition(":")
        words = rest.split()
        if name.strip() == key and words:
            return parse_int(words[0], 10)
    return None


def check_cma(f: Facts, e: Expected) -> Check:
    """Crash CMA: the kernel's ranges file (v6.19, kernel/ksysfs.c), else /proc/meminfo CmaTotal (every area)."""
    name, wanted = "crash CMA", f">= {size_text(e.cma_size)}"
    if f.cma_ranges.text is not None:
        total = _cma_total(f.cma_ranges.text)
        if total is None:
            return Check(name, Level.UNREADABLE, wanted, "malformed", f.cma_ranges.path)
        return Check(name, Level.OK if total >= e.cma_size else Level.MISMATCH, wanted, size_text(total),
                     f.cma_ranges.path)  # fmt: skip
    kib = _meminfo_kib(f.meminfo, "CmaTotal")
    if kib is None:
        return Check(name, Level.UNREADABLE, wanted, "no CmaTotal", "/proc/meminfo")
    level = Level.OK if kib * 1024 >= e.cma_size else Level.MISMATCH
    return Check(name, level, wanted, size_text(kib * 1024), "/proc/meminfo CmaTotal (every CMA area; no ranges file)")
