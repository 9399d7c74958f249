"""``layoutc install``: lay an ``InstallPlan`` into a root, or take it out again, as one transaction.

Every destination is resolved below the root by ``root_paths`` (no link leaves the root). Nothing is
touched until every destination has been checked: a file that is neither layoutc's (listed in the
root's manifest with the bytes found) nor already identical is refused, and so is an installed file
changed since. Then each file goes to a temporary name and is renamed into place; a replaced or
removed file is first kept under a hard-linked backup name, so an error at any point restores every
file this run touched and removes every directory it made (``InstallError`` LC508). A second run
with the same plan changes nothing. The root is locked (``flock``) for the whole run.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from layoutc.model.install_plan import EntryKind, InstallEntry, InstallPlan
from layoutc.writer.root_paths import NotADirectoryInRoot, RootDirs, RootEscape, parts_of

MANIFEST_VERSION = 1


class InstallError(Exception):
    """A refusal or a failure, with its diagnostic code (``layoutc.install.install_codes``)."""

    def __init__(self, code: str, message: str, path: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.path = path


class InstallRefused(Exception):
    """Every refusal found while checking the destinations; nothing was written."""

    def __init__(self, errors: list[InstallError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = tuple(errors)


@dataclass(frozen=True, slots=True)
class Change:
    path: str
    kind: str  # file, link, directory
    action: str  # written, unchanged, removed (or would-write, would-remove with dry_run)


@dataclass(frozen=True, slots=True)
class InstallReport:
    root: str
    board: str
    changes: tuple[Change, ...]
    dry_run: bool

    @property
    def changed(self) -> bool:
        return any(c.action != "unchanged" for c in self.changes)


@dataclass(frozen=True, slots=True)
class _Step:
    """One path of the transaction: what goes there (None: it is removed) and what is there now."""

    entry: InstallEntry | None
    path: str
    kind: EntryKind
    present: bool
    same: bool


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _entry_json(entry: InstallEntry) -> dict[str, object]:
    return {"path": entry.path, "kind": entry.kind.value, "role": entry.role, "source": entry.source,
            "mode": f"{entry.mode:04o}", "target": entry.target,
            "sha256": sha256(entry.content if entry.kind is EntryKind.FILE else entry.target.encode())}


def manifest_bytes(plan: InstallPlan, directories: list[str] | tuple[str, ...]) -> bytes:
    """The manifest: every entry (path, sha256, mode), the directories the install made, who made it."""
    doc = {"schema_version": MANIFEST_VERSION, "generator": "layoutc", "version": plan.version,
           "board": plan.board, "profile": plan.profile, "directories": sorted(set(directories)),
           "entries": [_entry_json(e) for e in plan.entries]}
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


@contextmanager
def _locked_root(root: Path, *, make: bool = False) -> Iterator[RootDirs]:
    try:
        if make:
            os.makedirs(root, exist_ok=True)
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise InstallError("LC508", f"cannot open the root {root}: {exc.strerror}", str(root)) from exc
    try:
        fcntl.flock(root_fd, fcntl.LOCK_EX)
        yield RootDirs(root_fd, os.path.realpath(root) == "/")
    finally:
        os.close(root_fd)


def _lookup(dirs: RootDirs, path: str, *, create: bool = False) -> tuple[int | None, str]:
    """The directory descriptor of ``path``'s parent (None: not there yet) and ``path``'s last name."""
    parts = parts_of(path)
    try:
        fd, _ = dirs.resolve(parts[:-1], create=create)
    except RootEscape as exc:
        raise InstallError("LC501", f"{exc.path} {exc.detail}; nothing was written", path) from exc
    except NotADirectoryInRoot as exc:
        raise InstallError("LC511", f"{exc.path} is not a directory (it would hold {path})", path) from exc
    return fd, parts[-1]


def _found(dir_fd: int | None, name: str, path: str) -> tuple[str, bytes, int] | None:
    """What is at ``name``: ("file", bytes, mode), ("link", target, 0) or None; LC511 for anything else."""
    if dir_fd is None:
        return None
    try:
        info = os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        return "link", os.readlink(name, dir_fd=dir_fd).encode(), 0
    if not stat.S_ISREG(info.st_mode):
        raise InstallError("LC511", f"{path} is a directory or a special file, not a regular file", path)
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as handle:
        return "file", handle.read(), os.fstat(handle.fileno()).st_mode & 0o7777


def read_manifest(root: Path, path: str) -> dict[str, object] | None:
    """The install manifest of ``root`` (None when there is none). LC507 when it is not layoutc's JSON."""
    with _locked_root(root) as dirs:
        fd, name = _lookup(dirs, path)
        try:
            found = _found(fd, name, path)
        finally:
            if fd is not None:
                os.close(fd)
    if found is None:
        return None
    return _parse_manifest(found, path)


