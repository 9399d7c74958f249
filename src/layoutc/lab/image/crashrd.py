"""The crash initramfs of the lab's crash cycle: what ``layoutc initramfs`` builds, plus the lab's glue.

The lab boots the product's image (``layoutc.initramfs``, written by ``layoutc.writer.cpio``) built from the
host's own root (Debian's python3.11, busybox, e2fsprogs, kexec-tools' vmcore-dmesg, util-linux' blkid) and
the cached kernel's modules, with two lab-only additions: ``/init`` is the lab's serial glue (it reports
``/proc/vmcore``, may keep it and write a reference dump, then execs ``/usr/lib/layoutc/capture-init.sh``),
and ``lab_files`` (the plan and helpers) plus the virtio disks' modules. What the image holds is described in
docs/initramfs.md: the generated files, the dumper zipapp, the interpreter with exactly the stdlib the dumper
imports and the codec package the filter spec's ``compression`` needs (``codec.DEBIAN_MODULES``), the tools,
and the modules capture-init.sh ``modprobe``s (layout.json ``modules.crash`` when the cycle passes them) with
their ``modules.dep`` closure.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from layoutc.dump.write.compression import DEBIAN_MODULES
from layoutc.initramfs import python_runtime
from layoutc.initramfs.build import CrashInputs, plan_crash_initramfs
from layoutc.initramfs.kmod import module_name
from layoutc.initramfs.plan import FILE_MODE, CrashInitramfsPlan, Member, PlanFile, ordered
from layoutc.initramfs.root import Root, RootError
from layoutc.lab.errors import LabError
from layoutc.writer.cpio import write_initramfs
from layoutc.writer.tree import OutputError

HOST = Root(Path("/"))
# what running a zipapp loads beyond the dumper's own imports (python_runtime's, kept here for the lab's tests)
ZIPAPP_RUNTIME = python_runtime.ZIPAPP_RUNTIME
NOT_SHIPPED = python_runtime.NOT_SHIPPED
dumper_imports = python_runtime.dumper_imports

# blkid: capture.sh resolves a /dev/disk/by-partlabel/NAME disk target with it (no udev in the crash kernel)
CAPTURE_TOOLS = ("/usr/sbin/mkfs.ext4", "/usr/sbin/vmcore-dmesg", "/usr/sbin/blkid")
# the board's modules when the cycle does not pass layout.json's (capture-init.sh's modprobes)
BOARD_MODULES = ("libnvdimm", "nd_e820", "nd_pmem", "ext4")
# the lab machine's own, beside the board's: ext4's checksum where it is a module, and the virtio disk a disk target
# writes to
LAB_CRASH_MODULES = ("crc32c_generic", "virtio_pci", "virtio_blk")


@dataclass(frozen=True, slots=True)
class CrashImage:
    path: Path
    size: int  # compressed, as loaded into crash memory
    unpacked: int  # bytes of file data in the crash kernel's rootfs
    python_bytes: int  # interpreter, stdlib and their libraries (unpacked)
    zipapp_bytes: int
    modules: tuple[str, ...]


def build_zipapp(dest: Path) -> Path:
    """``layoutc dump --build-zipapp`` (the dumper's own builder): the crash dumper alone."""
    from layoutc.dump import zipapp

    zipapp.build(str(dest), zipapp.CRASH)
    return dest


def _interpreter() -> python_runtime.Interpreter:
    try:
        return python_runtime.Interpreter(HOST)
    except RootError as exc:
        raise LabError("tool-missing", str(exc)) from None


def imported_modules(pyz: Path, packages: tuple[str, ...] = ()) -> list[str]:
    """Every module the interpreter loads to run the zipapp, the dumper's imports and ``packages``."""
    return python_runtime.dumper_modules(_interpreter(), pyz, packages)


def codec_packages(device: Path) -> tuple[str, ...]:
    """The packages the filter spec's compression needs (none for zlib and none)."""
    try:
        compression = json.loads((device / "filter.json").read_text()).get("compression", "zlib")
    except (OSError, ValueError):
        return ()
    return DEBIAN_MODULES.get(str(compression), ())


def python_files(pyz: Path, packages: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Archive path -> bytes for the interpreter, the sourceless stdlib the dumper needs, extensions, the whole
    of ``packages`` from Debian's dist-packages, and every library of them."""
    python = _interpreter()
    try:
        files = python_runtime.python_files(python, imported_modules(pyz, packages), packages)
        natives = [python.device_path, *(f"/{p}" for p in files if p.endswith(".so"))]
        for native in natives:
            for asked, real in HOST.libraries(native).items():
                files[asked.lstrip("/")] = HOST.read(real)
    except RootError as exc:
        raise LabError("tool-missing", str(exc)) from None
    files["usr/bin/python3"] = HOST.read(python.device_path)
    return files


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


def with_load_list(plan: CrashInitramfsPlan) -> CrashInitramfsPlan:
    """The plan plus ``/lab/modules``: the shipped modules' paths in load order, which the lab's ``/init`` reads
    to ``insmod`` the virtio disks' drivers before the generated capture-init.sh runs."""
    paths = {module_name(f.path): f.path for f in plan.files if f.member is Member.MODULES and f.path.endswith(".ko")}
    text = "".join(f"/{paths[name]}\n" for name in plan.modules if name in paths).encode()
    entry = PlanFile("lab/modules", FILE_MODE, Member.EXTRA, data=text, size=len(text))
    return dataclasses.replace(plan, files=ordered((*plan.files, entry)))


def build_crash_initramfs(
    device: Path,
    module_dir: Path,
    out: Path,
    *,
    init: str,
    lab_files: Mapping[str, bytes],
    work: Path,
    board_modules: tuple[str, ...] | None = None,
    extra_modules: tuple[str, ...] = (),
) -> CrashImage:
    """The product's crash initramfs (``layoutc initramfs``) with the lab's ``/init`` and files.

    ``init`` is the lab's ``/init`` (serial glue that ends in ``exec /usr/lib/layoutc/capture-init.sh``);
    ``lab_files`` its plan and helpers; ``board_modules`` what capture-init.sh modprobes (the layout's crash
    modules; BOARD_MODULES when not given); ``extra_modules`` what the lab's machine adds (efivarfs on an EFI
    boot, a disk target's filesystem). Modules the kernel lacks are skipped, as on the lab's older kernels.
    """
    modules: list[str] = []
    for name in (*(BOARD_MODULES if board_modules is None else board_modules), *LAB_CRASH_MODULES, *extra_modules):
        if name not in modules:
            modules.append(name)
    work.mkdir(parents=True, exist_ok=True)
    pyz = build_zipapp(work / "dump.pyz")
    inputs = CrashInputs(
        board="lab", release=module_dir.name, root=HOST, generated=capture_files(device), zipapp=pyz.read_bytes(),
        zipapp_path=pyz, modules=(), optional_modules=tuple(modules), tools=CAPTURE_TOOLS,
        python_packages=codec_packages(device), init=init.encode(), extra={**lab_files, "boot/grub/.keep": b""},
        module_root=Root(module_dir.parents[2]),
    )
    try:
        plan = with_load_list(plan_crash_initramfs(inputs))
        written = write_initramfs(plan, out)
    except RootError as exc:
        raise LabError("tool-missing", str(exc)) from None
    except OutputError as exc:
        raise LabError("tool-missing", f"crash initramfs: {exc}") from None
    sizes = plan.member_sizes()
    return CrashImage(out, written.size, plan.unpacked, sizes[Member.PYTHON.value], len(inputs.zipapp or b""),
                      plan.modules)


if __name__ == "__main__":  # python -m layoutc.lab.image.crashrd PYZ: list the interpreter files and sizes
    files = python_files(Path(sys.argv[1]))
    for name, data in sorted(files.items()):
        print(f"{len(data):>9} {name}")
    print(f"{sum(len(d) for d in files.values()):>9} total")
