"""The crash initramfs plan of one board and kernel, from a device's root (``--root``) and the board's files.

What it holds (docs/initramfs.md): busybox and its applet links (the shell and every command the capture
scripts run), ``/init`` (a link to the generated ``capture-init.sh``, or a caller's own, the lab's glue),
the board's ``capture.sh``, ``capture-init.sh`` and ``filter.json``, the dumper zipapp with the root's
python3 and the stdlib subset it imports (``python_runtime``), the tools ``capture.sh`` calls
(``mkfs.ext4``, ``blkid``, ``vmcore-dmesg`` …) with their libraries (``Root.libraries``), and the kernel
modules the crash boot loads for this kernel release with their ``modules.dep`` closure (``kmod``).
No kexec: the crash kernel loads nothing.
"""

from __future__ import annotations

import gzip
import lzma
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from layoutc.initramfs import kmod, python_runtime
from layoutc.initramfs.plan import (
    DIR_MODE,
    EXEC_MODE,
    FILE_MODE,
    LINK_MODE,
    CrashInitramfsPlan,
    Member,
    PlanFile,
    ordered,
    parents,
)
from layoutc.initramfs.root import Root, RootError

INSTALL_DIR = "usr/lib/layoutc"  # render.device_view.INSTALL_DIR, without the slash
BASE_DIRS = ("bin", "sbin", "dev", "proc", "sys", "tmp", "run", "mnt", "usr", "usr/bin", "usr/sbin", "etc")
# the applets the generated scripts call, for a busybox that cannot run on the build machine
SCRIPT_APPLETS = tuple(f"bin/{a}" for a in (
    "sh", "mount", "umount", "mkdir", "grep", "cat", "dd", "tr", "sha256sum", "logger", "sleep", "ls", "rm", "mv",
    "cp", "ln", "sed", "awk", "head", "tail", "wc", "date", "stat", "cut", "printf", "test", "[", "find", "uname",
    "readlink", "basename", "dirname", "chmod", "mknod", "sort", "env", "true", "false", "od", "sync", "echo",
)) + tuple(f"sbin/{a}" for a in ("modprobe", "insmod", "reboot", "poweroff", "blockdev"))


@dataclass(frozen=True, slots=True)
class CrashInputs:
    """Everything the plan is made of. Paths of ``busybox``, ``python`` and ``tools`` are the device's
    (inside ``root``); ``generated`` maps archive paths to the board's generated files."""

    board: str
    release: str
    root: Root
    generated: Mapping[str, bytes]
    zipapp: bytes | None  # the dumper; None when the board dumps with makedumpfile
    modules: tuple[str, ...]  # needed: an error when neither shipped nor built in
    optional_modules: tuple[str, ...] = ()  # shipped when the kernel has them
    tools: tuple[str, ...] = ()  # needed commands (names or device paths)
    optional_tools: tuple[str, ...] = ()
    python_packages: tuple[str, ...] = ()  # the filter spec's codec (python_runtime.DIST)
    busybox: str = "/bin/busybox"
    python: str = python_runtime.PYTHON
    init: bytes | None = None  # None: /init is a link to capture-init.sh
    extra: Mapping[str, bytes] = field(default_factory=dict)  # more files (the lab's glue), mode 0755
    zipapp_path: Path | None = None  # the zipapp on the build machine, for -X importtime
    module_root: Root | None = None  # where /lib/modules/KVER is, when not in ``root`` (the lab's kernel cache)


def plan_crash_initramfs(inputs: CrashInputs) -> CrashInitramfsPlan:
    """The plan; raises ``RootError`` naming what the root lacks."""
    root = inputs.root
    files: list[PlanFile] = [*_busybox(inputs), *_generated(inputs)]
    natives = [inputs.busybox]
    notes: list[str] = []
    tools = [_tool(root, t) for t in inputs.tools]
    for name in inputs.optional_tools:
        found = root.which(name)
        if found is None:
            notes.append(f"{name} not in the root: not shipped (capture.sh does without it)")
        else:
            tools.append(found)
    files += [_from_root(root, t, Member.TOOLS, EXEC_MODE) for t in tools]
    natives += tools
    if inputs.zipapp is not None:
        files += _python(inputs)
        natives.append(inputs.python)
        natives += [f"/{f.path}" for f in files if f.member is Member.PYTHON and f.path.endswith(".so")]
    for binary in natives:
        for asked, real in root.libraries(binary).items():
            files.append(_from_root(root, real, Member.TOOLS, EXEC_MODE, at=asked))
    module_files, shipped, builtin = _modules(inputs)
    files += module_files
    dirs = parents([f.path for f in files] + [f"{d}/x" for d in BASE_DIRS])
    files += [PlanFile(d, DIR_MODE, Member.BASE) for d in dirs]
    return CrashInitramfsPlan(inputs.board, inputs.release, ordered(files), shipped, builtin, tuple(tools),
                              tuple(notes))


def _tool(root: Root, name: str) -> str:
    found = root.which(name)
    if found is None:
        raise RootError(f"{name} not found in root {root.top} (searched /usr/sbin, /usr/bin, /sbin, /bin)")
    return found


