"""The one contract between install planning (``layoutc.install``) and the writer that lays it into a root.

An ``InstallPlan`` says, for one board, every path below the root that ``layoutc install`` owns: a file
(bytes and mode, from one compiled artifact or made for the install, such as a preset) or a symbolic link
(a unit's enablement, as ``systemctl --root=DIR enable`` makes it). Paths are absolute as the installed
system sees them (``/etc/systemd/system/...``); the writer puts them below ``--root``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class EntryKind(enum.Enum):
    FILE = "file"
    LINK = "link"


@dataclass(frozen=True, slots=True)
class InstallEntry:
    """One path the install owns. ``source`` names the compiled artifact (its path in the board's
    directory), or is empty for what the install makes itself; ``target`` is a link's target."""

    path: str
    kind: EntryKind
    role: str
    source: str = ""
    content: bytes = b""
    mode: int = 0o644
    target: str = ""


@dataclass(frozen=True, slots=True)
class InstallPlan:
    """Everything one board installs, sorted by path, and where its manifest goes."""

    board: str
    profile: str
    version: str  # the layoutc that planned it
    entries: tuple[InstallEntry, ...]
    manifest: str  # the manifest's path in the root (it lists every entry, with its sha256)
    skipped: tuple[tuple[str, str], ...] = ()  # (artifact, why it is not installed)
