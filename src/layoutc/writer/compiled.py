"""Read back a compiled board (``OUT`` of one profile, or ``OUT/<board>`` of a fleet) for ``install --from``.

Every file ``OUT/manifest.json`` lists for the board is read (never through a link) and compared with
the sha256 the compile recorded, so a board changed by hand after its compile is refused rather
than installed (``CompiledBoardError``, LC504). Paths come back relative to the board's directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from layoutc.writer.tree import safe_relpath

_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_LIMIT = 1 << 26  # no compiled file is this large


@dataclass(frozen=True, slots=True)
class CompiledFile:
    relpath: str  # relative to the board's directory
    content: bytes
    mode: int
    role: str
    board: str
    profile: str


class CompiledBoardError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _read(path: Path) -> tuple[bytes, int]:
    fd = os.open(path, _READ_FLAGS)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OSError(0, "not a regular file", str(path))
        return handle.read(_LIMIT), info.st_mode & 0o7777


def _manifest(board_dir: Path) -> tuple[Path, str, list[dict[str, object]]]:
    """The compile manifest that lists ``board_dir``, and the prefix of the board's paths in it."""
    for manifest, prefix in ((board_dir / "manifest.json", ""), (board_dir.parent / "manifest.json",
                                                                  f"{board_dir.name}/")):
        try:
            doc = json.loads(_read(manifest)[0])
            listed = [e for e in doc["artifacts"] if str(e["path"]).startswith(prefix) and e.get("board")]
        except (OSError, ValueError, TypeError, KeyError):
            continue
        if any(str(e["path"]) == f"{prefix}layout.json" for e in listed):
            return manifest, prefix, listed
    raise CompiledBoardError("LC506", f"{board_dir} is not a compiled board: no manifest.json beside it or "
                             "above it lists its layout.json (compile it with layoutc compile PROFILE -o OUT)")


def read_compiled(board_dir: Path) -> tuple[CompiledFile, ...]:
    """Every file of the compiled board, each checked against its compile manifest (sorted by path)."""
    manifest, prefix, listed = _manifest(board_dir)
    files: list[CompiledFile] = []
    problems: list[str] = []
    for entry in listed:
        relpath = str(entry["path"])[len(prefix):]
        try:
            safe_relpath(relpath)
            content, mode = _read(board_dir / relpath)
        except (OSError, ValueError) as exc:
            problems.append(f"{relpath}: {exc.strerror if isinstance(exc, OSError) else exc}")
            continue
        if hashlib.sha256(content).hexdigest() != entry.get("sha256"):
            problems.append(f"{relpath}: its sha256 is not the one {manifest} records")
            continue
        mode = int(str(entry.get("mode", f"{mode:04o}")), 8)  # as compiled, whatever a chmod did since
        files.append(CompiledFile(relpath, content, mode, str(entry.get("role", "")), str(entry.get("board", "")),
                                  str(entry.get("profile", ""))))
    if problems:
        raise CompiledBoardError("LC504", f"{board_dir} was changed after its compile: " + "; ".join(problems))
    return tuple(sorted(files, key=lambda f: f.relpath))
