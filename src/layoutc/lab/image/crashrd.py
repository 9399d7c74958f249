"""The crash initramfs of the lab's crash cycle, built from the compiled device artifacts.

What a device's crash initramfs holds (docs/artifacts.md "The crash initramfs also needs"), nothing
lab-only except the serial glue and the virtio disks the host reads back:

* ``/usr/lib/layoutc/capture.sh``, ``capture-init.sh``, ``/etc/layoutc/filter.json`` — the generated files;
* ``/usr/lib/layoutc/dump.pyz`` — ``layoutc dump --build-zipapp`` (the dumper as it ships to devices);
* a minimal interpreter (``pyrt``): ``/usr/bin/python3`` (Debian's python3.11) plus exactly the stdlib
  modules the dumper imports (``-X importtime`` on the zipapp and on the dumper's own imports), byte-compiled
  sourceless, their ``lib-dynload`` extensions and every library ``ldd`` lists; and the codec package the
  filter spec's ``compression`` needs (``codec.DEBIAN_MODULES``: python3-zstandard for zstd, python3-lzo for lzo),
  else the dumper would fall back to zlib with a note;
* ``mkfs.ext4``, ``vmcore-dmesg``, ``blkid`` (util-linux: disk targets by partition label), busybox for the
  rest (mount, sha256sum, dd, tr, grep, logger);
* the modules capture-init.sh ``modprobe``s (nd_e820, nd_pmem, ext4 and their ``modules.dep`` closure,
  with a ``modules.dep`` so busybox modprobe resolves them), a disk target's filesystem module, and
  virtio_blk for the lab's disks (a disk target's own disk is one of them).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from layoutc.dump.write.compression import DEBIAN_MODULES
from layoutc.lab.errors import LabError
from layoutc.lab.image import initramfs, pyrt

# what running a zipapp loads beyond the dumper's own imports
ZIPAPP_RUNTIME = ("runpy", "zipimport", "site", "encodings.idna")
# imported only on paths the crash kernel never takes: --workers (multiprocessing) and the zipapp builder
NOT_SHIPPED = frozenset({"multiprocessing", "zipfile", "importlib._bootstrap_external", "py_compile"})


def dumper_imports() -> tuple[str, ...]:
    """Every standard-library module the dumper's sources import, eagerly or lazily (an ast scan of
    ``layoutc.dump``), minus NOT_SHIPPED, plus what running a zipapp needs."""
    import ast

    import layoutc.dump

    names: set[str] = set()
    for path in Path(layoutc.dump.__file__).resolve().parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
    own = {n for n in names if n.split(".")[0] in ("layoutc", "__future__")}
    third_party = {n for n in names if n.split(".")[0] in ("numpy", "zstandard", "cramjam")}
    return tuple(sorted(names - own - third_party - NOT_SHIPPED)) + ZIPAPP_RUNTIME


# blkid: capture.sh resolves a /dev/disk/by-partlabel/NAME disk target with it (no udev in the crash kernel)
CAPTURE_TOOLS = ("/usr/sbin/mkfs.ext4", "/usr/sbin/vmcore-dmesg", "/usr/sbin/blkid")
CAPTURE_MODULES = ("libnvdimm", "nd_e820", "nd_pmem", "crc32c_generic", "ext4", "virtio_pci", "virtio_blk")


@dataclass(frozen=True, slots=True)
class CrashImage:
    path: Path
    size: int  # compressed, as loaded into crash memory
    unpacked: int  # bytes of file data in the crash kernel's rootfs
    python_bytes: int  # interpreter, stdlib and their libraries (unpacked)
    zipapp_bytes: int
    modules: tuple[str, ...]


def build_zipapp(dest: Path) -> Path:
    """``layoutc dump --build-zipapp`` (the dumper's own builder)."""
    from layoutc.dump import zipapp

    zipapp.build(str(dest))
    return dest


def imported_modules(pyz: Path, packages: tuple[str, ...] = ()) -> list[str]:
    """Every module the interpreter loads to run the zipapp, the dumper's imports and ``packages``
    (``-X importtime``)."""
    imports = dumper_imports()
    commands = [[str(pyz), "--help"], ["-c", "import " + ", ".join(imports)]]
    commands += [["-c", f"import {name}"] for name in packages]  # a missing one is reported by python_files
    return pyrt.imported_modules(commands, (*imports, *packages))


def codec_packages(device: Path) -> tuple[str, ...]:
    """The packages the filter spec's compression needs (none for zlib and none)."""
    try:
        compression = json.loads((device / "filter.json").read_text()).get("compression", "zlib")
    except (OSError, ValueError):
        return ()
    return DEBIAN_MODULES.get(str(compression), ())


def python_files(pyz: Path, packages: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Archive path → bytes for the interpreter, sourceless .pyc stdlib modules, extensions, libraries, and
    the whole of ``packages`` from Debian's dist-packages."""
    return pyrt.python_files(imported_modules(pyz, packages), packages)


def capture_files(device: Path) -> dict[str, bytes]:
    """The generated files a crash initramfs carries, at their install paths (docs/artifacts.md)."""
    table = {
        "usr/lib/layoutc/capture.sh": device / "capture.sh",
        "usr/lib/layoutc/capture-init.sh": device / "capture-init.sh",
        "etc/layoutc/filter.json": device / "filter.json",
    }
    missing = [str(p) for p in table.values() if not p.is_file()]
    if missing:
        raise LabError("artifacts-missing", f"device artifacts not found: {', '.join(missing)}")
    return {k: v.read_bytes() for k, v in table.items()}


def build_crash_initramfs(
    device: Path,
    module_dir: Path,
    out: Path,
    *,
    init: str,
    lab_files: Mapping[str, bytes],
    work: Path,
    extra_modules: tuple[str, ...] = (),
) -> CrashImage:
    """The crash initramfs: generated capture files, the zipapp, the minimal interpreter, tools, modules.

    ``init`` is the lab's ``/init`` (serial glue that ends in ``exec /usr/lib/layoutc/capture-init.sh``);
    ``lab_files`` its plan and helpers; ``extra_modules`` e.g. a disk target's filesystem.
    """
    modules = (*CAPTURE_MODULES, *(m for m in extra_modules if m not in CAPTURE_MODULES))
    work.mkdir(parents=True, exist_ok=True)
    pyz = build_zipapp(work / "dump.pyz")
    py = python_files(pyz, codec_packages(device))
    extra = {**capture_files(device), "usr/lib/layoutc/dump.pyz": pyz.read_bytes(), **py, **lab_files}
    extra["boot/grub/.keep"] = b""
    spec = initramfs.InitramfsSpec(
        init=init, module_dir=module_dir, modules=modules, tools=CAPTURE_TOOLS, stages={}, extra=extra
    )
    initramfs.build_initramfs(spec, out)
    order = initramfs.module_order(module_dir, modules)
    unpacked = sum(len(v) for v in extra.values()) + sum((module_dir / rel).stat().st_size for _, rel in order)
    unpacked += initramfs.BUSYBOX.stat().st_size
    for tool in CAPTURE_TOOLS:
        unpacked += Path(tool).resolve().stat().st_size
    return CrashImage(
        out,
        out.stat().st_size,
        unpacked,
        sum(len(v) for v in py.values()),
        len(pyz.read_bytes()),
        tuple(n for n, _ in order),
    )


if __name__ == "__main__":  # python -m layoutc.lab.image.crashrd PYZ: list the interpreter files and sizes
    files = python_files(Path(sys.argv[1]))
    for name, data in sorted(files.items()):
        print(f"{len(data):>9} {name}")
    print(f"{sum(len(d) for d in files.values()):>9} total")