def _parse_manifest(found: tuple[str, bytes, int], path: str) -> dict[str, object]:
    try:
        if found[0] != "file":
            raise ValueError("a symbolic link")
        doc = json.loads(found[1])
        entries = doc["entries"]
        if doc.get("generator") != "layoutc" or not isinstance(entries, list):
            raise ValueError("not written by layoutc install")
        for entry in entries:
            parts_of(entry["path"])
            EntryKind(entry["kind"])
            if not isinstance(entry["sha256"], str):
                raise ValueError("an entry without sha256")
        for folder in doc.get("directories", []):
            parts_of(folder)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InstallError("LC507", f"{path} is not an install manifest of layoutc: {exc}", path) from exc
    result: dict[str, object] = doc
    return result


def _recorded(manifest: dict[str, object] | None) -> dict[str, dict[str, str]]:
    if manifest is None:
        return {}
    entries = manifest["entries"]
    assert isinstance(entries, list)
    return {str(e["path"]): e for e in entries}


def _want(entry: InstallEntry) -> tuple[str, bytes, int]:
    if entry.kind is EntryKind.LINK:
        return "link", entry.target.encode(), 0
    return "file", entry.content, entry.mode


def _owned(found: tuple[str, bytes, int], record: dict[str, str] | None, path: str, force: bool) -> None:
    """Refuse to replace or remove what is not layoutc's, or what changed since it was installed."""
    if force:
        return
    if record is None:
        raise InstallError("LC502", f"{path} exists and is not layoutc's (the install manifest does not list it); "
                           "move it away, or pass --force to replace it", path)
    if sha256(found[1]) != record.get("sha256"):
        raise InstallError("LC503", f"{path} was changed since layoutc installed it; keep your copy elsewhere, "
                           "or pass --force to replace it", path)


def _inspect(dirs: RootDirs, path: str) -> tuple[str, bytes, int] | None:
    fd, name = _lookup(dirs, path)
    try:
        return _found(fd, name, path)
    finally:
        if fd is not None:
            os.close(fd)


def _check(dirs: RootDirs, entries: tuple[InstallEntry, ...], recorded: dict[str, dict[str, str]],
           force: bool) -> tuple[list[_Step], list[InstallError]]:
    """Every step of the transaction, and every refusal (all of them, not only the first)."""
    steps: list[_Step] = []
    errors: list[InstallError] = []
    keep = {e.path for e in entries}
    for entry in entries:
        try:
            found = _inspect(dirs, entry.path)
            same = found == _want(entry)
            if found is not None and not same:
                _owned(found, recorded.get(entry.path), entry.path, force)
        except InstallError as exc:
            errors.append(exc)
            continue
        steps.append(_Step(entry, entry.path, entry.kind, found is not None, same))
    for path, record in sorted(recorded.items()):
        if path in keep:
            continue
        try:
            found = _inspect(dirs, path)
            if found is not None:
                _owned(found, record, path, force)
        except InstallError as exc:
            errors.append(exc)
            continue
        if found is not None:
            steps.append(_Step(None, path, EntryKind(record["kind"]), True, False))
    return steps, errors


