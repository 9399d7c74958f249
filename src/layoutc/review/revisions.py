"""A git revision of a profile tree, copied into a temporary directory with ``git show REV:PATH``.

Nothing is checked out: every profile file below the folder as of the revision is written below
``into`` at its repository path, and so is every file its ``extends`` chain names, so relative
``extends`` resolve in the copy as they did in the revision.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from layoutc.review.pipeline import RevisionError

PROFILE_SUFFIXES = (".yaml", ".yml")
_REGULAR_MODES = ("100644", "100755")
MAX_CHAIN = 8  # as the loader (docs/cli.md): a longer chain is its error, not a reason to copy more


@dataclass(frozen=True, slots=True)
class RevisionTree:
    """Where a folder of a revision was copied: ``root`` stands for the repository's top."""

    root: Path
    folder: Path  # the copied folder (``root`` / its repository path)
    files: tuple[PurePosixPath, ...]  # the profiles of the folder, relative to it


def repository_path(path: Path) -> tuple[Path, PurePosixPath]:
    """The top of the git work tree that holds ``path``, and ``path`` relative to it."""
    start = path if path.is_dir() else path.parent
    top = Path(_text(start if start.is_dir() else Path.cwd(), "rev-parse", "--show-toplevel").strip()).resolve()
    try:
        return top, PurePosixPath(path.resolve().relative_to(top).as_posix())
    except ValueError as exc:
        raise RevisionError(f"{path} is outside the git repository {top}") from exc


def object_type(top: Path, rev: str, rel: PurePosixPath) -> str:
    """``tree`` or ``blob``: what ``rel`` is in ``rev`` (RevisionError when it is not there)."""
    try:
        _run(top, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except RevisionError:
        raise RevisionError(f"unknown revision {rev!r}") from None
    try:
        return _text(top, "cat-file", "-t", f"{rev}:{_spec(rel)}").strip()
    except RevisionError:
        raise RevisionError(f"{_spec(rel) or '.'} is not in revision {rev!r}") from None


def copy_folder(top: Path, rev: str, rel: PurePosixPath, into: Path) -> RevisionTree:
    """Copy every regular ``*.yaml``/``*.yml`` below ``rel`` as of ``rev``, and their extends chains."""
    listing = _run(top, "ls-tree", "-r", "-z", "--full-tree", rev, "--", _spec(rel) or ".").decode()
    files: list[PurePosixPath] = []
    for entry in filter(None, listing.split("\0")):
        meta, _, name = entry.partition("\t")
        mode = meta.split(" ")[0]
        path = PurePosixPath(name)
        if mode in _REGULAR_MODES and path.suffix in PROFILE_SUFFIXES:
            files.append(path)
    copied: set[PurePosixPath] = set()
    for path in files:
        copy_chain(top, rev, path, into, copied)
    folder = into / rel
    folder.mkdir(parents=True, exist_ok=True)
    return RevisionTree(into, folder, tuple(sorted(p.relative_to(rel) for p in files)))


def copy_chain(top: Path, rev: str, path: PurePosixPath, into: Path, copied: set[PurePosixPath]) -> None:
    """Copy ``path`` and the bases its ``extends`` chain names; a base that is not in the revision or
    that leaves the repository is left out (the loader then reports it for the board)."""
    current: PurePosixPath | None = path
    for _ in range(MAX_CHAIN):
        if current is None or current in copied:
            return
        try:
            data = _run(top, "show", f"{rev}:{current.as_posix()}")
        except RevisionError:
            return
        target = into / current
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        copied.add(current)
        current = _base(current, data)


def _base(path: PurePosixPath, data: bytes) -> PurePosixPath | None:
    import yaml

    try:
        loaded = yaml.safe_load(data.decode("utf-8", errors="replace"))
    except yaml.YAMLError:
        return None
    value = loaded.get("extends") if isinstance(loaded, dict) else None
    if not isinstance(value, str):
        return None
    joined = os.path.normpath((path.parent / value).as_posix())
    if joined.startswith("..") or os.path.isabs(joined):
        return None
    return PurePosixPath(joined)


def _spec(rel: PurePosixPath) -> str:
    return "" if str(rel) == "." else rel.as_posix()


def _text(cwd: Path, *args: str) -> str:
    return _run(cwd, *args).decode("utf-8", errors="replace")


def _run(cwd: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except OSError as exc:
        raise RevisionError(f"cannot run git: {exc}") from exc
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        raise RevisionError(f"git {' '.join(args)}: {reason[0] if reason else 'failed'}")
    return done.stdout
