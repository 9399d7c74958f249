"""A foreign-architecture guest userland: Debian packages unpacked into a sysroot in the lab cache.

The x86 lab ships the host's own binaries (busybox, kexec, ndctl, python3.11) into its guests. An arm64 guest
needs arm64 ones, so the same packages are fetched for arm64 from the host's mirror with the private apt state
of ``kernels.Apt`` (``apt-get download``, never installed) and unpacked with ``dpkg-deb -x`` into
``<cache>/userland/arm64/root``. ``ldd`` cannot run a foreign binary, so shared libraries are found by reading
the ELF file itself (``PT_INTERP`` and ``DT_NEEDED``) and looking the sonames up in the sysroot's library
directories, symbolic links resolved inside the sysroot.

Packages: busybox-static, kexec-tools, ndctl, daxctl, util-linux (lsmem), python3.11-minimal and
libpython3.11-stdlib (the guest's interpreter; its standard library ``.py`` files are compiled by the host's
python3.11, which writes the same bytecode), and the shared-library packages among their dependencies
(``apt-cache depends --recurse``, Depends and Pre-Depends). bookworm is the default release, so the
interpreter is bookworm's 3.11, the host's.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from layoutc.lab.errors import LabError
from layoutc.lab.image import aptsources, kernels

USERLAND = ("busybox-static", "kexec-tools", "ndctl", "daxctl", "util-linux", "python3.11-minimal",
            "libpython3.11-stdlib")  # fmt: skip
# the crash cycle's arm64 roots: mkfs.ext4 (capture.sh), dash (recover.sh runs under the OS's /bin/sh), and the
# codec of a zstd filter spec (the crash initramfs ships it beside the dumper)
CYCLE_USERLAND = ("e2fsprogs", "dash", "python3-zstandard")
TRIPLETS = {"arm64": "aarch64-linux-gnu", "amd64": "x86_64-linux-gnu"}
ELF_MACHINES = {"arm64": 183, "amd64": 62}  # e_machine: EM_AARCH64, EM_X86_64
_LIB_RE = re.compile(r"^(lib|zlib1g)")  # shared-library packages (Debian policy 8.1: named after the soname)
_NOT_LIBS = ("-bin", "-data", "-common", "-dev", "-doc", "-modules", "-runtime")
_PT_LOAD, _PT_DYNAMIC, _PT_INTERP = 1, 2, 3
_DT_NULL, _DT_NEEDED, _DT_STRTAB = 0, 1, 5


@dataclass(frozen=True, slots=True)
class ElfDeps:
    machine: int
    interpreter: str | None
    needed: tuple[str, ...]


def elf_deps(data: bytes) -> ElfDeps:
    """``PT_INTERP`` and ``DT_NEEDED`` of a little-endian ELF64 file (a static binary has neither)."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise LabError("usage", "not a little-endian ELF64 file")
    machine = struct.unpack_from("<H", data, 0x12)[0]
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    loads: list[tuple[int, int, int]] = []  # (vaddr, offset, filesz)
    interp: str | None = None
    dynamic: tuple[int, int] | None = None
    for i in range(phnum):
        ptype, _flags, off, vaddr, _paddr, filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if ptype == _PT_LOAD:
            loads.append((vaddr, off, filesz))
        elif ptype == _PT_INTERP:
            interp = data[off : off + filesz].split(b"\0", 1)[0].decode()
        elif ptype == _PT_DYNAMIC:
            dynamic = (off, filesz)
    if dynamic is None:
        return ElfDeps(machine, interp, ())
    entries = [struct.unpack_from("<qQ", data, dynamic[0] + j) for j in range(0, dynamic[1], 16)]
    strtab = next((val for tag, val in entries if tag == _DT_STRTAB), None)
    needed_offsets = [val for tag, val in entries if tag == _DT_NEEDED]
    base = next((off + strtab - va for va, off, size in loads if strtab is not None and va <= strtab < va + size), None)
    if base is None:
        raise LabError("usage", "ELF file has DT_NEEDED entries but no loadable DT_STRTAB")
    names = tuple(data[base + n : data.index(b"\0", base + n)].decode() for n in needed_offsets)
    return ElfDeps(machine, interp, names)


