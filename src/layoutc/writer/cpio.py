"""The crash initramfs on disk: a ``CrashInitramfsPlan`` as compressed ``newc`` cpio members, written atomically.

The kernel's unpacker (LNX:init/initramfs.c unpack_to_rootfs, read at 6.1 and 7.2) takes concatenated
archives, each compressed on its own; the archive here is one gzip member per ``Member`` of the plan, in
plan order, so that directories come before what they hold (the unpacker does not create missing parents).
gzip because every kernel that boots an initramfs has RD_GZIP; the format is ``newc``
(Documentation/driver-api/early-userspace/buffer-format.rst): a 110-byte ASCII header, the name, the data,
each padded to 4 bytes, and a ``TRAILER!!!`` entry. Deterministic: mtime 0, uid and gid 0, fixed inode
numbers, gzip mtime 0.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from layoutc.writer.tree import OutputError, write_atomic


class Entry(Protocol):
    """What an archive entry needs (``layoutc.initramfs.plan.PlanFile`` is one)."""

    @property
    def path(self) -> str: ...
    @property
    def mode(self) -> int: ...
    @property
    def data(self) -> bytes | None: ...
    @property
    def source(self) -> str | None: ...
    @property
    def link(self) -> str | None: ...


class Plan(Protocol):
    @property
    def files(self) -> tuple[Entry, ...]: ...


@dataclass(frozen=True, slots=True)
class Written:
    path: Path
    size: int  # compressed bytes on disk (the kexec initrd segment)
    uncompressed: int  # bytes of the cpio archives before compression


def payload(entry: Entry) -> bytes:
    if entry.link is not None:
        return entry.link.encode()
    if entry.data is not None:
        return entry.data
    if entry.source is not None:
        try:
            return Path(entry.source).read_bytes()
        except OSError as exc:
            raise OutputError(f"cannot read {entry.source}: {exc.strerror}") from exc
    return b""


def newc(entries: Iterable[Entry], first_inode: int = 1, trailer: bool = True) -> bytes:
    """Entries as one uncompressed newc archive (with its trailer)."""
    out = io.BytesIO()
    items: list[tuple[str, int, bytes]] = [(e.path.lstrip("/"), e.mode, payload(e)) for e in entries]
    if trailer:
        items.append(("TRAILER!!!", 0, b""))
    for ino, (path, mode, data) in enumerate(items, start=first_inode):
        name = path.encode() + b"\0"
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name), 0)
        out.write(b"070701" + b"".join(b"%08X" % v for v in fields))
        out.write(name)
        out.write(b"\0" * (-(110 + len(name)) % 4))
        out.write(data)
        out.write(b"\0" * (-len(data) % 4))
    return out.getvalue()


def members(plan: Plan, key: str = "member") -> list[list[Entry]]:
    """The plan's entries split where their ``member`` changes (plan order kept)."""
    groups: list[list[Entry]] = []
    last: object = object()
    for entry in plan.files:
        group = getattr(entry, key, None)
        if not groups or group != last:
            groups.append([])
            last = group
        groups[-1].append(entry)
    return groups


def archive(plan: Plan) -> tuple[bytes, int]:
    """The compressed archive and its uncompressed size."""
    parts: list[bytes] = []
    raw = 0
    inode = 1
    for group in members(plan):
        data = newc(group, inode)
        inode += len(group) + 1
        raw += len(data)
        parts.append(gzip.compress(data, compresslevel=9, mtime=0))
    return b"".join(parts), raw


def write_initramfs(plan: Plan, target: Path) -> Written:
    """Write the archive of ``plan`` to ``target`` through a temporary file and a rename."""
    data, raw = archive(plan)
    write_atomic(target, data, 0o644)
    return Written(target, len(data), raw)
