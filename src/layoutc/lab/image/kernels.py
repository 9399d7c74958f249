"""Debian kernels for the lab, fetched from the archive without installing them.

A kernel is downloaded with ``apt-get download`` against a private sources file (the host's own apt state
is never touched) that names the Debian mirror the host's apt sources use (``aptsources``; overridden by
``$LAYOUTC_DEBIAN_MIRROR`` or ``layoutc lab --mirror URL``, and ``$LAYOUTC_DEBIAN_SECURITY_MIRROR``),
unpacked with ``dpkg-deb -x``, its modules decompressed (7.x ships ``.ko.xz``) and indexed with
``depmod -b``. Everything lives under the cache directory: ``$LAYOUTC_LAB_CACHE``, else ``.cache/lab`` at
the repository root (a source checkout), else ``~/.cache/layoutc/lab``.

Versions are pinned; when the archive no longer carries a pin, the newest package of the same series is used
and the report says so (``Kernel.pinned`` is False).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from layoutc.lab.errors import LabError
from layoutc.lab.image import aptsources

SUITES = ("bookworm", "bookworm-updates", "sid")  # from the archive
SECURITY_SUITE = "bookworm-security"  # from the security archive, when the host has one
_COMPLETE = ".complete.json"


@dataclass(frozen=True, slots=True)
class KernelSeries:
    """One Debian kernel series the lab knows how to fetch."""

    label: str  # what --debian accepts
    suite: str  # Debian suite that carries it
    pin: str  # pinned kernel release (uname -r)
    release_re: str  # matches a package name, group 1 = the release
    packages: tuple[str, ...]  # package name templates, {r} = release
    has_cma: bool  # crashkernel=,cma exists (6.17+)
    arch: str = "amd64"  # Debian architecture of the packages


SERIES: dict[str, KernelSeries] = {
    "6.1": KernelSeries(
        label="6.1",
        suite="bookworm",
        pin="6.1.0-56-cloud-amd64",
        release_re=r"^linux-image-(6\.1\.0-\d+-cloud-amd64)$",
        packages=("linux-image-{r}",),
        has_cma=False,
    ),
    "7": KernelSeries(
        label="7",
        suite="sid",
        pin="7.2.13+deb14-cloud-amd64",
        release_re=r"^linux-binary-(7\.\d+\.\d+\+deb\d+-cloud-amd64)$",
        packages=("linux-binary-{r}", "linux-modules-{r}", "linux-base-{r}"),
        has_cma=True,
    ),
}
# arm64 has no cloud flavour: the generic arm64 kernels (uncompressed Image files QEMU's -kernel loads). The same
# selection as amd64: the pin when the archive has it, else the newest release of the series. 7.x arm64 has no
# crashkernel=,cma (measured on 7.2.13: ignored), hence has_cma False.
ARM64_SERIES: dict[str, KernelSeries] = {
    "6.1": KernelSeries(
        label="6.1",
        suite="bookworm-security",
        pin="6.1.0-57-arm64",
        release_re=r"^linux-image-(6\.1\.0-\d+-arm64)$",
        packages=("linux-image-{r}",),
        has_cma=False,
        arch="arm64",
    ),
    "7": KernelSeries(
        label="7",
        suite="sid",
        pin="7.2.13+deb14-arm64",
        release_re=r"^linux-binary-(7\.\d+\.\d+\+deb\d+-arm64)$",
        packages=("linux-binary-{r}", "linux-modules-{r}", "linux-base-{r}"),
        has_cma=False,
        arch="arm64",
    ),
}
ARCHES = ("amd64", "arm64")


def series_for(label: str, arch: str = "amd64") -> KernelSeries:
    """The kernel series ``label`` ("6.1" or "7") of Debian architecture ``arch``."""
    table = {"amd64": SERIES, "arm64": ARM64_SERIES}.get(arch)
    if table is None:
        raise LabError("usage", f"unknown architecture {arch!r}; expected one of {list(ARCHES)}")
    series = table.get(label)
    if series is None:
        raise LabError("usage", f"unknown Debian kernel {label!r}; expected one of {sorted(table)}")
    return series


@dataclass(frozen=True, slots=True)
class Kernel:
    """A kernel ready to boot: image plus an indexed, uncompressed module tree."""

    label: str
    release: str
    vmlinuz: Path
    modules_root: Path  # contains lib/modules/<release>/ with modules.dep
    pinned: bool
    has_cma: bool
    arch: str = "amd64"

    @property
    def module_dir(self) -> Path:
        return self.modules_root / "lib" / "modules" / self.release


def cache_dir() -> Path:
    """The lab cache directory (created on demand by the functions that write to it)."""
    env = os.environ.get("LAYOUTC_LAB_CACHE")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "src" / "layoutc").is_dir():
            return parent / ".cache" / "lab"
    return Path.home() / ".cache" / "layoutc" / "lab"


def _run(argv: Sequence[str], *, timeout: float = 600.0) -> str:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise LabError("tool-missing", f"{argv[0]} not found; run sh scripts/bootstrap.sh --all") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError("timeout", f"{' '.join(argv[:3])} … did not finish in {timeout:.0f} s") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise LabError("command-failed", f"{' '.join(argv[:4])} … exited {proc.returncode}: {' | '.join(tail)}")
    return proc.stdout


run_tool = _run  # the lab's other fetchers (sysroot) run their tools the same way


@dataclass(frozen=True, slots=True)
class Apt:
    """A private apt configuration rooted in the cache, for one Debian architecture.

    A foreign architecture (arm64 on an amd64 host) needs no ``dpkg --add-architecture``: the private sources
    carry ``arch=``, the private state says ``APT::Architecture``, and bookworm is the default release, so the
    userland's dependencies resolve to bookworm's versions even though the sources also list sid."""

    root: Path
    arch: str = "amd64"

    def options(self) -> list[str]:
        foreign = (["-o", f"APT::Architectures::={self.arch}", "-o", "APT::Default-Release=bookworm"]
                   if self.arch != "amd64" else [])  # fmt: skip
        return [*foreign,
            "-o", f"Dir::Etc::SourceList={self.root / 'sources.list'}",
            "-o", "Dir::Etc::SourceParts=/dev/null",
            "-o", f"Dir::State::Lists={self.root / 'lists'}",
            "-o", f"Dir::State::Status={self.root / 'status'}",
            "-o", f"Dir::Cache={self.root / 'cache'}",
            "-o", "Debug::NoLocking=1",
            "-o", f"APT::Architecture={self.arch}",
            "-o", "APT::Sandbox::User=root",
        ]  # fmt: skip

    def update(self, mirror: aptsources.DebianMirror) -> None:
        for sub in ("lists/partial", "cache/archives/partial"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "sources.list").write_text(sources_list(mirror, self.root, self.arch))
        (self.root / "status").touch()
        _run(["apt-get", *self.options(), "-qq", "update"])

    def package_names(self, prefix: str) -> list[str]:
        out = _run(["apt-cache", *self.options(), "pkgnames", prefix])
        return sorted(line.strip() for line in out.splitlines() if line.strip())

    def depends(self, packages: Sequence[str]) -> str:
        """``apt-cache depends`` over Depends and Pre-Depends only (what a package needs to run)."""
        skip = ("--no-recommends", "--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances")
        return _run(["apt-cache", *self.options(), "depends", *skip, *packages])

    def download(self, packages: Sequence[str], dest: Path) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        argv = ["apt-get", *self.options(), "-qq", "download", *packages]
        try:
            proc = subprocess.run(argv, cwd=dest, capture_output=True, text=True, timeout=900, check=False)
        except subprocess.TimeoutExpired as exc:
            raise LabError("timeout", f"apt-get download {' '.join(packages)} timed out") from exc
        if proc.returncode != 0:
            raise LabError("download-failed", f"apt-get download {' '.join(packages)}: {proc.stderr.strip()}")


def debian_mirror() -> aptsources.DebianMirror:
    """The host's Debian mirror (or the overrides); ``LabError("mirror-unavailable")`` when there is none."""
    try:
        return aptsources.debian_mirror()
    except aptsources.AptSourcesError as exc:
        raise LabError("mirror-unavailable", str(exc)) from exc


