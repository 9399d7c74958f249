"""Reading a device's root (``--root``, default ``/``): paths resolved inside it, binaries and their libraries.

A symbolic link inside the root is followed inside the root (an absolute target is taken from the root's
top, as the device would), so ``--root /srv/device`` never reads the build machine's ``/usr``. Shared
libraries are found the way the dynamic loader finds them (ld.so(8)): ``DT_RPATH`` when there is no
``DT_RUNPATH``, then ``DT_RUNPATH``, then the directories of ``/etc/ld.so.conf`` (and the files it
includes), then the default ``/lib`` and ``/usr/lib`` (and their 64-bit and multiarch forms), reading
each ELF file's dynamic section with ``layoutc.initramfs.elf`` — nothing of the root is executed.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from layoutc.initramfs.elf import ElfError, dynamic_info, is_elf

DEFAULT_LIB_DIRS = ("/lib64", "/usr/lib64", "/lib", "/usr/lib")
MULTIARCH = {62: "x86_64-linux-gnu", 183: "aarch64-linux-gnu"}  # e_machine -> Debian's multiarch triplet
BIN_DIRS = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")


class RootError(Exception):
    """A file the crash initramfs needs that the root does not have (or cannot be read)."""


@dataclass(frozen=True, slots=True)
class Root:
    """A device's root directory on the build machine."""

    top: Path

    def host(self, path: str) -> Path:
        """Where the root's ``path`` (absolute, as on the device) is on the build machine, links followed."""
        return self.top / self.resolve(path).lstrip("/")

    def resolve(self, path: str) -> str:
        """``path`` with every symbolic link followed inside the root (an absolute device path)."""
        parts = list(PurePosixPath("/" + path.lstrip("/")).parts[1:])
        done: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                done = done[:-1]
                continue
            candidate = self.top.joinpath(*done, part)
            if candidate.is_symlink():
                hops += 1
                if hops > 40:
                    raise RootError(f"too many levels of symbolic links in {path}")
                target = os.readlink(candidate)
                if target.startswith("/"):
                    done = []
                parts = [p for p in target.split("/") if p] + parts
                continue
            done.append(part)
        return "/" + "/".join(done)

    def exists(self, path: str) -> bool:
        return self.host(path).is_file()

    def read(self, path: str) -> bytes:
        try:
            return self.host(path).read_bytes()
        except OSError as exc:
            raise RootError(f"{path} in root {self.top}: {exc.strerror}") from None

    def which(self, name: str) -> str | None:
        """The device path of command ``name`` (searched in BIN_DIRS), or None."""
        if name.startswith("/"):
            return name if self.exists(name) else None
        return next((f"{d}/{name}" for d in BIN_DIRS if self.exists(f"{d}/{name}")), None)

    def ld_so_conf(self) -> tuple[str, ...]:
        """The library directories ``/etc/ld.so.conf`` names, ``include`` globs followed (inside the root)."""
        found: list[str] = []
        pending = ["/etc/ld.so.conf"]
        seen: set[str] = set()
        while pending:
            conf = pending.pop(0)
            if conf in seen or not self.exists(conf):
                continue
            seen.add(conf)
            for raw in self.read(conf).decode("utf-8", "replace").splitlines():
                line = raw.split("#", 1)[0].strip()
                if line.startswith("include "):
                    pattern = str(self.top) + "/" + line.split(None, 1)[1].strip().lstrip("/")
                    pending += sorted("/" + os.path.relpath(p, self.top) for p in glob.glob(pattern))
                elif line.startswith("/"):
                    found.append(line)
        return tuple(found)

    def libraries(self, binary: str) -> dict[str, str]:
        """Every library the loader maps for the root's ``binary``, transitively, with the loader itself:
        ``{path as the loader asks for it: resolved device path}``. Not an ELF file (a script): none."""
        data = self.read(binary)
        if not is_elf(data):
            return {}
        conf = self.ld_so_conf()
        found: dict[str, str] = {}
        queue = [(binary, data)]
        done: set[str] = set()
        while queue:
            path, blob = queue.pop(0)
            if path in done:
                continue
            done.add(path)
            try:
                info = dynamic_info(blob)
            except ElfError as exc:
                raise RootError(f"{path}: {exc}") from None
            if info.interpreter and info.interpreter not in found:
                found[info.interpreter] = self.resolve(info.interpreter)
            origin = str(PurePosixPath(path).parent)
            search = [*(info.rpath if not info.runpath else ()), *info.runpath, *conf,
                      *_defaults(info.machine)]
            search = [d.replace("$ORIGIN", origin).replace("${ORIGIN}", origin) for d in search]
            for soname in info.needed:
                lib = next((f"{d}/{soname}" for d in search if self.exists(f"{d}/{soname}")), None)
                if lib is None:
                    raise RootError(f"{binary}: library {soname} (needed by {path}) not found in root {self.top}")
                if lib not in found:
                    found[lib] = self.resolve(lib)
                    queue.append((lib, self.read(lib)))
        return found


def _defaults(machine: int) -> tuple[str, ...]:
    triplet = MULTIARCH.get(machine)
    multi = (f"/lib/{triplet}", f"/usr/lib/{triplet}") if triplet else ()
    return (*multi, *DEFAULT_LIB_DIRS)
