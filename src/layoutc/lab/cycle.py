"""The crash cycle: ``--stage arm`` and ``--stage full`` (arm → panic → crash kernel → capture → recovery boot).

``CrashCycle`` holds one frozen ``CycleContext`` (profile, layout, kernel, machine, paths, options, the guest
plan) and runs the cycle as stage methods: build the images, the production boot and arm, the panic and the
crash kernel, the recovery boot (host-played, through GRUB or through OVMF), each adding its facts.

The device artifacts are rendered by ``layoutc.render.device.device_artifacts`` from the layout's own
profile (``layout.json`` ``profile``; ``cycle_images``) with one substitution: ``recovery.upload`` becomes the lab's
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
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from layoutc.lab import cycle_disk
from layoutc.lab.boot import efiboot, grubboot, qemu
from layoutc.lab.boot import machine as board
from layoutc.lab.boot.serial import GuestOutput, parse_serial
from layoutc.lab.cycle_images import (
    UPLOAD_ARGV,
    Rendered,
    debugfs_cat,
    device_image,
    drives,
    grubenv_block,
    layout_doc,
    parse_grubenv,
    plan_files,
    reference_filter,
    render_device,
)
from layoutc.lab.errors import LabError
from layoutc.lab.facts.boot_facts import initrd_fact
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
from layoutc.lab.facts.status_facts import status_fact
from layoutc.lab.guest import cycle_stages as cycle_guest
from layoutc.lab.image import crashrd, kernels
from layoutc.lab.image.crashrd import CrashImage
from layoutc.lab.report import BootRecord, timeout_tail
from layoutc.model.layout import Layout

MiB = 1 << 20
TEMP_IMAGES = ("initramfs-production.img", "initramfs-recovery.img", "export.img", "vmcore.img", "crash-disk.img",
               "grub.iso", "esp.img")  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class CycleContext:
    """What one crash cycle runs on, fixed before the first image is built."""

    layout_dir: Path
    layout: Layout
    doc: Mapping[str, Any]  # layout.json as read (crash_kexec, recovery_boot, crash_board_cmdline)
    kernel: kernels.Kernel
    machine: board.Machine
    out_dir: Path
    opts: CycleOptions
    stage: str  # arm or full
    rendered: Rendered  # the generated device artifacts and the profile they came from
    plan: cycle_guest.CyclePlan  # /lab/plan of the production boot and the crash kernel
    disk: cycle_disk.CrashDisk | None  # disk targets: the crash disk

    @property
    def full(self) -> bool:
        return self.stage == "full"

    @property
    def work(self) -> Path:
        return self.out_dir / "work"

    @property
    def recovery_boot(self) -> Mapping[str, Any]:
        rb: Mapping[str, Any] = self.doc.get("recovery_boot") or {}
        return rb

    @property
    def file_load(self) -> bool:
        return bool((self.doc.get("crash_kexec") or {}).get("file_load"))

    def cmdline(self, stage: str) -> str:
        return _cmdline(self.layout, stage, self.machine)


@dataclasses.dataclass(frozen=True, slots=True)
class ProductionRun:
    """What the production boot left: its guest output and disks, and the one-QEMU run through GRUB or OVMF."""

    output: GuestOutput
    drives: tuple[tuple[str, Path], ...]
    grub: grubboot.GrubRun | None = None
    grub_cfg: grubboot.GrubConfig | None = None
    efi: efiboot.EfiCycle | None = None


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
    """``stage`` ``arm`` (production boot and arm.sh only) or ``full``; an arm64 kernel runs ``Arm64Cycle``."""
    if k.arch == "arm64":
        from layoutc.lab.cycle_arm64 import Arm64Cycle

        return Arm64Cycle.prepare(layout_dir, layout, k, machine, out_dir, opts, stage=stage).run()
    return CrashCycle.prepare(layout_dir, layout, k, machine, out_dir, opts, stage=stage).run()


class CrashCycle:
    """One crash cycle: stage methods over one frozen context, each appending to one result."""

    def __init__(self, ctx: CycleContext, res: CycleResult) -> None:
        self.ctx = ctx
        self.res = res

    @classmethod
    def prepare(cls, layout_dir: Path, layout: Layout, k: kernels.Kernel, machine: board.Machine, out_dir: Path,
                opts: CycleOptions, *, stage: str) -> CrashCycle:  # fmt: skip
        """Render the device artifacts, refuse a boot selection the lab cannot play, plan the guest."""
        res = CycleResult([], [], [], [])
        doc = layout_doc(layout_dir)
        rendered = render_device(layout_dir, out_dir / "artifacts", opts.profile)
        res.notes.append(
            f"device artifacts rendered from {doc.get('profile')} with recovery.upload = {' '.join(UPLOAD_ARGV)}"
        )
        why = _boot_selection_problem(layout, machine, opts, stage, rendered) or _panic_cpu_problem(opts, rendered)
        if why:
            raise LabError("usage", why)
        window = layout.dump_window
        plan = cycle_guest.CyclePlan(
            crash_append=crash_append(doc),
            force_arm=("-s -p" if (doc.get("crash_kexec") or {}).get("file_load") else "-p") if opts.negative else "",
            keep_vmcore=opts.keep_vmcore,
            reference=(opts.reference or opts.negative) and stage == "full",
            capture_mode="script" if opts.negative else "init",
            window_start=window.start if window else 0,
            arm_mode="hotplug" if layout.strategy.window_mode == "hotplug" else "production",
            store=rendered.store,
            disk_label=cycle_disk.partlabel(rendered.disk_device),
            disk_fstype=rendered.disk_fstype,
            panic_cpu=opts.panic_cpu,
        )
        disk = None
        if rendered.disk_device:
            disk = cycle_disk.CrashDisk(rendered.disk_device, rendered.disk_fstype, out_dir / "work" / "crash-disk.img")
            res.notes.append(cycle_disk.disk_note(layout))
        ctx = CycleContext(layout_dir, layout, doc, k, machine, out_dir, opts, stage, rendered, plan, disk)
        return cls(ctx, res)

    def run(self) -> CycleResult:
        ctx = self.ctx
        ctx.work.mkdir(parents=True, exist_ok=True)
        crash = self.build_crash_image()
        production = self.build_device_image(crash, recovery=False)
        shm = Path("/dev/shm")
        ram = Path(tempfile.mkdtemp(prefix="layoutc-lab-", dir=shm if shm.is_dir() else None)) / "ram"
        try:
            run = self.boot_production(production, crash, ram)
            arm_facts(self.res, ctx.layout, run.output, negative=ctx.opts.negative)
            self.status_facts(run.output, () if ctx.opts.negative else ("armed",))
            if ctx.full:
                self.crash_and_recover(run, crash, ram)
        finally:
            shutil.rmtree(ram.parent, ignore_errors=True)
            for img in TEMP_IMAGES:
                (ctx.work / img).unlink(missing_ok=True)
        return self.res

    # images

    def build_crash_image(self) -> CrashImage:
        """The crash initramfs (generated capture files + the lab's glue), and the reservation fact on it."""
        ctx = self.ctx
        t0 = time.monotonic()
        crash_lab = {
            **plan_files(ctx.plan),
            "lab/reference-filter.json": reference_filter(ctx.rendered.device),
            "lab/phdrs.py": cycle_disk.PHDRS_PY.encode(),
        }
        crash = crashrd.build_crash_initramfs(
            ctx.rendered.device,
            ctx.kernel.module_dir,
            ctx.work / "crash-initrd.img",
            init=cycle_guest.CRASH_INIT,
            lab_files=crash_lab,
            work=ctx.work,
            board_modules=ctx.layout.boot_modules.crash,
            extra_modules=("efivarfs",) * ctx.opts.efi,
        )
        reservation_fact(self.res, ctx.rendered.profile, ctx.doc, ctx.kernel.vmlinuz, crash, time.monotonic() - t0)
        return crash

    def build_device_image(self, crash: CrashImage, *, recovery: bool) -> Path:
        """The production root (arm, then panic on ``full``) or the recovery root (recover.sh three times)."""
        ctx = self.ctx
        if recovery:
            plan = dataclasses.replace(ctx.plan, force_arm="", keep_vmcore=False, reference=False)
            stages, name = cycle_guest.recovery_stages(), "initramfs-recovery.img"
        else:
            plan, stages, name = ctx.plan, cycle_guest.production_stages(panic=ctx.full), "initramfs-production.img"
        return device_image(ctx.kernel, ctx.layout, ctx.rendered.device, crash.path, stages, plan, ctx.work / name,
                            ctx.doc)  # fmt: skip

    # boots

    def boot_production(self, production: Path, crash: CrashImage, ram: Path) -> ProductionRun:
        """The production boot: played by the host (QEMU's -kernel), or the first half of GRUB's or OVMF's run."""
        ctx = self.ctx
        gcfg, boot_files = None, None
        if ctx.opts.grub or ctx.opts.efi:
            boot = ctx.rendered.profile.boot if ctx.rendered.profile else None
            pad(production, boot.initrd_size if boot else 0)
        if ctx.opts.grub:
            gcfg = grubboot.make_grub_cfg(ctx.layout_dir, ctx.layout.board_cmdline,
                                          str(ctx.recovery_boot.get("grub_id", "")), ctx.work)  # fmt: skip
            recovery = self.build_device_image(crash, recovery=True)
            boot_files = grubboot.boot_files(gcfg, grubenv_block(), ctx.kernel.vmlinuz, production, recovery,
                                             ctx.recovery_boot)  # fmt: skip
        disks = drives(ctx.work, ctx.machine, ctx.opts, ctx.full, boot_files)
        if ctx.disk is not None and ctx.full:
            disks = (*disks, ctx.disk.attach())
        if gcfg is not None:
            return self._boot_grub(production, ram, disks, gcfg, boot_files or {})
        if ctx.opts.efi:
            return self._boot_efi(production, crash, ram, disks)
        record, out = _boot("production", ctx, production, ctx.cmdline("production"), ram, disks, notes=self.res.notes)
        self.res.boots.append(record)
        return ProductionRun(out, disks)

    def _boot_grub(self, production: Path, ram: Path, disks: tuple[tuple[str, Path], ...],
                   gcfg: grubboot.GrubConfig, boot_files: Mapping[str, bytes]) -> ProductionRun:  # fmt: skip
        ctx, res = self.ctx, self.res
        t1 = time.monotonic()
        iso = grubboot.build_iso(ctx.work)
        res.notes.append(f"--grub: boot disk with {sum(map(len, boot_files.values())) / MiB:.0f} MiB of "
                         f"files; GRUB ISO made in {time.monotonic() - t1:.1f} s")  # fmt: skip
        gboot = qemu.QemuBoot(ctx.kernel.vmlinuz, production, "", ctx.machine, ctx.out_dir / "serial-grub.log",
                          ctx.opts.accel, ctx.opts.timeout * 1.5, ram_path=ram, drives=disks, cdrom=iso)  # fmt: skip
        grun = grubboot.run(gboot, str(ctx.recovery_boot.get("title", "")))
        res.boots += grun.records
        res.notes.append("--grub: GRUB booted " + ", ".join(f"{t!r} at {s:.0f} s" for t, s in grun.seen))
        self.initrd_placement(grun.production, "grub-bios", production)
        if grun.stopped:
            res.problems.append(grun.stopped)
        return ProductionRun(grun.production, disks, grub=grun, grub_cfg=gcfg)

    def _boot_efi(self, production: Path, crash: CrashImage, ram: Path,
                  disks: tuple[tuple[str, Path], ...]) -> ProductionRun:  # fmt: skip
        ctx, res = self.ctx, self.res
        eboot = qemu.QemuBoot(ctx.kernel.vmlinuz, production, "", ctx.machine, ctx.out_dir / "serial-efi.log",
                          ctx.opts.accel, ctx.opts.timeout * 1.5, ram_path=ram, drives=disks)  # fmt: skip
        efi = efiboot.start(ctx.layout_dir, ctx.doc, ctx.kernel.vmlinuz, production,
                            self.build_device_image(crash, recovery=True), eboot, ctx.work)  # fmt: skip
        res.boots += efi.run.records
        res.notes += efi.notes
        self.initrd_placement(efi.run.production, "systemd-boot", production)
        if efi.run.stopped:
            res.problems.append(efi.run.stopped)
        return ProductionRun(efi.run.production, disks, grub=efi.run, efi=efi)

    def initrd_placement(self, out: GuestOutput, loader: str, image: Path) -> None:
        """Where GRUB (i386-pc) or systemd-boot's EFI stub put the production initrd ``image``, against
        layout.json's region: the layout must be compiled with ``boot.loader`` = ``loader`` (the lab's
        qemu-4g-grub and qemu-4g-efi fixtures are)."""
        self.res.facts.append(initrd_fact(self.ctx.layout, out, loader, image.stat().st_size))

    # after the panic

    def crash_and_recover(self, run: ProductionRun, crash: CrashImage, ram: Path) -> None:
        """The crash kernel's facts, then the negative control's comparison or the recovery boot."""
        ctx, res, prod = self.ctx, self.res, run.output
        crash_facts(res, ctx.layout, prod, ctx.opts)
        if ctx.layout.strategy.crash_memory == "cma":
            cycle_disk.cma_vmcore_fact(res, prod)
        if ctx.opts.keep_vmcore:
            keep_vmcore(res, prod, ctx.work, ctx.kernel, ctx.layout)
        if ctx.opts.negative:
            negative_facts(res, ctx.work, ctx.layout, prod)
            return
        env = parse_grubenv(debugfs_cat(ctx.work / "boot.img", "/grub/grubenv"))
        if run.efi is not None:
            self._efi_recovery(run.efi, prod)
        elif run.grub is not None and run.grub_cfg is not None:
            self._grub_recovery(run.grub, run.grub_cfg, prod, env)
        else:
            self._host_recovery(run, crash, ram, env)

    def _efi_recovery(self, efi: efiboot.EfiCycle, prod: GuestOutput) -> None:
        ctx = self.ctx
        kexec = "kexec -s -p" if ctx.file_load else "kexec -p"
        self.res.facts += efi.facts(f"{ctx.layout.board_cmdline} {ctx.layout.cmdline.recovery}", kexec)
        self._recovery_facts(efi.run.recovery, prod)

    def _grub_recovery(self, grun: grubboot.GrubRun, gcfg: grubboot.GrubConfig, prod: GuestOutput,
                       env: dict[str, str]) -> None:  # fmt: skip
        ctx = self.ctx
        wanted = f"{ctx.layout.board_cmdline} {ctx.layout.cmdline.recovery}"
        title = str(ctx.recovery_boot.get("title", ""))
        self.res.facts += grubboot.grub_facts(gcfg, grun.seen, title, wanted, prod.text("cmdline"),
                                              grun.recovery.text("cmdline"), env)  # fmt: skip
        self._recovery_facts(grun.recovery, prod)

    def _host_recovery(self, run: ProductionRun, crash: CrashImage, ram: Path, env: dict[str, str]) -> None:
        """The host plays GRUB's one-shot entry: a second QEMU on the same RAM with the recovery cmdline."""
        ctx, res = self.ctx, self.res
        movable = ctx.layout.strategy.window_mode == "movable"
        if movable:
            entry = str(ctx.recovery_boot.get("grub_id", ""))
            res.facts.append(ok_fact("recovery boot selected (grubenv next_entry)", env.get("next_entry") == entry,
                                     entry, env.get("next_entry", "unset")))  # fmt: skip
        image = self.build_device_image(crash, recovery=True)
        cmdline = ctx.cmdline("recovery" if movable else "production")
        disks = tuple(d for d in run.drives if d[0] != "vmcore")  # the kept vmcore has moved to the cache
        record, recovery = _boot("recovery", ctx, image, cmdline, ram, disks, notes=self.res.notes)
        res.boots.append(record)
        self._recovery_facts(recovery, run.output)
        if ctx.disk is not None:
            ctx.disk.readback_facts(res, ctx.work / "vmcore.kdump", ctx.work)

    def _recovery_facts(self, recovery: GuestOutput, prod: GuestOutput) -> None:
        ctx = self.ctx
        recovery_facts(self.res, ctx.layout, recovery, ctx.doc, ctx.kernel, ctx.work, ctx.rendered.store,
                       crash_console=prod.console)  # fmt: skip
        self.status_facts(recovery, ("recovery-start", "recovered"))

    def status_facts(self, out: GuestOutput, stages: tuple[str, ...]) -> None:
        """``layoutc status`` in the guest at each of ``stages`` (``status_facts``)."""
        for at in stages:
            fact = status_fact(self.ctx.layout, out, at)
            if fact is not None:
                self.res.facts.append(fact)


def pad(image: Path, size: int) -> None:
    """Pad ``image`` with zeros to ``size`` bytes (the profile's ``boot.initrd_size``: the kernel's unpacker skips
    zero bytes between archives), so the loader places an initrd of the size the layout assumes."""
    if image.stat().st_size < size:
        with image.open("ab") as f:
            f.truncate(size)


def _boot_selection_problem(layout: Layout, machine: board.Machine, opts: CycleOptions, stage: str,
                            rendered: Rendered) -> str:  # fmt: skip
    """Why ``--grub`` or ``--efi`` cannot play this cycle ("" when it can, or neither is asked for)."""
    if not (opts.grub or opts.efi):
        return ""
    sel = rendered.profile.recovery.boot_selection if rendered.profile else ""
    check = functools.partial(efiboot.unsupported, grub=opts.grub) if opts.efi else grubboot.unsupported
    return check(stage=stage, window_mode=str(layout.strategy.window_mode), boot_selection=str(sel),
                 negative=opts.negative, carved=bool(machine.memmap), board_cmdline=layout.board_cmdline)  # fmt: skip


def _guest_cpus(rendered: Rendered) -> int:
    """The guests' CPUs: the profile's crash.cpus (the production guest's, kept by kexec for the crash kernel)."""
    return rendered.profile.crash.cpus if rendered.profile else 1


def _panic_cpu_problem(opts: CycleOptions, rendered: Rendered) -> str:
    """Why the guest cannot panic on ``opts.panic_cpu`` ("" when it can): it has :func:`_guest_cpus` CPUs."""
    cpus = _guest_cpus(rendered)
    if 0 <= opts.panic_cpu < cpus:
        return ""
    return f"panic CPU {opts.panic_cpu}: the guest has {cpus} CPU(s) (crash.cpus), numbered from 0"


def _boot(name: str, ctx: CycleContext, image: Path, cmdline: str, ram: Path, disks: tuple[tuple[str, Path], ...],
          dtb: Path | None = None, notes: list[str] | None = None) -> tuple[BootRecord, GuestOutput]:  # fmt: skip
    """One boot of the cycle. A guest whose kernel stopped before its ``/init`` started (QEMU exited, no
    ``LAYOUTC-START``) is booted once more, and ``notes`` say so with the first console's last words: nothing
    of ours had run yet, and an emulated (TCG) two-CPU guest was seen to die that early once (a CI
    run; its serial log was lost with the machine). A kernel that dies there every time fails both boots."""
    log = ctx.out_dir / f"serial-{name}.log"
    cpus = _guest_cpus(ctx.rendered)
    boot = qemu.QemuBoot(ctx.kernel.vmlinuz, image, cmdline, ctx.machine, log, ctx.opts.accel, ctx.opts.timeout,
                     ram_path=ram, drives=disks, dtb=dtb, cpus=cpus)  # fmt: skip
    result = qemu.run_boot(boot)
    serial = log.read_bytes()
    out = parse_serial(serial)
    if out.release is None and result.returncode is not None:
        first = log.replace(log.with_name(f"serial-{name}-first.log"))
        if notes is not None:
            notes.append(f"{name} boot: the kernel stopped {result.seconds:.1f} s in, before its /init (rc "
                         f"{result.returncode}; see {first.name}; its console ended: {out.last_words()}); "
                         "booted once more")  # fmt: skip
        result = qemu.run_boot(boot)
        serial = log.read_bytes()
        out = parse_serial(serial)
    record = BootRecord(name, round(result.seconds, 2), result.returncode, str(log), result.argv,
                        timeout_tail(result.returncode, serial))  # fmt: skip
    return record, out


def _cmdline(layout: Layout, stage: str, machine: board.Machine) -> str:
    words = [layout.board_cmdline, *machine.memmap, getattr(layout.cmdline, stage), "panic=-1"]
    line = " ".join(" ".join(words).split())
    console = "console=ttyAMA0" if machine.type == "virt" else "console=ttyS0"  # arm64 virt: the PL011
    if console not in line.split():
        line += f" {console}"  # the lab reads the serial port (a board's own console= may be empty)
    return line


def crash_append(doc: Mapping[str, Any]) -> str:
    """What arm.sh passes as --append: the crash board cmdline, then the layout's crash parameters."""
    words = [str(doc.get("crash_board_cmdline", "")), str((doc.get("cmdline") or {}).get("crash", ""))]
    return " ".join(" ".join(words).split())