def _from_root(root: Root, path: str, member: Member, mode: int, at: str | None = None) -> PlanFile:
    host = root.host(path)
    try:
        size = host.stat().st_size
    except OSError as exc:
        raise RootError(f"{path} in root {root.top}: {exc.strerror}") from None
    return PlanFile((at or path).lstrip("/"), mode, member, source=str(host), size=size)


def _data(path: str, data: bytes, member: Member, mode: int = FILE_MODE) -> PlanFile:
    return PlanFile(path.lstrip("/"), mode, member, data=data, size=len(data))


def busybox_applets(root: Root, busybox: str) -> tuple[str, ...]:
    """``busybox --list-full`` of the root's busybox; SCRIPT_APPLETS when it cannot run here."""
    try:
        out = subprocess.run([str(root.host(busybox)), "--list-full"], capture_output=True, text=True,
                             timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return SCRIPT_APPLETS
    return tuple(sorted(line.strip() for line in out.splitlines() if line.strip()))


def _busybox(inputs: CrashInputs) -> list[PlanFile]:
    root = inputs.root
    if not root.exists(inputs.busybox):
        raise RootError(f"{inputs.busybox} not found in root {root.top} (Debian: busybox or busybox-static)")
    files = [_from_root(root, inputs.busybox, Member.BASE, EXEC_MODE, at="bin/busybox")]
    taken = {*inputs.extra, *inputs.generated}
    files += [PlanFile(a, LINK_MODE, Member.BASE, link="/bin/busybox", size=len("/bin/busybox"))
              for a in busybox_applets(root, inputs.busybox) if a != "bin/busybox" and a not in taken]
    if inputs.init is None:
        target = f"/{INSTALL_DIR}/capture-init.sh"
        files.append(PlanFile("init", LINK_MODE, Member.BASE, link=target, size=len(target)))
    else:
        files.append(_data("init", inputs.init, Member.BASE, EXEC_MODE))
    return files


def _generated(inputs: CrashInputs) -> list[PlanFile]:
    files = [_data(p, d, Member.LAYOUTC, EXEC_MODE if p.endswith(".sh") else FILE_MODE)
             for p, d in inputs.generated.items()]
    if inputs.zipapp is not None:
        files.append(_data(f"{INSTALL_DIR}/dump.pyz", inputs.zipapp, Member.LAYOUTC, EXEC_MODE))
    files += [_data(p, d, Member.EXTRA, EXEC_MODE) for p, d in inputs.extra.items()]
    return files


def _python(inputs: CrashInputs) -> list[PlanFile]:
    python = python_runtime.Interpreter(inputs.root, inputs.python)
    if inputs.zipapp_path is None:
        raise RootError("the dumper zipapp must be on the build machine to find its imports")
    names = python_runtime.dumper_modules(python, inputs.zipapp_path, inputs.python_packages)
    table = python_runtime.python_files(python, names, inputs.python_packages)
    files = [_from_root(inputs.root, python.device_path, Member.PYTHON, EXEC_MODE, at="usr/bin/python3")]
    files += [_data(p, d, Member.PYTHON, EXEC_MODE if p.endswith(".so") else FILE_MODE) for p, d in table.items()]
    return files


def _modules(inputs: CrashInputs) -> tuple[list[PlanFile], tuple[str, ...], tuple[str, ...]]:
    root, release = inputs.module_root or inputs.root, inputs.release
    top = f"/lib/modules/{release}"
    if not inputs.modules and not inputs.optional_modules:
        return [], (), ()
    if not root.exists(f"{top}/modules.dep"):
        raise RootError(f"{top}/modules.dep not found in root {root.top}: is kernel {release} installed "
                        "(and depmod run)?")
    table = kmod.parse_modules_dep(root.read(f"{top}/modules.dep").decode("utf-8", "replace"))
    builtin_text = root.read(f"{top}/modules.builtin").decode() if root.exists(f"{top}/modules.builtin") else ""
    builtin = kmod.builtin_names(builtin_text)
    order, absent = kmod.closure(table, (*inputs.modules, *inputs.optional_modules))
    needed = {m.replace("-", "_") for m in inputs.modules}
    lacking = [m for m in absent if m in needed and m not in builtin]
    if lacking:
        raise RootError(f"kernel module(s) {', '.join(lacking)} of {release} not in {top}/modules.dep "
                        "nor modules.builtin")
    files = [_data(f"lib/modules/{release}/{m.shipped}", _decompressed(root.read(f"{top}/{m.source}"), m.source),
                   Member.MODULES) for m in order]
    files.append(_data(f"lib/modules/{release}/modules.dep", kmod.shipped_modules_dep(order).encode(),
                       Member.MODULES))
    return files, tuple(m.name for m in order), tuple(sorted(m for m in absent if m in builtin))


def _decompressed(data: bytes, name: str) -> bytes:
    if name.endswith(".xz"):
        return lzma.decompress(data)
    if name.endswith(".gz"):
        return gzip.decompress(data)
    if name.endswith(".zst"):
        zstd = shutil.which("zstd")
        if zstd is None:
            raise RootError(f"{name} is zstd-compressed and no zstd is on this machine's PATH")
        return subprocess.run([zstd, "-dc"], input=data, capture_output=True, check=True, timeout=60).stdout
    return data
