"""The arm64 crash cycle: ``CrashCycle`` with the pieces an arm64 board changes (``--stage arm|full``).

1. *production*: QEMU virt, direct ``-kernel`` with QEMU's own device tree; the generated ``arm.sh production``
   builds the crash kernel's DTB from ``/sys/firmware/fdt`` and ``device/crash-dt.json`` with the device zipapp's
   devicetree tool and the arm64 python3, and loads it with ``kexec -p -i --dtb``; the guest sends that DTB back
   (``41-crash-dtb``); ``echo c > /proc/sysrq-trigger``.
2. *crash kernel*: the product's crash initramfs (``layoutc.initramfs``) built from the arm64 userland
   (``sysroot``: busybox, mke2fs, vmcore-dmesg, blkid and their libraries), the arm64 kernel's modules, and the
   dumper with the arm64 interpreter (``pyrt``: the product builder runs a root's interpreter to find its
   imports, which a foreign root's cannot; the host's python3.11 finds the same names). of_pmem turns the DT
   pmem-region into ``/dev/pmem0``; capture-init.sh captures into it and reboots; ``-no-reboot`` ends QEMU.
3. *recovery*: the host plays the boot loader: a second QEMU on the same RAM files with ``-append`` = the
   board's and the layout's recovery cmdline (``mem=`` keeps the window out of memblock) and ``-dtb`` = QEMU's
   own tree (``-machine virt,dumpdtb=``, the same ``-m``/``-numa``) with the compiled edit applied by
   ``layoutc.devicetree`` (QEMU rewrites the memory nodes from ``-m``, so the edit only adds the pmem-region and
   removes the seeds). ``recover.sh`` (dash) three times: store, upload to the export disk, devdax + daxctl
   system-ram, ``arm.sh recovery``.

The layout's module lists must hold what this kernel builds ``=m`` and the generated scripts mount (Debian's
arm64 kernels build ext4 as a module: capture.sh mounts the window ext4, recover.sh too; the assumed arm64
configuration says so, so the lists have ext4). Should a list lack one, the lab loads it itself so the cycle
still runs, and the fact ``kernel modules the layout lacks`` fails naming it.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from layoutc.devicetree.edit import EditError, apply, edit_from_json
from layoutc.devicetree.tree import FdtError
from layoutc.initramfs.build import CrashInputs, plan_crash_initramfs
from layoutc.initramfs.plan import DIR_MODE, EXEC_MODE, FILE_MODE, LINK_MODE, Member, PlanFile, ordered, parents
from layoutc.initramfs.root import Root, RootError
from layoutc.lab import cycle_disk
from layoutc.lab.boot import qemu
from layoutc.lab.cycle import CrashCycle, ProductionRun, _boot
from layoutc.lab.cycle_images import Arm64Root, device_image, drives, plan_files, reference_filter
from layoutc.lab.errors import LabError
from layoutc.lab.facts import arm64_cycle_facts as facts64
from layoutc.lab.facts.cycle_facts import CycleResult, crash_facts, keep_vmcore, reservation_fact
from layoutc.lab.guest import cycle_stages as cycle_guest
from layoutc.lab.image import crashrd, initramfs, kernels, pyrt, sysroot
from layoutc.lab.image.crashrd import CrashImage
from layoutc.model.layout import Layout
from layoutc.writer.cpio import write_initramfs
from layoutc.writer.tree import OutputError

CAPTURE_TOOLS = ("mkfs.ext4", "vmcore-dmesg", "blkid")  # crashrd.CAPTURE_TOOLS, looked up in the arm64 userland
VIRTIO = ("virtio_blk",)  # the lab's disks (virtio_pci is built in on Debian arm64)
FS_MODULES = {"ext4": "CONFIG_EXT4_FS"}  # what the generated scripts mount, by its Kconfig symbol
# the x86 crash facts an arm64 crash kernel replaces (arm64_cycle_facts)
X86_ONLY = ("crash kernel: legacy PMEM is exactly the window", "capture.sh (via capture-init.sh) exit")


def lab_added_modules(layout: Layout, config: Path) -> tuple[str, ...]:
    """File systems the generated scripts mount that this kernel builds ``=m`` and layout.json does not load."""
    text = config.read_text(errors="replace") if config.is_file() else ""
    listed = {*layout.boot_modules.crash, *layout.boot_modules.recovery}
    return tuple(m for m, sym in FS_MODULES.items() if m not in listed and re.search(rf"^{sym}=m$", text, re.M))


def _python_entries(pyz: Path, packages: tuple[str, ...], root: sysroot.Sysroot) -> list[PlanFile]:
    """The arm64 interpreter, the sourceless stdlib the dumper imports, the codec package, their libraries."""
    table = pyrt.python_files(crashrd.imported_modules(pyz, packages), packages, sysroot=root)
    return [PlanFile(p, EXEC_MODE if p == "usr/bin/python3" or ".so" in p else FILE_MODE, Member.PYTHON, data=d,
                     size=len(d)) for p, d in sorted(table.items())]  # fmt: skip


def crash_initramfs(device: Path, k: kernels.Kernel, out: Path, *, init: str, lab_files: dict[str, bytes],
                    work: Path, modules: tuple[str, ...], root: sysroot.Sysroot) -> CrashImage:  # fmt: skip
    """The product's crash initramfs from the arm64 userland, with the lab's ``/init`` and files."""
    work.mkdir(parents=True, exist_ok=True)
    pyz = crashrd.build_zipapp(work / "dump.pyz")
    packages = crashrd.codec_packages(device)
    inputs = CrashInputs(
        board="lab", release=k.module_dir.name, root=Root(root.path), generated=crashrd.capture_files(device),
        zipapp=None, modules=(), optional_modules=modules, tools=CAPTURE_TOOLS, init=init.encode(),
        extra={**lab_files, "boot/grub/.keep": b""}, module_root=Root(k.module_dir.parents[2]),
    )  # fmt: skip
    try:
        plan = plan_crash_initramfs(inputs)
    except RootError as exc:
        raise LabError("tool-missing", str(exc)) from None
    zipapp = pyz.read_bytes()
    added = [*_python_entries(pyz, packages, root),
             PlanFile("usr/lib/layoutc/dump.pyz", EXEC_MODE, Member.LAYOUTC, data=zipapp, size=len(zipapp))]
    taken = {f.path for f in plan.files}
    # the arm64 busybox cannot run here to list its applets: the host's identical build answers (initramfs.py)
    added += [PlanFile(a, LINK_MODE, Member.BASE, link="/bin/busybox", size=len("/bin/busybox"))
              for a in initramfs.busybox_applets() if a not in taken and a != "bin/busybox"]  # fmt: skip
    added += [PlanFile(d, DIR_MODE, Member.BASE) for d in parents(f.path for f in added) if d not in taken]
    plan = crashrd.with_load_list(dataclasses.replace(plan, files=ordered((*plan.files, *added))))
    try:
        written = write_initramfs(plan, out)
    except (RootError, OutputError) as exc:
        raise LabError("tool-missing", f"crash initramfs: {exc}") from None
    sizes = plan.member_sizes()
    return CrashImage(out, written.size, plan.unpacked, sizes[Member.PYTHON.value], len(zipapp), plan.modules)


def recovery_dtb(boot: qemu.QemuBoot, edit_json: object, work: Path) -> Path:
    """QEMU virt's own tree for ``boot``'s machine (``-machine virt,dumpdtb=``) with the compiled edit applied."""
    base, out = work / "virt.dtb", work / "recovery.dtb"
    argv = qemu.qemu_argv(dataclasses.replace(boot, ram_path=None, drives=(), dtb=None))
    at = argv.index("-machine") + 1
    argv[at] = f"{argv[at]},dumpdtb={base}"
    base.unlink(missing_ok=True)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if not base.is_file():
        raise LabError("qemu-failed", f"dumpdtb wrote nothing (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
    try:
        out.write_bytes(apply(base.read_bytes(), edit_from_json(edit_json)))
    except (EditError, FdtError) as exc:
        raise LabError("invalid-layout", f"device/crash-dt.json does not apply to QEMU's tree: {exc}") from None
    return out


class Arm64Cycle(CrashCycle):
    """The crash cycle of an arm64 board (module docstring)."""

    @property
    def arm64(self) -> Arm64Root:
        return Arm64Root(sysroot.ensure_userland("arm64"), (*VIRTIO, *self.added_modules))

    @property
    def added_modules(self) -> tuple[str, ...]:
        return lab_added_modules(self.ctx.layout, self.ctx.kernel.vmlinuz.parent / "config")

    @property
    def edit(self) -> Any:
        return json.loads((self.ctx.rendered.device / "crash-dt.json").read_text())

    def build_crash_image(self) -> CrashImage:
        ctx = self.ctx
        t0 = time.monotonic()
        plan = dataclasses.replace(ctx.plan, lab_modprobe=" ".join(self.added_modules))
        lab = {**plan_files(plan), "lab/reference-filter.json": reference_filter(ctx.rendered.device),
               "lab/phdrs.py": cycle_disk.PHDRS_PY.encode()}  # fmt: skip
        modules = tuple(dict.fromkeys((*ctx.layout.boot_modules.crash, *self.arm64.modules)))
        crash = crash_initramfs(ctx.rendered.device, ctx.kernel, ctx.work / "crash-initrd.img",
                                init=cycle_guest.CRASH_INIT, lab_files=lab, work=ctx.work, modules=modules,
                                root=self.arm64.sysroot)  # fmt: skip
        reservation_fact(self.res, ctx.rendered.profile, ctx.doc, ctx.kernel.vmlinuz, crash, time.monotonic() - t0)
        self.res.facts.append(facts64.modules_fact(ctx.layout, ctx.kernel.vmlinuz.parent / "config",
                                                   self.added_modules))  # fmt: skip
        return crash

    def build_device_image(self, crash: CrashImage, *, recovery: bool) -> Path:
        ctx = self.ctx
        if recovery:
            plan = dataclasses.replace(ctx.plan, force_arm="", keep_vmcore=False, reference=False)
            stages, name = dict(cycle_guest.recovery_stages()), "initramfs-recovery.img"
        else:
            plan, name = ctx.plan, "initramfs-production.img"
            stages = {**cycle_guest.production_stages(panic=ctx.full), "41-crash-dtb": cycle_guest.CRASH_DTB}
        return device_image(ctx.kernel, ctx.layout, ctx.rendered.device, crash.path, stages, plan, ctx.work / name,
                            ctx.doc, self.arm64)  # fmt: skip

    def boot_production(self, production: Path, crash: CrashImage, ram: Path) -> ProductionRun:
        run = super().boot_production(production, crash, ram)
        self.res.facts += facts64.crash_dtb_facts(self.ctx.layout, run.output, self.edit)
        return run

    def crash_and_recover(self, run: ProductionRun, crash: CrashImage, ram: Path) -> None:
        """The crash kernel's facts (arm64's instead of x86's e820 ones), then the host-played recovery boot."""
        ctx, res, prod = self.ctx, self.res, run.output
        first = len(res.facts)
        crash_facts(res, ctx.layout, prod, ctx.opts)
        res.facts[first:] = [f for f in res.facts[first:] if f.name not in X86_ONLY]
        if not prod.of_kind("crash-kernel"):
            return
        profile = ctx.rendered.profile
        selection = str(getattr(profile.recovery.boot_selection, "value", "")) if profile else ""
        res.facts += [facts64.capture_device_fact(ctx.layout, prod), facts64.capture_exit_fact(prod.console, selection)]
        if ctx.opts.keep_vmcore:
            keep_vmcore(res, prod, ctx.work, ctx.kernel, ctx.layout)
        image = self.build_device_image(crash, recovery=True)
        cmdline = ctx.cmdline("recovery")
        boot = qemu.QemuBoot(ctx.kernel.vmlinuz, image, cmdline, ctx.machine, ctx.work / "dumpdtb.log")
        dtb = recovery_dtb(boot, self.edit, ctx.work)
        res.notes.append(f"recovery boot: -append {cmdline!r}; -dtb QEMU's own tree + device/crash-dt.json")
        disks = tuple(d for d in run.drives if d[0] != "vmcore")
        record, recovery = _boot("recovery", ctx, image, cmdline, ram, disks, dtb, notes=res.notes)
        res.boots.append(record)
        self._recovery_facts(recovery, prod)
        fact = facts64.memtotal_fact(ctx.layout, recovery, ctx.layout.memory.block_size)
        if fact is not None:
            res.facts.append(fact)

    def give_back(self) -> CycleResult:
        """A recovery boot over an empty window, no crash before it (fresh guest RAM: no ext4 in the window):
        recover.sh finds no dump, returns the window through devdax and dax/kmem (``daxctl reconfigure-device
        --mode=system-ram``) and arms with ``arm.sh recovery``; the hand-back of a full cycle, without a dump."""
        ctx = self.ctx
        ctx.work.mkdir(parents=True, exist_ok=True)
        image = self.build_device_image(self.build_crash_image(), recovery=True)
        cmdline = ctx.cmdline("recovery")
        boot = qemu.QemuBoot(ctx.kernel.vmlinuz, image, cmdline, ctx.machine, ctx.work / "dumpdtb.log")
        dtb = recovery_dtb(boot, self.edit, ctx.work)
        ram = Path(tempfile.mkdtemp(prefix="layoutc-lab-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
        try:
            disks = drives(ctx.work, ctx.machine, ctx.opts, True)
            record, out = _boot("give-back", ctx, image, cmdline, ram / "ram", disks, dtb, notes=self.res.notes)
        finally:
            shutil.rmtree(ram, ignore_errors=True)
        self.res.boots.append(record)
        self.res.facts += facts64.give_back_facts(ctx.layout, out, ctx.layout.memory.block_size)
        self.status_facts(out, ("recovered",))
        return self.res
