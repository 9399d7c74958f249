"""The writer: atomic write-if-changed of a whole output tree, and ``--check`` drift detection.

A compile produces a list of files (relative path, bytes, mode). Nothing is written until
every file is known; each file goes to a temporary name in its directory and is renamed into
place, so an interrupted run never leaves a half-written file. Files whose bytes are unchanged
are not touched, so build systems keep their mtimes.

The output directory is locked (``flock``) while a tree is written, so two compiles into one
directory never mix their files: the second waits and then writes all of its own. Below the
output directory no symbolic link is ever followed: every directory is opened with
``O_NOFOLLOW`` relative to its parent, and a link where a directory or a file of the tree
belongs is refused before anything is written.
"""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


@dataclass(frozen=True, slots=True)
class OutputFile:
    relpath: str
    content: bytes
    mode: int = 0o644


@dataclass(frozen=True, slots=True)
class WriteReport:
    written: tuple[str, ...]
    unchanged: tuple[str, ...]
    removed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Drift:
    relpath: str
    reason: str  # "missing", "changed", "mode", "symlink"


@dataclass(frozen=True, slots=True)
class _Staged:
    relpath: str
    folder: tuple[str, ...]
    temporary: str
    name: str


class OutputError(Exception):
    """A file could not be written (permissions, disk full, a file where a directory should be)."""


_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def safe_relpath(relpath: str) -> PurePosixPath:
    """Refuse absolute paths and '..' so an output can never escape its directory."""
    pure = PurePosixPath(relpath)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise ValueError(f"unsafe output path: {relpath!r}")
    return pure


def write_tree(root: Path, files: Iterable[OutputFile], remove: Iterable[str] = ()) -> WriteReport:
    """Write every file under ``root`` atomically; unchanged files are left alone.

    All changed files are first written to temporary names, then flushed to disk with one sync
    (one fsync per file made a 200-board fleet spend seconds in fsync), then renamed into place.
    An error before the renames leaves every old file as it was. The whole run holds an
    exclusive lock on ``root``. Then each path of ``remove`` that is not among ``files`` is deleted
    (a file or a link, never a directory nor anything through a link), and so is every directory
    that deletion leaves empty.
    """
    items = sorted(files, key=lambda f: f.relpath)
    keep = {item.relpath for item in items}
    doomed = sorted({p for p in remove if p not in keep})
    parts = [safe_relpath(item.relpath).parts for item in items]
    try:
        os.makedirs(root, exist_ok=True)
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise OutputError(f"cannot write into {root}: {exc.strerror}") from exc
    try:
        fcntl.flock(root_fd, fcntl.LOCK_EX)
        for item, path in zip(items, parts, strict=True):
            _refuse_links(root, root_fd, item.relpath, path)
        report = _write_locked(root, root_fd, items, parts)
        return WriteReport(report.written, report.unchanged, _remove(root_fd, doomed))
    finally:
        os.close(root_fd)  # releases the lock


def _remove(root_fd: int, doomed: list[str]) -> tuple[str, ...]:
    """Delete the files of ``doomed`` (relative paths) that exist; then their emptied directories."""
    removed: list[str] = []
    emptied: set[tuple[str, ...]] = set()
    folders = _Folders(root_fd)
    try:
        for relpath in doomed:
            parts = safe_relpath(relpath).parts
            try:
                dir_fd = folders.open(parts[:-1], create=False)
                if stat.S_ISDIR(os.lstat(parts[-1], dir_fd=dir_fd).st_mode):
                    continue
                os.unlink(parts[-1], dir_fd=dir_fd)
            except OSError:
                continue
            removed.append(relpath)
            emptied.update(parts[:depth] for depth in range(1, len(parts)))
        folders.close()
        for folder in sorted(emptied, key=len, reverse=True):
            try:
                os.rmdir(folder[-1], dir_fd=folders.open(folder[:-1], create=False))
            except OSError:
                pass  # not empty: the user's files stay
    finally:
        folders.close()
    return tuple(removed)


def stray_files(root: Path, keep: Iterable[str], *, folders: Iterable[str] = ("",),
                top: bool = False) -> tuple[str, ...]:
    """Files below ``root`` that are not in ``keep``: in each of ``folders`` (recursively; ``""`` is
    the whole tree) and, with ``top``, directly in ``root``. Links are listed, never followed."""
    kept = set(keep)
    found: set[str] = set()
    if top:
        found.update(_entries(root, "", recursive=False))
    for folder in folders:
        found.update(_entries(root, folder, recursive=True))
    return tuple(sorted(found - kept))


def _entries(root: Path, folder: str, *, recursive: bool) -> list[str]:
    base = root / folder if folder else root
    if folder and (not os.path.lexists(base) or os.path.islink(base) or not base.is_dir()):
        return [folder] if os.path.lexists(base) else []
    listed: list[str] = []
    for here, subdirs, names in os.walk(base, followlinks=False):
        rel = os.path.relpath(here, root)
        prefix = "" if rel == "." else rel + "/"
        links = [d for d in subdirs if os.path.islink(os.path.join(here, d))]
        listed.extend(prefix + name for name in (*names, *links))
        if not recursive:
            break
    return listed


