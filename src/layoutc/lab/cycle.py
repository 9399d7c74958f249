"""The crash cycle: ``--stage arm`` and ``--stage full`` (arm → panic → crash kernel → capture → recovery boot).

The device artifacts are rendered by ``layoutc.render.device.device_artifacts`` from the layout's own
profile (``layout.json`` ``profile``) with one substitution: ``recovery.upload`` becomes the lab's
``/lab/upload {dump}`` (fails first, then exports the dump to a raw disk), so "kept when the upload fails"
can be observed. Everything else is the generated file, byte for byte.

Boots (``full``), all with guest RAM in a shared ``memory-backend-file`` under ``/dev/shm``:

1. *production*: the production cmdline (no ``memmap=!`` for a movable window); ``arm.sh production``,
   then ``echo c > /proc/sysrq-trigger``; the crash kernel (same QEMU, kexec) boots the crash initramfs
   (``crashrd.py``), whose lab glue reports ``/proc/vmcore``, may keep it (``--keep-vmcore``) and write a
   reference dump, mounts the ``boot`` disk on ``/boot`` and execs the generated ``capture-init.sh``, which
   captures into the window, selects the recovery entry in ``/boot/grub/grubenv`` and reboots (QEMU exits:
   ``-no-reboot``).
2. the host reads ``next_entry`` from the boot disk (``debugfs``) — it plays GRUB's one-shot entry;
3. *recovery*: a second QEMU on the same RAM files with the recovery cmdline (``hotplug``: the production
   cmdline, the same on every boot); ``recover.sh`` three times; the upload exports the dump.
4. host: sha256 of the exported dump, kdump header, drgn, reference comparison, vmcore kept.

With ``CycleOptions.grub`` (``--grub``, ``grubboot.py``) steps 1-3 are one QEMU booted through real GRUB: the
crash kernel's reboot resets the guest and GRUB itself boots the ``next_entry`` the capture wrote. With
``CycleOptions.efi`` (``--efi``, ``efiboot.py``) the same through OVMF and systemd-boot: the capture writes
``LoaderEntryOneShot`` and systemd-boot boots the generated BLS entry.

The negative control (``negative=True``) forces the crash kernel in when ``arm.sh`` refuses, runs
``capture.sh`` directly and compares the window's dump with the reference made before the window was
touched: with a window over the early top-of-node allocations they differ while both dumper runs exit 0.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from layoutc.lab import cycle_disk
from layoutc.lab.boot import efiboot, grubboot, qemu
from layoutc.lab.boot import machine as board
from layoutc.lab.boot.serial import GuestOutput, parse_serial
from layoutc.lab.errors import LabError
from layoutc.lab.facts.cycle_facts import (
    CycleOptions,
    CycleResult,
    arm_facts,
    crash_facts,
    keep_vmcore,
    negative_facts,
    ok_fact,
    recovery_facts,
    reservation_fact,
)
from layoutc.lab.guest import cycle_stages as cycle_guest
from layoutc.lab.guest import stages as guest
from layoutc.lab.image import crashrd, initramfs, kernels
from layoutc.lab.layout_dir import load_layout
from layoutc.lab.report import BootRecord
from layoutc.model.layout import Layout
from layoutc.model.profile import Profile

UPLOAD_ARGV = ("/lab/upload", "{dump}")
LAB_MODULES = (*initramfs.DEFAULT_MODULES, "virtio_pci", "virtio_blk")
GRUBENV_EMPTY = b"# GRUB Environment Block\n"
MiB = 1 << 20
TEMP_IMAGES = ("initramfs-production.img", "initramfs-recovery.img", "export.img", "vmcore.img", "crash-disk.img",
               "grub.iso", "esp.img")  # fmt: skip
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


def _layout_doc(layout_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((layout_dir / "layout.json").read_text())
    return data


def _run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, **kw)


def _ext4_image(path: Path, size: int, files: Mapping[str, bytes] | None = None) -> Path:
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


def _raw_image(path: Path, size: int) -> Path:
    path.unlink(missing_ok=True)
    with path.open("wb") as fh:
        fh.truncate(size)
    return path


def _debugfs_cat(image: Path, name: str) -> bytes:
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


def _plan_file(plan: cycle_guest.CyclePlan) -> dict[str, bytes]:
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
) -> Path:
    """The production/recovery root: lab /init and stages, the generated arm/recover scripts, crash kernel
    (and, for disk targets, util-linux blkid: recover.sh finds a by-partlabel disk with it when no udev ran)."""
    ck = doc.get("crash_kexec") or {}
    extra = {
        "usr/lib/layoutc/arm.sh": (device / "arm.sh").read_bytes(),
        "usr/lib/layoutc/recover.sh": (device / "recover.sh").read_bytes(),
        "etc/layoutc/filter.json": (device / "filter.json").read_bytes(),
        str(ck.get("kernel", "/boot/crash/vmlinuz")).lstrip("/"): k.vmlinuz.read_bytes(),
        str(ck.get("initrd", "/boot/crash/initrd.img")).lstrip("/"): crash_image.read_bytes(),
        "lab/upload": cycle_guest.UPLOAD.encode(),
        f"{plan.store.strip('/')}/.keep": b"",
        **_plan_file(plan),
    }
    all_stages = {**guest.stages(guest.GuestPlan(), extra=dict(stages))}
    if "60-recover" in stages:
        all_stages.pop("20-offline", None)
    spec = initramfs.InitramfsSpec(
        init=guest.INIT,
        module_dir=k.module_dir,
        modules=LAB_MODULES,
        tools=(*initramfs.DEFAULT_TOOLS, *(("/usr/sbin/blkid",) if plan.disk_label else ())),
        stages=all_stages,
        extra=extra,
        overrides=OS_OVERRIDES,
    )
    return initramfs.build_initramfs(spec, out)


def _boot(
    name: str,
    k: kernels.Kernel,
    image: Path,
    cmdline: str,
    machine: board.Machine,
    out_dir: Path,
    opts: CycleOptions,
    ram: Path,
    drives: tuple[tuple[str, Path], ...],
) -> tuple[BootRecord, GuestOutput]:
    log = out_dir / f"serial-{name}.log"
    boot = qemu.Boot(k.vmlinuz, image, cmdline, machine, log, opts.accel, opts.timeout, ram_path=ram, drives=drives)
    result = qemu.run_boot(boot)
    record = BootRecord(name, round(result.seconds, 2), result.returncode, str(log), result.argv)
    return record, parse_serial(log.read_bytes())



def _cmdline(layout: Layout, stage: str, machine: board.Machine) -> str:
    words = [layout.board_cmdline, *machine.memmap, getattr(layout.cmdline, stage), "panic=-1"]
    line = " ".join(" ".join(words).split())
    if "console=ttyS0" not in line.split():
        line += " console=ttyS0"  # the lab reads the serial port (a board's own console= may be empty)
    return line


def crash_append(doc: Mapping[str, Any]) -> str:
    """What arm.sh passes as --append: the crash board cmdline, then the layout's crash parameters."""
    words = [str(doc.get("crash_board_cmdline", "")), str((doc.get("cmdline") or {}).get("crash", ""))]
    return " ".join(" ".join(words).split())


