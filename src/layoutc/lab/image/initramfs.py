"""Busybox initramfs builder.

The archive is a concatenation of gzip-compressed ``newc`` cpio members (the kernel requires each concatenated
member to be compressed on its own). Members, in order:

1. ``base``: static busybox with its applet links and ``/init``;
2. ``tools``: host binaries (kexec, ndctl, daxctl, …) plus every shared library ``ldd`` lists for them;
3. ``modules``: the requested modules and their ``modules.dep`` closure, uncompressed, plus ``/lab/modules``
   (the load order for ``insmod``);
4. ``lab``: the guest plan and stage scripts (see ``guest.py``), plus any ``extra`` files.

Part 2 of the lab adds the compiled artifacts (arm script, capture units, dumper) as ``extra`` files or
``extra_tools`` without lab-only copies. Output is deterministic: mtime 0, sorted entries, fixed inode
numbers.
"""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from layoutc.lab.errors import LabError
from layoutc.lab.image.sysroot import Sysroot
from layoutc.writer import cpio

BUSYBOX = Path("/bin/busybox")
DEFAULT_TOOLS = ("/usr/sbin/kexec", "/usr/bin/ndctl", "/usr/bin/daxctl", "/usr/bin/lsmem")
# Loaded in the guest in this order together with their dependencies; absent ones are skipped
# (crc32c_generic is a module only on some kernels).
DEFAULT_MODULES = (
    "libnvdimm",
    "nd_e820",
    "nd_pmem",
    "dax_pmem",
    "device_dax",
    "kmem",
    "crc32c_generic",
    "ext4",
)
# arm64 guests: the DT pmem-region driver as well (absent modules are skipped, so x86 keeps DEFAULT_MODULES)
ARM64_MODULES = (*DEFAULT_MODULES[:1], "of_pmem", *DEFAULT_MODULES[1:])
# parents before children: the kernel unpacker does not create missing parents (with "usr/bin" before "usr",
# every busybox link under /usr/bin and /usr/sbin was silently dropped)
_DIRS = ("bin", "sbin", "dev", "proc", "sys", "tmp", "run", "mnt", "lab", "lab/stages", "usr", "usr/bin", "usr/sbin")


@dataclass(frozen=True, slots=True)
class Entry:
    """One archive entry: a directory (data None, not a link), a file, or a symlink (``link`` set)."""

    path: str
    mode: int
    data: bytes | None = None
    link: str | None = None
    source: str | None = None  # never set here; ``layoutc.writer.cpio.Entry`` reads a file's bytes from it


@dataclass(frozen=True, slots=True)
class InitramfsSpec:
    """What goes into the guest.

    ``module_dir`` is ``<root>/lib/modules/<release>`` with a ``modules.dep``; ``stages`` maps a stage file
    name (run in sorted order by ``/init``) to its shell text; ``extra`` maps archive paths to file contents.
    """

    init: str
    module_dir: Path
    modules: tuple[str, ...] = DEFAULT_MODULES
    tools: tuple[str, ...] = DEFAULT_TOOLS
    stages: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, bytes] = field(default_factory=dict)
    # files that replace busybox applet links (the crash cycle: dash as /bin/sh and coreutils where a script needs GNU
    # options, as on the production OS the recovery unit runs in)
    overrides: Mapping[str, bytes] = field(default_factory=dict)
    # a foreign-architecture guest (arm64): busybox and ``tools`` come from this unpacked userland, their
    # libraries from its ELF headers (``ldd`` cannot run a foreign binary)
    sysroot: Sysroot | None = None


def newc(entries: Iterable[Entry]) -> bytes:
    """Serialise entries as one uncompressed newc cpio archive with its trailer (the product's writer)."""
    return cpio.newc(entries)


def _member(entries: Iterable[Entry]) -> bytes:
    return gzip.compress(newc(entries), compresslevel=6, mtime=0)


def _dirs_for(paths: Iterable[str]) -> list[Entry]:
    dirs: set[str] = set()
    for path in paths:
        for parent in PurePosixPath(path.lstrip("/")).parents:
            if str(parent) != ".":
                dirs.add(str(parent))
    return [Entry(d, 0o040755) for d in sorted(dirs)]


def _file(path: str, data: bytes, mode: int = 0o100644) -> Entry:
    return Entry(path.lstrip("/"), mode, data)


def busybox_applets(busybox: Path = BUSYBOX) -> list[str]:
    """Applet paths (``/bin/sh`` …) that ``busybox --list-full`` reports."""
    if not busybox.is_file():
        raise LabError("tool-missing", f"{busybox} not found (Debian package busybox-static)")
    out = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True, check=True, timeout=30)
    return sorted(line.strip() for line in out.stdout.splitlines() if line.strip())


def _banner(data: bytes) -> bytes:
    match = re.search(rb"BusyBox v[^\0\n]* \(Debian [^)\0]*\)", data)
    return match.group(0) if match else b""


def base_entries(init: str, busybox: Path = BUSYBOX, overrides: Mapping[str, bytes] | None = None,
                 sysroot: Sysroot | None = None) -> list[Entry]:  # fmt: skip
    """busybox, its applet links and /init. A foreign busybox cannot be asked for its applets, so the host's
    busybox answers for it when both are the same Debian build (the version banners are equal)."""
    entries = [Entry(d, 0o040755) for d in _DIRS]
    data = busybox.read_bytes() if sysroot is None else sysroot.read(sysroot.which("busybox"))
    if sysroot is not None and (not busybox.is_file() or _banner(data) != _banner(busybox.read_bytes())):
        raise LabError(
            "tool-missing",
            f"{sysroot.arch} busybox {_banner(data).decode(errors='replace')!r} is not "
            f"the build of the host's {busybox} (Debian package busybox-static), which lists its applets",
        )
    entries.append(_file("bin/busybox", data, 0o100755))
    links = [a for a in busybox_applets(busybox) if a != "bin/busybox" and a not in (overrides or {})]
    entries += _dirs_for(links)
    entries += [Entry(a, 0o120777, link="/bin/busybox") for a in links]
    entries.append(_file("init", init.encode(), 0o100755))
    entries += [_file(path, data, 0o100755) for path, data in sorted((overrides or {}).items())]
    return _dedup(entries)


