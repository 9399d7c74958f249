"""The crash cycle's images: the generated device artifacts, the guest roots, the lab's disks.

``render_device`` renders the device artifacts from the layout's own profile with one substitution:
``recovery.upload`` becomes the lab's ``/lab/upload {dump}``. ``device_image`` builds the production and
recovery roots around them; ``drives`` makes the boot disk (``grub/grubenv``, or GRUB's boot files), the
export and scratch disks and the ``--keep-vmcore`` disk. ``cycle.CrashCycle`` boots them.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from layoutc.lab.boot import machine as board
from layoutc.lab.errors import LabError
from layoutc.lab.facts.cycle_facts import CycleOptions
from layoutc.lab.guest import cycle_stages as cycle_guest
from layoutc.lab.guest import stages as guest
from layoutc.lab.image import devicezip, initramfs, kernels
from layoutc.lab.image.sysroot import Sysroot
from layoutc.lab.layout_dir import load_layout
from layoutc.model.layout import Layout
from layoutc.model.profile import Profile

UPLOAD_ARGV = ("/lab/upload", "{dump}")
# the production and recovery roots load the board's recovery modules (layout.json modules.recovery, from the
# capability table) and the lab machine's own: ext4's checksum where it is a module, the virtio disks
LAB_MODULES = ("crc32c_generic", "virtio_pci", "virtio_blk")
GRUBENV_EMPTY = b"# GRUB Environment Block\n"
MiB = 1 << 20
# The production OS runs the units with dash and coreutils (busybox sh runs its own applets before
# anything on PATH, so it would not be the shell or sha256sum a device runs). So recover.sh runs
# under dash (shipped as /usr/bin/dash) with coreutils' sha256sum replacing the busybox link; everything else
# (/init, arm.sh through its #!/bin/sh) stays on busybox sh.
# (An earlier guest lost every busybox link under /usr/bin: initramfs.py listed "usr/bin" before "usr".)
OS_OVERRIDES = {
    "usr/bin/dash": Path("/usr/bin/dash").read_bytes() if Path("/usr/bin/dash").is_file() else b"",
    "usr/bin/sha256sum": Path("/usr/bin/sha256sum").read_bytes() if Path("/usr/bin/sha256sum").is_file() else b"",
}


@dataclasses.dataclass(frozen=True, slots=True)
class Arm64Root:
    """What an arm64 guest root takes from the arm64 userland (``cycle_arm64``)."""

    sysroot: Sysroot
    modules: tuple[str, ...] = ()  # kernel modules the lab adds beside layout.json's


@dataclasses.dataclass(frozen=True, slots=True)
class Rendered:
    device: Path  # the generated device/ directory
    store: str  # the profile's recovery.store (where recover.sh keeps the verified dump)
    disk_device: str = ""  # disk targets: the profile's disk.device and disk.fstype
    disk_fstype: str = ""
    profile: Profile | None = None  # the profile as loaded (the lab's upload substituted)


def render_device(layout_dir: Path, out: Path, profile: Path | None = None) -> Rendered:
    """The generated device artifacts of ``layout_dir`` (upload replaced by the lab's hook)."""
    from layoutc.diagnostics.diagnostic import Diagnostics
    from layoutc.frontend.load import load_profile
    from layoutc.render.device import device_artifacts

    layout = load_layout(layout_dir)
    name = layout.profile
    candidates = [*([profile] if profile else []), Path(name), Path.cwd() / name, kernels.cache_dir().parents[1] / name]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise LabError("artifacts-missing", f"profile {name!r} of {layout_dir / 'layout.json'} not found")
    diags = Diagnostics()
    prof = load_profile(path, str(name or path), diags)
    if prof is None:
        raise LabError("invalid-layout", f"profile {path} does not load: {diags}")
    prof = dataclasses.replace(prof, recovery=dataclasses.replace(prof.recovery, upload=UPLOAD_ARGV))
    for artifact in device_artifacts(prof, layout):
        dest = out / artifact.relpath
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(artifact.content)
        dest.chmod(artifact.mode)
    disk = prof.disk if prof.crash.target.value == "disk" else None
    return Rendered(
        out / "device", prof.recovery.store, disk.device if disk else "", disk.fstype if disk else "", prof
    )


def layout_doc(layout_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((layout_dir / "layout.json").read_text())
    return data


def _run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, **kw)


def ext4_image(path: Path, size: int, files: Mapping[str, bytes] | None = None) -> Path:
    with tempfile.TemporaryDirectory(prefix="layoutc-lab-img-") as tmp:
        for rel, data in (files or {}).items():
            f = Path(tmp) / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(data)
        path.unlink(missing_ok=True)
        with path.open("wb") as fh:
            fh.truncate(size)
        proc = _run(["mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-d", tmp, str(path)])
        if proc.returncode != 0:
            raise LabError("tool-missing", f"mkfs.ext4 {path}: {proc.stderr.strip()}")
    return path


def raw_image(path: Path, size: int) -> Path:
    path.unlink(missing_ok=True)
    with path.open("wb") as fh:
        fh.truncate(size)
    return path


def debugfs_cat(image: Path, name: str) -> bytes:
    proc = subprocess.run(["debugfs", "-R", f"cat {name}", str(image)], capture_output=True, timeout=120, check=False)
    return proc.stdout


def grubenv_block(values: Mapping[str, str] | None = None) -> bytes:
    body = GRUBENV_EMPTY + b"".join(f"{k}={v}\n".encode() for k, v in (values or {}).items())
    return body + b"#" * (1024 - len(body))


def parse_grubenv(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in data.decode(errors="replace").splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key] = value
    return out


def plan_files(plan: cycle_guest.CyclePlan) -> dict[str, bytes]:
    return {"lab/plan": plan.render().encode(), "lab/common": (guest.COMMON + cycle_guest.DISKS).encode()}


def device_image(
    k: kernels.Kernel,
    layout: Layout,
    device: Path,
    crash_image: Path,
    stages: Mapping[str, str],
    plan: cycle_guest.CyclePlan,
    out: Path,
    doc: Mapping[str, Any],
    arm64: Arm64Root | None = None,
) -> Path:
    """The production/recovery root: lab /init and stages, the generated arm/recover scripts, crash kernel
    (and, for disk targets, util-linux blkid: recover.sh finds a by-partlabel disk with it when no udev ran).
    ``arm64``: the guest's userland, its interpreter and tools (dash among them) and the modules it adds."""
    ck = doc.get("crash_kexec") or {}
    extra = {
        "usr/lib/layoutc/arm.sh": (device / "arm.sh").read_bytes(),
        "usr/lib/layoutc/recover.sh": (device / "recover.sh").read_bytes(),
        "etc/layoutc/filter.json": (device / "filter.json").read_bytes(),
        # arm64 window boards: the crash kernel's device tree edit arm.sh applies
        **({"etc/layoutc/crash-dt.json": (device / "crash-dt.json").read_bytes()}
           if (device / "crash-dt.json").is_file() else {}),
        str(ck.get("kernel", "/boot/crash/vmlinuz")).lstrip("/"): k.vmlinuz.read_bytes(),
        str(ck.get("initrd", "/boot/crash/initrd.img")).lstrip("/"): crash_image.read_bytes(),
        "lab/upload": cycle_guest.UPLOAD.encode(),
        **devicezip.guest_files(out.parent / "devicezip", json.dumps(dict(doc)).encode(),
                                arm64.sysroot if arm64 else None),  # layoutc status (arm64: the DT tool too)
        f"{plan.store.strip('/')}/.keep": b"",
        **plan_files(plan),
    }
    all_stages = {**guest.stages(guest.GuestPlan(), extra=dict(stages))}
    if "60-recover" in stages:
        all_stages.pop("20-offline", None)
    lab_modules = (*LAB_MODULES, *(arm64.modules if arm64 else ()))
    spec = initramfs.InitramfsSpec(
        init=guest.INIT,
        module_dir=k.module_dir,
        modules=(*layout.boot_modules.recovery, *(m for m in lab_modules if m not in layout.boot_modules.recovery)),
        tools=(*initramfs.DEFAULT_TOOLS, *(("/usr/sbin/blkid",) if plan.disk_label else ()),
               *(("dash",) if arm64 else ())),  # fmt: skip
        stages=all_stages,
        extra=extra,
        overrides={} if arm64 else OS_OVERRIDES,  # arm64: busybox's sha256sum; dash from the userland
        sysroot=arm64.sysroot if arm64 else None,
    )
    return initramfs.build_initramfs(spec, out)


def reference_filter(device: Path) -> bytes:
    """The reference dump's filter spec: the generated one keeping the window's pages and without a budget.
    Whatever it keeps in the window and the capture lacks is what the dump level promised and the window took
    (none for a sound layout)."""
    spec = json.loads((device / "filter.json").read_text())
    spec["exclude"] = [e for e in spec.get("exclude", []) if e.get("reason") != "dump_window"]
    spec["budget"] = None
    return json.dumps(spec, indent=1).encode()


def drives(
    work: Path, machine: board.Machine, opts: CycleOptions, full: bool, boot_files: Mapping[str, bytes] | None = None
) -> tuple[tuple[str, Path], ...]:
    files = boot_files or {"grub/grubenv": grubenv_block()}
    size = 8 * MiB if boot_files is None else (sum(map(len, files.values())) * 5 // 4 // MiB + 32) * MiB
    disks = [("boot", ext4_image(work / "boot.img", size, files))]
    if full:
        disks.append(("export", raw_image(work / "export.img", 1 << 30)))
        disks.append(("scratch", ext4_image(work / "scratch.img", 2 << 30)))
    if opts.keep_vmcore:
        disks.append(("vmcore", raw_image(work / "vmcore.img", machine.ram + (256 * MiB))))
    return tuple(disks)