def run_cycle(
    layout_dir: Path,
    layout: Layout,
    k: kernels.Kernel,
    machine: board.Machine,
    out_dir: Path,
    opts: CycleOptions,
    *,
    stage: str,
) -> CycleResult:
    """``stage`` ``arm`` (production boot and arm.sh only) or ``full``."""
    res = CycleResult([], [], [], [])
    doc = _layout_doc(layout_dir)
    rendered = render_device(layout_dir, out_dir / "artifacts", opts.profile)
    device, store = rendered.device, rendered.store
    res.notes.append(
        f"device artifacts rendered from {doc.get('profile')} with recovery.upload = {' '.join(UPLOAD_ARGV)}"
    )
    window = layout.dump_window
    full = stage == "full"
    entry = str((doc.get("recovery_boot") or {}).get("grub_id", ""))
    if opts.grub or opts.efi:
        sel = rendered.profile.recovery.boot_selection if rendered.profile else ""
        check = functools.partial(efiboot.unsupported, grub=opts.grub) if opts.efi else grubboot.unsupported
        why = check(stage=stage, window_mode=str(layout.strategy.window_mode), boot_selection=str(sel),
                    negative=opts.negative, carved=bool(machine.memmap), board_cmdline=layout.board_cmdline)
        if why:
            raise LabError("usage", why)
    plan = cycle_guest.CyclePlan(
        crash_append=crash_append(doc),
        force_arm=("-s -p" if (doc.get("crash_kexec") or {}).get("file_load") else "-p") if opts.negative else "",
        keep_vmcore=opts.keep_vmcore,
        reference=(opts.reference or opts.negative) and full,
        capture_mode="script" if opts.negative else "init",
        window_start=window.start if window else 0,
        arm_mode="hotplug" if layout.strategy.window_mode == "hotplug" else "production",
        store=store,
        disk_label=cycle_disk.partlabel(rendered.disk_device),
        disk_fstype=rendered.disk_fstype,
    )
    if rendered.disk_device:
        res.notes.append(cycle_disk.disk_note(layout))
    work = out_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    # the reference dump keeps the window's pages (the real capture excludes them): whatever it keeps there
    # and the capture lacks is what the dump level promised and the window took (none for a sound layout)
    ref_spec = json.loads((device / "filter.json").read_text())
    ref_spec["exclude"] = [e for e in ref_spec.get("exclude", []) if e.get("reason") != "dump_window"]
    ref_spec["budget"] = None
    crash_lab = {
        **_plan_file(plan),
        "lab/reference-filter.json": json.dumps(ref_spec, indent=1).encode(),
        "lab/phdrs.py": cycle_disk.PHDRS_PY.encode(),
    }
    crash = crashrd.build_crash_initramfs(
        device,
        k.module_dir,
        work / "crash-initrd.img",
        init=cycle_guest.CRASH_INIT,
        lab_files=crash_lab,
        work=work,
        extra_modules=(*((rendered.disk_fstype,) if rendered.disk_fstype else ()), *(("efivarfs",) * opts.efi)),
    )
    reservation_fact(res, rendered.profile, doc, k.vmlinuz, crash, time.monotonic() - t0)
    prod_image = device_image(
        k,
        layout,
        device,
        crash.path,
        cycle_guest.production_stages(panic=full),
        plan,
        work / "initramfs-production.img",
        doc,
    )
    rec_plan = dataclasses.replace(plan, force_arm="", keep_vmcore=False, reference=False)

    def recovery_image() -> Path:
        return device_image(k, layout, device, crash.path, cycle_guest.recovery_stages(), rec_plan,
                            work / "initramfs-recovery.img", doc)  # fmt: skip

    ram = Path(tempfile.mkdtemp(prefix="layoutc-lab-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None)) / "ram"
    try:
        gcfg, boot_files = None, None
        if opts.grub:
            gcfg = grubboot.make_grub_cfg(layout_dir, layout.board_cmdline, entry, work)
            boot_files = grubboot.boot_files(gcfg, grubenv_block(), k.vmlinuz, prod_image, recovery_image(),
                                             doc.get("recovery_boot") or {})  # fmt: skip
        drives = _drives(work, machine, opts, full, boot_files)
        offset = 0
        if rendered.disk_device and full:
            offset = cycle_disk.crash_disk(work / "crash-disk.img", 1 << 30, rendered.disk_device,
                                           rendered.disk_fstype)  # fmt: skip
            drives = (*drives, ("crash", work / "crash-disk.img"))
        prod_cmd = _cmdline(layout, "production", machine)
        grun, efi = None, None
        if gcfg is not None:
            t1 = time.monotonic()
            iso = grubboot.build_iso(work)
            res.notes.append(f"--grub: boot disk with {sum(map(len, (boot_files or {}).values())) / MiB:.0f} MiB of "
                             f"files; GRUB ISO made in {time.monotonic() - t1:.1f} s")  # fmt: skip
            gboot = qemu.Boot(k.vmlinuz, prod_image, "", machine, out_dir / "serial-grub.log", opts.accel,
                              opts.timeout * 1.5, ram_path=ram, drives=drives, cdrom=iso)  # fmt: skip
            grun = grubboot.run(gboot, str((doc.get("recovery_boot") or {}).get("title", "")))
            res.boots += grun.records
            prod = grun.production
            res.notes.append("--grub: GRUB booted " + ", ".join(f"{t!r} at {s:.0f} s" for t, s in grun.seen))
            if grun.stopped:
                res.problems.append(grun.stopped)
        elif opts.efi:
            eboot = qemu.Boot(k.vmlinuz, prod_image, "", machine, out_dir / "serial-efi.log", opts.accel,
                              opts.timeout * 1.5, ram_path=ram, drives=drives)  # fmt: skip
            efi = efiboot.start(layout_dir, doc, k.vmlinuz, prod_image, recovery_image(), eboot, work)
            grun, prod = efi.run, efi.run.production
            res.boots += grun.records
            res.notes += efi.notes
            if grun.stopped:
                res.problems.append(grun.stopped)
        else:
            rec, prod = _boot("production", k, prod_image, prod_cmd, machine, out_dir, opts, ram, drives)
            res.boots.append(rec)
        arm_facts(res, layout, prod, negative=opts.negative)
        if not full:
            return res
        crash_facts(res, layout, prod, opts)
        if layout.strategy.crash_memory == "cma":
            cycle_disk.cma_vmcore_fact(res, prod)
        if opts.keep_vmcore:
            keep_vmcore(res, prod, work, k, layout)
        if opts.negative:
            negative_facts(res, work, layout, prod)
            return res
        env = parse_grubenv(_debugfs_cat(work / "boot.img", "/grub/grubenv"))
        if efi is not None:
            kexec = "kexec -s -p" if (doc.get("crash_kexec") or {}).get("file_load") else "kexec -p"
            res.facts += efi.facts(f"{layout.board_cmdline} {layout.cmdline.recovery}", kexec)
            recovery_facts(res, layout, efi.run.recovery, doc, k, work, store, crash_console=prod.console)
            return res
        if grun is not None and gcfg is not None:
            rb = doc.get("recovery_boot") or {}
            wanted = f"{layout.board_cmdline} {layout.cmdline.recovery}"
            res.facts += grubboot.grub_facts(gcfg, grun.seen, str(rb.get("title", "")), wanted,
                                             prod.text("cmdline"), grun.recovery.text("cmdline"), env)  # fmt: skip
            recovery_facts(res, layout, grun.recovery, doc, k, work, store, crash_console=prod.console)
            return res
        if layout.strategy.window_mode == "movable":
            res.facts.append(
                ok_fact(
                    "recovery boot selected (grubenv next_entry)",
                    env.get("next_entry") == entry,
                    entry,
                    env.get("next_entry", "unset"),
                )
            )
        stage_name = "recovery" if layout.strategy.window_mode == "movable" else "production"
        rec_image = recovery_image()
        rec_cmd = _cmdline(layout, stage_name, machine)
        rec_drives = tuple(d for d in drives if d[0] != "vmcore")  # the kept vmcore has moved to the cache
        rec2, recovery = _boot("recovery", k, rec_image, rec_cmd, machine, out_dir, opts, ram, rec_drives)
        res.boots.append(rec2)
        recovery_facts(res, layout, recovery, doc, k, work, store, crash_console=prod.console)
        if rendered.disk_device:
            cycle_disk.disk_readback_facts(res, work / "crash-disk.img", offset, work / "vmcore.kdump", work)
    finally:
        shutil.rmtree(ram.parent, ignore_errors=True)
        for img in TEMP_IMAGES:
            (work / img).unlink(missing_ok=True)
    return res


def _drives(
    work: Path, machine: board.Machine, opts: CycleOptions, full: bool, boot_files: Mapping[str, bytes] | None = None
) -> tuple[tuple[str, Path], ...]:
    files = boot_files or {"grub/grubenv": grubenv_block()}
    size = 8 * MiB if boot_files is None else (sum(map(len, files.values())) * 5 // 4 // MiB + 32) * MiB
    drives = [("boot", _ext4_image(work / "boot.img", size, files))]
    if full:
        drives.append(("export", _raw_image(work / "export.img", 1 << 30)))
        drives.append(("scratch", _ext4_image(work / "scratch.img", 2 << 30)))
    if opts.keep_vmcore:
        drives.append(("vmcore", _raw_image(work / "vmcore.img", machine.ram + (256 * MiB))))
    return tuple(drives)
