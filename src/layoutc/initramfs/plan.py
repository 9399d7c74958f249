"""``CrashInitramfsPlan``: every entry of a crash initramfs, where its bytes come from, its mode.

The plan is a value: the writer (``layoutc.writer.cpio``) turns it into a compressed newc archive, and
``layoutc initramfs`` measures it against the reservation (``fit``) before anything is written. An
entry's bytes are either given (generated files: capture scripts, filter spec, the dumper zipapp, the
byte-compiled standard library) or read from the device's root at write time (``source``: binaries,
libraries, modules), so that the plan of a 60 MiB image does not hold 60 MiB.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

DIR_MODE = 0o040755
EXEC_MODE = 0o100755
FILE_MODE = 0o100644
LINK_MODE = 0o120777


class Member(enum.Enum):
    """The archive is one gzip member per part (the kernel unpacks concatenated compressed members)."""

    BASE = "base"  # directories, busybox and its applet links, /init
    TOOLS = "tools"  # binaries of the root and their libraries
    PYTHON = "python"  # the interpreter, its standard-library subset and libraries
    MODULES = "modules"  # kernel modules and their modules.dep
    LAYOUTC = "layoutc"  # the board's generated files and the dumper
    EXTRA = "extra"  # files a caller adds (the lab's glue)


@dataclass(frozen=True, slots=True)
class PlanFile:
    """One archive entry: a directory (no data, no source, no link), a file or a symbolic link.

    ``source`` is a path on the build machine read when the archive is written; ``data`` given bytes;
    ``size`` the file's size in bytes (what the crash kernel's rootfs holds).
    """

    path: str  # inside the archive, no leading slash
    mode: int
    member: Member
    data: bytes | None = None
    source: str | None = None
    link: str | None = None
    size: int = 0

    @property
    def origin(self) -> str:
        if self.link is not None:
            return f"-> {self.link}"
        if self.source is not None:
            return self.source
        return "(directory)" if self.mode == DIR_MODE else "(generated)"


@dataclass(frozen=True, slots=True)
class CrashInitramfsPlan:
    """What one crash initramfs holds, for one board and one kernel release."""

    board: str
    release: str
    files: tuple[PlanFile, ...]
    modules: tuple[str, ...]  # shipped module names, load order
    builtin: tuple[str, ...]  # needed modules the kernel has built in (nothing shipped)
    tools: tuple[str, ...]  # device paths of the shipped binaries
    notes: tuple[str, ...] = field(default=())

    @property
    def unpacked(self) -> int:
        """Bytes of file data the crash kernel's rootfs holds once unpacked."""
        return sum(f.size for f in self.files)

    def member_sizes(self) -> dict[str, int]:
        sizes = {m.value: 0 for m in Member}
        for item in self.files:
            sizes[item.member.value] += item.size
        return sizes

    def largest(self, count: int = 5) -> tuple[PlanFile, ...]:
        return tuple(sorted(self.files, key=lambda f: (-f.size, f.path))[:count])


def parents(paths: Iterable[str]) -> tuple[str, ...]:
    """Every parent directory of ``paths``, parents before children (the kernel's unpacker does not make
    missing parents)."""
    dirs: set[str] = set()
    for path in paths:
        for parent in PurePosixPath(path.lstrip("/")).parents:
            if str(parent) != ".":
                dirs.add(str(parent))
    return tuple(sorted(dirs, key=lambda d: (d.count("/"), d)))


def ordered(files: Iterable[PlanFile]) -> tuple[PlanFile, ...]:
    """Entries by member, each member's directories first (shallow before deep), then its other
    entries sorted by path; a path listed twice keeps its first entry."""
    unique: dict[str, PlanFile] = {}
    for item in files:
        unique.setdefault(item.path.lstrip("/"), item)
    rank = {m: i for i, m in enumerate(Member)}
    return tuple(sorted(unique.values(), key=lambda f: (rank[f.member], f.mode != DIR_MODE,
                                                         f.path.count("/") if f.mode == DIR_MODE else 0, f.path)))