def shared_libraries(binary: Path) -> list[Path]:
    """Absolute library paths ``ldd`` resolves for ``binary`` (including the dynamic loader)."""
    proc = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        return []  # static binary
    libs: list[Path] = []
    for line in proc.stdout.splitlines():
        match = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if match:
            libs.append(Path(match.group(1)))
        elif "not found" in line:
            raise LabError("tool-missing", f"{binary}: {line.strip()}")
    return libs


def sysroot_tool_entries(tools: Sequence[str], sysroot: Sysroot) -> list[Entry]:
    """``tools`` (looked up by name in the sysroot) and their libraries, at their guest paths."""
    files: dict[str, bytes] = {}
    for tool in tools:
        path = sysroot.which(PurePosixPath(tool).name)
        for guest in (path, *sysroot.libraries(path)):
            files[guest] = sysroot.read(guest)
    entries = _dirs_for(files)
    entries += [_file(name, data, 0o100755) for name, data in sorted(files.items())]
    return _dedup(entries)


def tool_entries(tools: Sequence[str]) -> list[Entry]:
    files: dict[str, Path] = {}
    for tool in tools:
        path = Path(tool) if "/" in tool else Path(shutil.which(tool) or tool)
        if not path.is_file():
            raise LabError("tool-missing", f"{tool} not found; run sh scripts/bootstrap.sh --all")
        files[str(path)] = path
        for lib in shared_libraries(path):
            files[str(lib)] = lib
    entries = _dirs_for(files)
    for name, path in sorted(files.items()):
        entries.append(_file(name, path.resolve().read_bytes(), 0o100755))
    return _dedup(entries)


def module_deps(module_dir: Path) -> dict[str, tuple[str, list[str]]]:
    """modules.dep as ``name → (relative path, [dependency names])`` (names use ``_`` for ``-``)."""
    dep = module_dir / "modules.dep"
    if not dep.is_file():
        raise LabError("kernel-unpack", f"{dep} missing; the kernel cache is incomplete (depmod -b not run)")

    def name(rel: str) -> str:
        return PurePosixPath(rel).name.split(".ko")[0].replace("-", "_")

    table: dict[str, tuple[str, list[str]]] = {}
    for line in dep.read_text().splitlines():
        if ":" not in line:
            continue
        target, _, deps = line.partition(":")
        table[name(target)] = (target, [name(d) for d in deps.split()])
    return table


def module_order(module_dir: Path, wanted: Sequence[str]) -> list[tuple[str, str]]:
    """Dependency-first load order ``[(name, relative path)]`` for the wanted modules that exist."""
    table = module_deps(module_dir)
    order: list[tuple[str, str]] = []
    seen: set[str] = set()

    def visit(mod: str) -> None:
        if mod in seen or mod not in table:
            return
        seen.add(mod)
        for dep in table[mod][1]:
            visit(dep)
        order.append((mod, table[mod][0]))

    for mod in wanted:
        visit(mod.replace("-", "_"))
    return order


def module_entries(module_dir: Path, wanted: Sequence[str]) -> list[Entry]:
    order = module_order(module_dir, wanted)
    release = module_dir.name
    files = {f"lib/modules/{release}/{rel}": module_dir / rel for _, rel in order}
    entries = _dirs_for(files)
    entries += [_file(dst, src.read_bytes()) for dst, src in files.items()]
    load_list = "".join(f"/lib/modules/{release}/{rel}\n" for _, rel in order)
    entries.append(_file("lab/modules", load_list.encode()))
    # modules.dep restricted to what is shipped, so busybox modprobe (capture-init.sh) resolves them
    table = module_deps(module_dir)
    shipped = {name for name, _ in order}
    dep_lines = [f"{table[n][0]}: {' '.join(table[d][0] for d in table[n][1] if d in shipped)}".rstrip() + "\n"
                 for n, _ in order]  # fmt: skip
    entries.append(_file(f"lib/modules/{release}/modules.dep", "".join(dep_lines).encode()))
    return _dedup(entries)


def lab_entries(stages: Mapping[str, str], extra: Mapping[str, bytes]) -> list[Entry]:
    entries = [_file(f"lab/stages/{name}", text.encode(), 0o100755) for name, text in sorted(stages.items())]
    entries += _dirs_for(extra)
    entries += [_file(path, data, 0o100755) for path, data in sorted(extra.items())]
    return _dedup(entries)


def _dedup(entries: Iterable[Entry]) -> list[Entry]:
    unique: dict[str, Entry] = {}
    for entry in entries:
        unique.setdefault(entry.path.lstrip("/"), entry)
    return list(unique.values())


def build_initramfs(spec: InitramfsSpec, out: Path) -> Path:
    """Write the initramfs for ``spec`` to ``out`` and return ``out``."""
    members = [
        base_entries(spec.init, overrides=spec.overrides, sysroot=spec.sysroot),
        tool_entries(spec.tools) if spec.sysroot is None else sysroot_tool_entries(spec.tools, spec.sysroot),
        module_entries(spec.module_dir, spec.modules),
        lab_entries(spec.stages, spec.extra),
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"".join(_member(m) for m in members))
    return out
