"""Paths below an install root, resolved one component at a time without ever leaving the root.

``--root DIR`` is the installed system's ``/``. A destination like ``/etc/systemd/system/x.service``
is walked from the root's descriptor with ``O_NOFOLLOW`` at every step. A symbolic link on the way is
followed only when its target stays inside the root: a relative target whose ``..`` never climbs
above the root, or an absolute one when the root is ``/`` itself (in an image tree, ``etc -> /etc``
names the build host's ``/etc``). Anything else is refused (``RootEscape``) before a byte is written.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import PurePosixPath

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_LINKS = 40  # as the kernel's path walk (MAXSYMLINKS)


class RootEscape(Exception):
    """A component of a destination is a link that leaves the root (or loops)."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.path = path
        self.detail = detail


class NotADirectoryInRoot(Exception):
    """A component on the way to a destination exists and is not a directory."""

    def __init__(self, path: str) -> None:
        super().__init__(f"{path} is not a directory")
        self.path = path


def parts_of(path: str) -> tuple[str, ...]:
    """The components of an absolute, normalised installed path ('/etc/x' -> ('etc', 'x'))."""
    pure = PurePosixPath(path)
    if not pure.is_absolute() or ".." in pure.parts or "." in path.split("/") or len(pure.parts) < 2:
        raise ValueError(f"not an absolute installed path: {path!r}")
    return pure.parts[1:]


def shown(parts: tuple[str, ...] | list[str]) -> str:
    return "/" + "/".join(parts)


class RootDirs:
    """Opens directories below a root descriptor; ``created`` lists (resolved) directories it made."""

    def __init__(self, root_fd: int, root_is_slash: bool) -> None:
        self.root_fd = root_fd
        self.root_is_slash = root_is_slash
        self.created: list[str] = []

    def resolve(self, folder: tuple[str, ...], *, create: bool) -> tuple[int | None, tuple[str, ...]]:
        """A descriptor of ``folder`` (None when a component is missing and ``create`` is false) and its
        resolved components. Raises ``RootEscape`` or ``NotADirectoryInRoot``."""
        pending = list(folder)
        done: list[str] = []
        fd = os.dup(self.root_fd)
        hops = 0
        try:
            while pending:
                name = pending.pop(0)
                step = self._step(fd, done, name, create)
                if step is None:
                    os.close(fd)
                    return None, (*done, name, *pending)
                if isinstance(step, list):  # a link: restart from the root along its resolved target
                    hops += 1
                    if hops > _MAX_LINKS:
                        raise RootEscape(shown([*done, name]), "too many levels of symbolic links")
                    pending = [*step, *pending]
                    done = []
                    os.close(fd)
                    fd = os.dup(self.root_fd)
                    continue
                os.close(fd)
                fd = step
                done.append(name)
        except BaseException:
            os.close(fd)
            raise
        return fd, tuple(done)

    def _step(self, fd: int, done: list[str], name: str, create: bool) -> int | list[str] | None:
        try:
            info = os.lstat(name, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                return None
            os.mkdir(name, 0o755, dir_fd=fd)
            self.created.append(shown([*done, name]))
            info = os.lstat(name, dir_fd=fd)
        if stat.S_ISLNK(info.st_mode):
            return self._link_target(done, name, os.readlink(name, dir_fd=fd))
        if not stat.S_ISDIR(info.st_mode):
            raise NotADirectoryInRoot(shown([*done, name]))
        try:
            return os.open(name, _DIRECTORY_FLAGS, dir_fd=fd)
        except OSError as exc:  # replaced by a link since the lstat: refuse rather than follow
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise RootEscape(shown([*done, name]), "changed while it was resolved") from exc
            raise

    def _link_target(self, done: list[str], name: str, target: str) -> list[str]:
        here = shown([*done, name])
        if target.startswith("/"):
            if not self.root_is_slash:
                raise RootEscape(here, f"is a symbolic link to the absolute path {target}, which names the "
                                 "host's file system, not the root's")
            base: list[str] = []
        else:
            base = list(done)
        for part in target.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if not base:
                    raise RootEscape(here, f"is a symbolic link to {target}, which leaves the root")
                base.pop()
            else:
                base.append(part)
        return base