@dataclass(frozen=True, slots=True)
class Sysroot:
    """Unpacked packages of one architecture: guest paths (``/usr/bin/kexec``) resolve inside ``path``."""

    path: Path
    arch: str
    packages: tuple[str, ...] = ()

    @property
    def triplet(self) -> str:
        return TRIPLETS[self.arch]

    def resolve(self, guest_path: str) -> Path:
        """The host file behind ``guest_path``, every symbolic link resolved inside the sysroot."""
        parts = list(PurePosixPath(guest_path).parts[1:])
        current = self.path
        for _hop in range(64):
            if not parts:
                return current
            nxt = current / parts.pop(0)
            if nxt.is_symlink():
                target = PurePosixPath(str(nxt.readlink()))
                parts = [*target.parts[1:], *parts] if target.is_absolute() else [*target.parts, *parts]
                current = self.path if target.is_absolute() else current
                continue
            current = nxt if nxt.name != ".." else current.parent
        raise LabError("usage", f"{guest_path}: too many symbolic links in {self.path}")

    def exists(self, guest_path: str) -> bool:
        return self.resolve(guest_path).is_file()

    def read(self, guest_path: str) -> bytes:
        host = self.resolve(guest_path)
        if not host.is_file():
            raise LabError("tool-missing", f"{guest_path} is not in the {self.arch} userland {self.path}")
        return host.read_bytes()

    def which(self, tool: str) -> str:
        """The guest path of ``tool`` (a name looked up in the sbin and bin directories, or a path)."""
        if "/" in tool:
            candidates = [tool]
        else:
            candidates = [f"{d}/{tool}" for d in ("/usr/sbin", "/usr/bin", "/sbin", "/bin")]
        for path in candidates:
            if self.exists(path):
                return path
        raise LabError("tool-missing", f"{tool} is not in the {self.arch} userland {self.path}")

    def find_library(self, soname: str) -> str | None:
        for d in (f"/lib/{self.triplet}", f"/usr/lib/{self.triplet}", "/lib", "/usr/lib"):
            if self.exists(f"{d}/{soname}"):
                return f"{d}/{soname}"
        return None

    def libraries(self, guest_path: str) -> list[str]:
        """Guest paths of the dynamic loader and every library ``guest_path`` needs, transitively."""
        found: list[str] = []
        todo = [guest_path]
        while todo:
            deps = elf_deps(self.read(todo.pop()))
            if deps.machine != ELF_MACHINES[self.arch]:
                raise LabError("usage", f"{guest_path}: ELF machine {deps.machine}, not {self.arch}")
            for lib in ([deps.interpreter] if deps.interpreter else []) + [
                self._need(soname, guest_path) for soname in deps.needed
            ]:
                if lib not in found:
                    found.append(lib)
                    todo.append(lib)
        return found

    def _need(self, soname: str, binary: str) -> str:
        path = self.find_library(soname)
        if path is None:
            raise LabError("tool-missing", f"{binary} needs {soname}, which no package in {self.path} provides")
        return path


def direct_depends(depends_output: str) -> set[str]:
    """Real packages named by ``apt-cache depends`` output: of each group of alternatives (``|Depends:``) the
    first one; a virtual first alternative (``<name>``) drops the group (its providers may be another suite's)."""
    deps: set[str] = set()
    in_group = False
    for line in depends_output.splitlines():
        if not line[:1].isspace():
            in_group = False
            continue
        match = re.match(r"\s*(\|?)(?:Pre)?Depends: (\S+)", line)
        if match is None:
            continue
        if not in_group and not match.group(2).startswith("<"):
            deps.add(match.group(2).split(":")[0])
        in_group = bool(match.group(1))
    return deps


def is_library_package(name: str) -> bool:
    return bool(_LIB_RE.match(name)) and not name.endswith(_NOT_LIBS) and not name.endswith("-perl")


def closure(depends: Callable[[Sequence[str]], str], wanted: Sequence[str]) -> list[str]:
    """The wanted packages plus the shared-library packages they need, transitively (``depends`` is
    ``Apt.depends``: one ``apt-cache depends`` call per level). Only library packages are followed."""
    found = set(wanted)
    level = sorted(found)
    while level:
        new = {d for d in direct_depends(depends(level)) if is_library_package(d)} - found
        found |= new
        level = sorted(new)
    return sorted(found)


def _marker(dest: Path) -> dict[str, object] | None:
    marker = dest / ".complete.json"
    if not marker.is_file():
        return None
    data = json.loads(marker.read_text())
    return data if isinstance(data, dict) else None


def ensure_userland(
    arch: str = "arm64",
    *,
    root: Path | None = None,
    offline: bool = False,
    mirror: aptsources.DebianMirror | None = None,
) -> Sysroot:
    """The cached userland of ``arch``, downloaded and unpacked first when missing."""
    root = root or kernels.cache_dir()
    dest = root / "userland" / arch
    found = _complete_userland(dest, arch)
    if found is not None:
        return found
    if offline:
        raise LabError("userland-unavailable", f"the {arch} guest userland is not in the cache {root}")
    # the lab builds its images from concurrent boot threads: the first fetches, the others wait and reuse it
    with kernels.cache_lock(root, f"fetch-{arch}"):
        return _complete_userland(dest, arch) or _fetch_userland(arch, root, dest, mirror)


def _complete_userland(dest: Path, arch: str) -> Sysroot | None:
    data = _marker(dest)
    if data is not None:
        listed = data.get("packages")
        cached = tuple(str(p) for p in listed) if isinstance(listed, list) else ()
        if all(any(d.startswith(f"{name}_") for d in cached) for name in (*USERLAND, *CYCLE_USERLAND)):
            return Sysroot(dest / "root", arch, cached)
    return None  # absent, or an older cache without the crash cycle's packages: fetched again


def _fetch_userland(arch: str, root: Path, dest: Path, mirror: aptsources.DebianMirror | None) -> Sysroot:
    mirror = mirror or kernels.debian_mirror()
    apt = kernels.Apt(kernels.apt_root(root, arch), arch)
    apt.update(mirror)
    names = closure(apt.depends, (*USERLAND, *CYCLE_USERLAND))
    debdir = root / "debs" / arch
    apt.download(names, debdir)
    debs = [next(iter(sorted(debdir.glob(f"{n}_*.deb"))), None) for n in names]
    missing = [n for n, d in zip(names, debs, strict=True) if d is None]
    if missing:
        raise LabError("download-failed", f"apt-get download left no .deb for {missing}")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        for deb in debs:
            kernels.run_tool(["dpkg-deb", "-x", str(deb), tmp])
        shutil.rmtree(dest / "root", ignore_errors=True)
        Path(tmp).rename(dest / "root")
        Path(tmp).mkdir()  # TemporaryDirectory removes it
    packages = tuple(d.name for d in debs if d is not None)
    info = {"arch": arch, "packages": list(packages), "archive": mirror.archive.uri}
    (dest / ".complete.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return Sysroot(dest / "root", arch, packages)