def sources_list(mirror: aptsources.DebianMirror, keydir: Path, arch: str = "amd64") -> str:
    """The private sources.list: the lab's suites on the archive, bookworm-security on the security one.

    For a foreign ``arch`` every entry carries ``arch=`` (the host's own architecture is never fetched)."""
    only = arch if arch != "amd64" else None
    archive = mirror.archive.with_key_file(keydir / "archive-key.asc")
    lines = [archive.line(suite, arch=only) for suite in SUITES]
    if mirror.security is not None:
        security = mirror.security.with_key_file(keydir / "security-key.asc")
        lines.append(security.line(SECURITY_SUITE, arch=only))
    return "\n".join(lines) + "\n"


def _release_key(release: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", release))


def choose_release(series: KernelSeries, package_names: Sequence[str], notes: Sequence[str] = ()) -> tuple[str, bool]:
    """The pinned release if the archive has it, else the newest one of the series.

    Returns (release, pinned). ``notes`` (the mirror's, e.g. no security archive) go into the error.
    """
    pattern = re.compile(series.release_re)
    releases = sorted({m.group(1) for name in package_names if (m := pattern.match(name))}, key=_release_key)
    if series.pin in releases:
        return series.pin, True
    if not releases:
        why = "".join(f"; {note}" for note in notes)
        raise LabError("kernel-unavailable", f"the archive has no package matching {series.release_re}{why}")
    return releases[-1], False


def _complete(kdir: Path) -> dict[str, object] | None:
    marker = kdir / _COMPLETE
    if not marker.is_file():
        return None
    data = json.loads(marker.read_text())
    return data if isinstance(data, dict) else None


def _cached(series: KernelSeries, root: Path) -> Kernel | None:
    """A complete cached kernel of the series: the pin if present, else the newest cached one."""
    kroot = root / "kernels"
    if not kroot.is_dir():
        return None
    pattern = re.compile(series.release_re.replace("^linux-image-", "^").replace("^linux-binary-", "^"))
    found = sorted((d.name for d in kroot.iterdir() if pattern.match(d.name)), key=_release_key)
    for release in ([series.pin] if series.pin in found else []) + found[::-1]:
        data = _complete(kroot / release)
        if data is not None:
            return _kernel(series, kroot / release, release, bool(data.get("pinned", False)))
    return None


def _kernel(series: KernelSeries, kdir: Path, release: str, pinned: bool) -> Kernel:
    return Kernel(
        label=series.label,
        release=release,
        vmlinuz=kdir / "vmlinuz",
        modules_root=kdir / "modules",
        pinned=pinned,
        has_cma=series.has_cma,
        arch=series.arch,
    )


def _unpack(debs: Sequence[Path], release: str, kdir: Path) -> None:
    """dpkg-deb -x every package, then normalise to kdir/{vmlinuz,config,System.map,modules/lib/modules/R}."""
    with tempfile.TemporaryDirectory(dir=kdir.parent) as tmp:
        scratch = Path(tmp)
        for deb in debs:
            _run(["dpkg-deb", "-x", str(deb), str(scratch)])
        moddst = kdir / "modules" / "lib" / "modules" / release
        moddst.parent.mkdir(parents=True, exist_ok=True)
        for base in (scratch / "usr" / "lib" / "modules" / release, scratch / "lib" / "modules" / release):
            if base.is_dir():
                shutil.copytree(base, moddst, dirs_exist_ok=True)
        boot = scratch / "boot"
        candidates = {
            "vmlinuz": [boot / f"vmlinuz-{release}", moddst / "vmlinuz"],
            "config": [boot / f"config-{release}", moddst / "config"],
            "System.map": [boot / f"System.map-{release}", moddst / "System.map"],
        }
        for name, paths in candidates.items():
            src = next((p for p in paths if p.is_file()), None)
            if src is None and name == "vmlinuz":
                raise LabError("kernel-unpack", f"no vmlinuz for {release} in {[d.name for d in debs]}")
            if src is not None:
                shutil.copy2(src, kdir / name)
        (moddst / "vmlinuz").unlink(missing_ok=True)
    compressed = [str(p) for p in moddst.rglob("*.ko.xz")]
    for i in range(0, len(compressed), 500):
        _run(["xz", "-d", "-f", *compressed[i : i + 500]])
    _run(["depmod", "-b", str(kdir / "modules"), release])


@contextlib.contextmanager
def cache_lock(root: Path, name: str) -> Iterator[None]:
    """Hold ``<root>/<name>.lock`` exclusively: one fetch of a cache entry at a time, across processes and
    across the threads of one process (each ``open`` is its own file description, so ``flock`` serialises
    them too). A second caller waits, then finds the entry complete."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def apt_root(root: Path, arch: str) -> Path:
    """The private apt state of ``arch`` in the cache: ``apt/`` (amd64) or ``apt-<arch>/``."""
    return root / ("apt" if arch == "amd64" else f"apt-{arch}")


def ensure_kernel(
    label: str,
    *,
    root: Path | None = None,
    offline: bool = False,
    mirror: aptsources.DebianMirror | None = None,
    arch: str = "amd64",
) -> Kernel:
    """Return the cached kernel of series ``label`` ("6.1" or "7") for ``arch``, downloading it first if needed.

    ``offline=True`` never touches the network and raises ``LabError`` when nothing is cached. ``mirror``
    defaults to the host's (``debian_mirror()``), read only when something must be downloaded.
    """
    series = series_for(label, arch)
    root = root or cache_dir()
    cached = _cached(series, root)
    if cached is not None:
        return cached
    if offline:
        raise LabError("kernel-unavailable", f"kernel {label} is not in the cache {root}")
    with cache_lock(root, f"fetch-{arch}"):  # one apt state per arch: its fetches take turns
        return _cached(series, root) or _fetch_kernel(series, root, mirror, arch)


def _fetch_kernel(series: KernelSeries, root: Path, mirror: aptsources.DebianMirror | None, arch: str) -> Kernel:
    mirror = mirror or debian_mirror()
    apt = Apt(apt_root(root, arch), arch)
    apt.update(mirror)
    prefix = series.packages[0].split("{r}")[0]
    release, pinned = choose_release(series, apt.package_names(prefix), mirror.notes)
    names = [p.format(r=release) for p in series.packages]
    debdir = root / "debs"
    apt.download(names, debdir)
    debs = [next(iter(sorted(debdir.glob(f"{n}_*.deb"))), debdir / "missing") for n in names]
    missing = [d for d in debs if not d.is_file()]
    if missing:
        raise LabError("download-failed", f"apt-get download left no .deb for {names}")
    kdir = root / "kernels" / release
    if kdir.exists():
        shutil.rmtree(kdir)
    kdir.mkdir(parents=True)
    _unpack(debs, release, kdir)
    info = {
        "release": release,
        "pinned": pinned,
        "packages": [d.name for d in debs],
        "archive": mirror.archive.uri,
        "security": mirror.security.uri if mirror.security else None,
        "notes": list(mirror.notes),
    }
    (kdir / _COMPLETE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return _kernel(series, kdir, release, pinned)


def kernel_from_path(vmlinuz: Path, *, modules_root: Path | None = None) -> Kernel:
    """A user-supplied kernel (``--kernel PATH``). Modules default to a cached tree of the same release.

    The release is read from the bzImage header (the version string the setup header points at).
    """
    if not vmlinuz.is_file():
        raise LabError("usage", f"--kernel {vmlinuz}: no such file")
    release = bzimage_release(vmlinuz.read_bytes()[:65536])
    root = modules_root
    if root is None:
        candidate = cache_dir() / "kernels" / release / "modules"
        root = candidate if candidate.is_dir() else vmlinuz.parent / "modules"
    has_cma = _release_key(release)[:2] >= (6, 17)
    return Kernel(label="custom", release=release, vmlinuz=vmlinuz, modules_root=root, pinned=True, has_cma=has_cma)


def bzimage_release(head: bytes) -> str:
    """Kernel release from a bzImage: the setup header's kernel_version offset (boot protocol ≥ 2.00)."""
    if len(head) < 0x210 or head[0x202:0x206] != b"HdrS":
        raise LabError("usage", "not an x86 bzImage (no HdrS signature)")
    offset = int.from_bytes(head[0x20E:0x210], "little") + 0x200
    end = head.find(b"\0", offset)
    text = head[offset:end].decode("ascii", "replace")
    if not text:
        raise LabError("usage", "bzImage carries no kernel version string")
    return text.split()[0]