def _write_locked(root: Path, root_fd: int, items: list[OutputFile],
                  parts: list[tuple[str, ...]]) -> WriteReport:
    written: list[str] = []
    unchanged: list[str] = []
    staged: list[_Staged] = []
    folders = _Folders(root_fd)
    try:
        for item, path in zip(items, parts, strict=True):
            folder, name = path[:-1], path[-1]
            dir_fd = folders.open(folder, create=True)
            if _same(dir_fd, name, item):
                unchanged.append(item.relpath)
                continue
            staged.append(_Staged(item.relpath, folder, _stage(dir_fd, name, item.content, item.mode), name))
            written.append(item.relpath)
        if staged:
            os.sync()
        for entry in staged:
            dir_fd = folders.open(entry.folder, create=False)
            os.replace(entry.temporary, entry.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError as exc:
        _discard(folders, staged)
        where = f" ({root}/{exc.filename})" if isinstance(exc.filename, str) and exc.filename else ""
        raise OutputError(f"cannot write into {root}: {exc.strerror}{where}") from exc
    finally:
        folders.close()
    return WriteReport(tuple(written), tuple(unchanged))


class _Folders:
    """Directory descriptors below the output root, opened one component at a time without
    following a symbolic link. Only the last one is kept open (files come sorted by path)."""

    def __init__(self, root_fd: int) -> None:
        self.root_fd = root_fd
        self.cached: tuple[tuple[str, ...], int] | None = None

    def open(self, folder: tuple[str, ...], *, create: bool) -> int:
        if self.cached is not None and self.cached[0] == folder:
            return self.cached[1]
        self.close()
        fd = os.dup(self.root_fd)
        try:
            for index, name in enumerate(folder):
                if create:
                    try:
                        os.mkdir(name, 0o755, dir_fd=fd)
                    except FileExistsError:
                        pass
                try:
                    child = os.open(name, _DIRECTORY_FLAGS, dir_fd=fd)
                except OSError as exc:  # Linux says ENOTDIR for a link with O_DIRECTORY: say ELOOP
                    link = stat.S_ISLNK(os.lstat(name, dir_fd=fd).st_mode)
                    code = errno.ELOOP if link else exc.errno or errno.EIO
                    raise OSError(code, os.strerror(code), "/".join(folder[: index + 1])) from exc
                os.close(fd)
                fd = child
        except OSError:
            os.close(fd)
            raise
        self.cached = (folder, fd)
        return fd

    def close(self) -> None:
        if self.cached is not None:
            os.close(self.cached[1])
            self.cached = None


def _refuse_links(root: Path, root_fd: int, relpath: str, parts: tuple[str, ...]) -> None:
    """Refuse a symbolic link (or a non-directory) anywhere on the way to ``relpath``."""
    for depth in range(1, len(parts) + 1):
        sub = "/".join(parts[:depth])
        try:
            info = os.lstat(sub, dir_fd=root_fd)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise OutputError(f"cannot write into {root}: {root}/{sub}: {exc.strerror}") from exc
        if stat.S_ISLNK(info.st_mode):
            raise OutputError(f"cannot write into {root}: {root}/{sub} is a symbolic link; layoutc never writes "
                              "through links in its output (remove the link, then compile again)")
        if depth < len(parts) and not stat.S_ISDIR(info.st_mode):
            raise OutputError(f"cannot write into {root}: {root}/{sub} is not a directory (it holds {relpath})")


def _stage(dir_fd: int, name: str, content: bytes, mode: int) -> str:
    """Write ``content`` to a new temporary file beside ``name``; the caller renames it."""
    temporary = f".{name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                 dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            os.fchmod(handle.fileno(), mode)
    except OSError:
        os.unlink(temporary, dir_fd=dir_fd)
        raise
    return temporary


def _discard(folders: _Folders, staged: list[_Staged]) -> None:
    for entry in staged:
        try:
            os.unlink(entry.temporary, dir_fd=folders.open(entry.folder, create=False))
        except OSError:
            pass


def write_atomic(target: Path, content: bytes, mode: int = 0o644) -> None:
    """Write ``content`` to ``target`` through a temporary file and a rename."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write {target}: {exc.strerror}") from exc


def check_tree(root: Path, files: Iterable[OutputFile]) -> tuple[Drift, ...]:
    """What ``write_tree`` would change, without writing anything (under a shared lock on ``root``)."""
    items = sorted(files, key=lambda f: f.relpath)
    try:
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return tuple(Drift(item.relpath, "missing") for item in items)
    try:
        fcntl.flock(root_fd, fcntl.LOCK_SH)
        return tuple(d for d in (_drift(root_fd, item) for item in items) if d is not None)
    finally:
        os.close(root_fd)


def _drift(root_fd: int, item: OutputFile) -> Drift | None:
    parts = safe_relpath(item.relpath).parts
    folders = _Folders(root_fd)
    try:
        dir_fd = folders.open(parts[:-1], create=False)
        info = os.lstat(parts[-1], dir_fd=dir_fd)
        if stat.S_ISLNK(info.st_mode):
            return Drift(item.relpath, "symlink")
        content = _read(dir_fd, parts[-1])
    except OSError as exc:
        reason = {errno.ELOOP: "symlink", errno.ENOENT: "missing"}.get(exc.errno or 0, "changed")
        return Drift(item.relpath, reason)
    finally:
        folders.close()
    if content is None:
        return Drift(item.relpath, "missing")
    if content[0] != item.content:
        return Drift(item.relpath, "changed")
    if content[1] != item.mode:
        return Drift(item.relpath, "mode")
    return None


def _read(dir_fd: int, name: str) -> tuple[bytes, int] | None:
    """Bytes and permission bits of a regular file, never through a link or a FIFO."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None
        return handle.read(), info.st_mode & 0o777


def _same(dir_fd: int, name: str, item: OutputFile) -> bool:
    try:
        found = _read(dir_fd, name)
    except OSError:
        return False
    return found is not None and found == (item.content, item.mode)