def _new_name(name: str, what: str) -> str:
    return f".{name}.{secrets.token_hex(6)}.layoutc-{what}"


@dataclass(frozen=True, slots=True)
class _Done:
    path: str
    name: str
    backup: str | None  # the old file, kept until the commit
    made: bool  # a new file is at ``name``


def _put(dirs: RootDirs, step: _Step, journal: list[_Done]) -> None:
    """Write one entry (temporary name, backup of the old one, rename) or remove one (rename to a backup)."""
    fd, name = _lookup(dirs, step.path)
    assert fd is not None, f"{step.path}: its directory was made before the writes"
    try:
        backup = _new_name(name, "old") if step.present else None
        if step.entry is None:
            assert backup is not None
            os.rename(name, backup, src_dir_fd=fd, dst_dir_fd=fd)
            journal.append(_Done(step.path, name, backup, made=False))
            return
        temporary = _new_name(name, "new")
        if step.entry.kind is EntryKind.LINK:
            os.symlink(step.entry.target, temporary, dir_fd=fd)
        else:
            _stage(fd, temporary, step.entry.content, step.entry.mode)
        if backup is not None:
            os.link(name, backup, src_dir_fd=fd, dst_dir_fd=fd, follow_symlinks=False)
        try:
            os.replace(temporary, name, src_dir_fd=fd, dst_dir_fd=fd)
        except OSError:
            os.unlink(temporary, dir_fd=fd)
            raise
        journal.append(_Done(step.path, name, backup, made=True))
    finally:
        os.close(fd)


def _stage(dir_fd: int, temporary: str, content: bytes, mode: int) -> None:
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                 dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
    except OSError:
        os.unlink(temporary, dir_fd=dir_fd)
        raise


def _each_done(dirs: RootDirs, journal: list[_Done], restore: bool) -> None:
    """Roll back (``restore``) or commit the journal: put back or drop every backup."""
    for done in reversed(journal):
        try:
            fd, _ = _lookup(dirs, done.path)
        except InstallError:
            continue
        if fd is None:
            continue
        try:
            if restore and done.backup is not None:
                os.replace(done.backup, done.name, src_dir_fd=fd, dst_dir_fd=fd)
            elif restore and done.made:
                os.unlink(done.name, dir_fd=fd)
            elif done.backup is not None:
                os.unlink(done.backup, dir_fd=fd)
        except OSError:
            pass  # best effort: a leftover is named .NAME.*.layoutc-old
        finally:
            os.close(fd)


def _remove_dirs(dirs: RootDirs, folders: list[str]) -> list[str]:
    """Remove each directory of ``folders`` that is empty, deepest first; the ones removed."""
    removed: list[str] = []
    for folder in sorted(set(folders), key=lambda f: (f.count("/"), f), reverse=True):
        try:
            fd, name = _lookup(dirs, folder)
        except InstallError:
            continue
        if fd is None:
            continue
        try:
            os.rmdir(name, dir_fd=fd)
            removed.append(folder)
        except OSError:
            pass  # not empty: someone else's files are in it
        finally:
            os.close(fd)
    return removed


def _manifest_in(dirs: RootDirs, path: str) -> tuple[bytes | None, dict[str, object] | None]:
    found = _inspect(dirs, path)
    return (None, None) if found is None else (found[1], _parse_manifest(found, path))


def _directories(manifest: dict[str, object] | None) -> list[str]:
    listed = (manifest or {}).get("directories") or []
    return [str(d) for d in listed] if isinstance(listed, list) else []


def _dry(steps: list[_Step]) -> list[Change]:
    def action(step: _Step) -> str:
        return "unchanged" if step.same else "would-remove" if step.entry is None else "would-write"

    return [Change(s.path, s.kind.value, action(s)) for s in steps]


def _transaction(dirs: RootDirs, steps: list[_Step], make: tuple[str, ...] = (),
                 last: Callable[[], _Step] | None = None) -> list[Change]:
    """Make the parent directories of ``make``, then run every step that changes something (``last``
    is made after the directories: the manifest lists them); all or nothing."""
    journal: list[_Done] = []
    try:
        for path in make:
            fd, _ = dirs.resolve(parts_of(path)[:-1], create=True)
            if fd is not None:
                os.close(fd)
        if last is not None:
            steps = [*steps, last()]
        for step in steps:
            if not step.same:
                _put(dirs, step, journal)
    except (OSError, InstallError, RootEscape, NotADirectoryInRoot) as exc:
        _each_done(dirs, journal, restore=True)
        _remove_dirs(dirs, dirs.created)
        detail = exc.message if isinstance(exc, InstallError) else str(exc)
        raise InstallError("LC508", f"the install stopped ({detail}); every file it had changed was put back",
                           getattr(exc, "path", "")) from exc
    _each_done(dirs, journal, restore=False)
    return [Change(s.path, s.kind.value, "unchanged" if s.same else "removed" if s.entry is None else "written")
            for s in steps]


def install(root: Path, plan: InstallPlan, *, force: bool = False, dry_run: bool = False) -> InstallReport:
    """Lay ``plan`` into ``root``: write what changed, remove what the previous install had and this
    plan has not, record it all in the manifest. Raises ``InstallRefused`` (nothing written) or
    ``InstallError`` (rolled back)."""
    with _locked_root(root, make=not dry_run) as dirs:
        raw, previous = _manifest_in(dirs, plan.manifest)
        if previous is not None and previous.get("board") != plan.board and not force:
            raise InstallRefused([InstallError("LC510", f"board {previous.get('board')!s} is installed in {root}; "
                                               f"uninstall it first, or pass --force to replace it by "
                                               f"{plan.board}", plan.manifest)])
        recorded = _recorded(previous)
        steps, errors = _check(dirs, plan.entries, recorded, force)
        if errors:
            raise InstallRefused(errors)
        old_dirs = _directories(previous)
        if dry_run:
            manifest = manifest_bytes(plan, old_dirs)
            changes = _dry(steps)
            unchanged = raw == manifest and not any(c.action != "unchanged" for c in changes)
            changes.append(Change(plan.manifest, "file", "unchanged" if unchanged else "would-write"))
            return InstallReport(str(root), plan.board, tuple(changes), dry_run=True)

        def last() -> _Step:
            manifest = manifest_bytes(plan, [*old_dirs, *dirs.created])
            entry = InstallEntry(plan.manifest, EntryKind.FILE, "install-manifest", content=manifest)
            return _Step(entry, plan.manifest, EntryKind.FILE, raw is not None, raw == manifest)

        changes = _transaction(dirs, steps, (*(s.path for s in steps if not s.same), plan.manifest), last)
        return InstallReport(str(root), plan.board, tuple(changes), dry_run=False)


def uninstall(root: Path, manifest: str, *, force: bool = False, dry_run: bool = False) -> InstallReport:
    """Remove every path the manifest of ``root`` lists, the manifest, and the directories the install
    made that are empty again. Nothing installed: an empty report (board "")."""
    with _locked_root(root) as dirs:
        _, previous = _manifest_in(dirs, manifest)
        if previous is None:
            return InstallReport(str(root), "", (), dry_run)
        steps, errors = _check(dirs, (), _recorded(previous), force)
        if errors:
            raise InstallRefused(errors)
        steps.append(_Step(None, manifest, EntryKind.FILE, True, False))
        board = str(previous.get("board", ""))
        folders = _directories(previous)
        if dry_run:
            return InstallReport(str(root), board, tuple(_dry(steps)), dry_run=True)
        changes = _transaction(dirs, steps)
        changes += [Change(d, "directory", "removed") for d in _remove_dirs(dirs, folders)]
        return InstallReport(str(root), board, tuple(changes), dry_run=False)
