"""``layoutc lab PROFILE --system debian``: the boot stage in a Debian 12 system booted through GRUB BIOS.

Per run, from the cached root (build.py):

1. a copy of the root gets the board's own ``/etc/default/grub`` cmdline (the device's, not layoutc's), then
   ``layoutc install --from COMPILED --root COPY`` (the user's install: units enabled, ``layoutc.cfg``, the
   scripts), the crash kernel (the root's ``/boot/vmlinuz-RELEASE`` at the layout's crash kernel path) and
   ``layoutc initramfs COMPILED --root COPY`` (the crash initramfs, built from the system's own files);
2. the boot disk (disk.py); the first boot (direct, ``init=`` ``sh/grub-setup.sh``) runs the root's
   ``grub-install /dev/vda`` and ``update-grub``, as an installer's last step;
3. the second boot: SeaBIOS → GRUB from the MBR → Debian's ``10_linux`` entry → systemd, whose
   ``layoutc-arm.service`` arms the crash kernel and whose ``layoutc-lab-stage.service`` runs the lab's stages
   from the stage disk (the busybox guest's facts, the probe zipapp, ``sh/70-system.sh``) and powers off.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from layoutc.kernel.cmdline import grub_quote
from layoutc.lab.boot import machine as board
from layoutc.lab.boot import qemu
from layoutc.lab.boot.grubboot import booted_titles, split_serial
from layoutc.lab.boot.serial import GuestOutput, parse_serial
from layoutc.lab.errors import LabError
from layoutc.lab.facts import boot_facts as compare
from layoutc.lab.facts.roundtrip import child_env
from layoutc.lab.guest import stages as guest
from layoutc.lab.image import kernels, probezip
from layoutc.lab.report import BootRecord, Report, timeout_tail
from layoutc.lab.system import build, disk, system_facts
from layoutc.lab.system import cycle as full_cycle
from layoutc.lab.system.plan import ROOT_UUID
from layoutc.model.layout import Layout, RegionKind

if TYPE_CHECKING:
    from layoutc.lab.run import LabOptions

DISK_SIZE = 3 << 30
LAB_WORDS = ("panic=-1", "systemd.show_status=0")  # the lab's own words beside the board's cmdline
# SeaBIOS booting from disk keeps [0xbffda000, 0xc0000000) of a 4 GiB pc (measured, QEMU 7.2): the lab's carve of a
# direct boot's map (0xbffe0000) is already there, and a memmap= word on the cmdline would skip layoutc-arm.service
# (ConditionKernelCommandLine=!memmap: a recovery boot's mark)
SEABIOS_DISK_RESERVED = (0xBFFDA000, 0xC0000000)
CRASH_KERNEL, CRASH_INITRD = "/boot/crash/vmlinuz", "/boot/crash/initrd.img"  # layout.json crash paths (qemu x86)


def board_grub(root: Path, board_cmdline: str, memmap: tuple[str, ...]) -> str:
    """The device's own ``GRUB_CMDLINE_LINUX`` (board cmdline, QEMU memmap words, lab words), set in the copy.

    ``10_linux`` copies the value into grub.cfg's ``linux`` line as it is, where GRUB expands ``$``: each word is
    a GRUB word first (``memmap=SIZE$START`` single-quoted; unquoted, GRUB read ``$0`` and the kernel got
    ``memmap=SIZE``, a memory limit of SIZE), then the whole value is quoted for sh."""
    words = " ".join([board_cmdline, *memmap, *LAB_WORDS]).split()
    path = root / "etc" / "default" / "grub"
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("GRUB_CMDLINE_LINUX=")]
    value = " ".join(grub_quote(w) for w in words)
    path.write_text("\n".join([*lines, f"GRUB_CMDLINE_LINUX={shlex.quote(value)}"]) + "\n")
    return " ".join(words)


def disk_boot_memmap(memmap: tuple[str, ...]) -> tuple[str, ...]:
    """The carve words a disk boot still needs: those of ``memmap=SIZE$START`` inside ``SEABIOS_DISK_RESERVED``
    are SeaBIOS's own reservation already."""
    lo, hi = SEABIOS_DISK_RESERVED
    kept = []
    for word in memmap:
        size, _, start = word.removeprefix("memmap=").partition("$")
        if not (start and lo <= int(start, 0) and int(start, 0) + int(size, 0) <= hi):
            kept.append(word)
    return tuple(kept)


def layoutc(*args: str) -> subprocess.CompletedProcess[str]:
    """``layoutc ARGS`` in a child process (the lab never imports the compiler)."""
    argv = [sys.executable, "-m", "layoutc.cli.main", *args]
    return subprocess.run(argv, capture_output=True, text=True, env=child_env(), timeout=900, check=False)


def install_board(layout_dir: Path, root: Path, release: str, out_dir: Path) -> list[compare.Fact]:
    """``layoutc install`` and ``layoutc initramfs`` into the root, as a user lays a board into an image tree."""
    facts: list[compare.Fact] = []
    done = layoutc("install", "--from", str(layout_dir), "--root", str(root))
    (out_dir / "install.log").write_text(done.stdout + done.stderr)
    facts.append(compare.Fact("layoutc install --root (the board laid into the system's root)",
                              "pass" if done.returncode == 0 else "fail", "exit 0", f"exit {done.returncode}",
                              " | ".join((done.stdout + done.stderr).strip().splitlines()[-2:])))  # fmt: skip
    crash = root / CRASH_KERNEL.lstrip("/")
    crash.parent.mkdir(parents=True, exist_ok=True)
    crash.write_bytes((root / "boot" / f"vmlinuz-{release}").read_bytes())
    rd = layoutc("initramfs", str(layout_dir), "--kernel-version", release, "--root", str(root),
                 "-o", str(root / CRASH_INITRD.lstrip("/")))  # fmt: skip
    (out_dir / "initramfs.log").write_text(rd.stdout + rd.stderr)
    facts.append(compare.Fact("layoutc initramfs --root (the crash initramfs from the system's files)",
                              "pass" if rd.returncode == 0 else "fail", "exit 0", f"exit {rd.returncode}",
                              " | ".join((rd.stdout + rd.stderr).strip().splitlines()[-2:])))  # fmt: skip
    return facts


def pad_initrd(initrd: Path, layout_dir: Path, work: Path) -> str:
    """The system's own initrd padded with zeros to the profile's ``boot.initrd_size`` (``cycle.pad``: the
    kernel's unpacker skips them), so GRUB places an initrd of the size the layout assumes; a note of both."""
    from layoutc.lab.cycle import pad
    from layoutc.lab.cycle_images import render_device

    rendered = render_device(layout_dir, work / "rendered")
    boot = rendered.profile.boot if rendered.profile else None
    made = initrd.stat().st_size
    if boot is None:
        return f"the system's initrd: {made} bytes (the profile states no boot.initrd_size)"
    if made > boot.initrd_size:
        raise LabError("usage", f"the system's initrd is {made} bytes, more than the profile's boot.initrd_size "
                                f"{boot.initrd_size}: raise boot.initrd_size")  # fmt: skip
    pad(initrd, boot.initrd_size)
    return f"the system's initrd: {made} bytes, padded to boot.initrd_size {boot.initrd_size}"


def stage_files(layout: Layout, full: bool = False) -> dict[str, tuple[bytes, int]]:
    """The stage disk: the plan, the stages (the busybox guest's, settle_rearm, the probe, 70-system; ``full``:
    the cycle's 05-after-crash and 95-crash) and the probe zipapp."""
    from layoutc.lab.run import plan_for

    plan = plan_for(layout)
    probe = probezip.STAGE.replace("/usr/lib/layoutc/probe.pyz", '"$LAB/probe.pyz"')
    extra = {"01-settle-rearm": build.script("01-settle-rearm.sh"), "15-probe": probe,
             "70-system": build.script("70-system.sh")}  # fmt: skip
    extra.update(full_cycle.extra_stages() if full else {})
    files = {f"lab/stages/{name}": (text.encode(), 0o644) for name, text in guest.stages(plan, extra=extra).items()}
    files["lab/plan"] = (plan.render().encode(), 0o644)
    work = kernels.cache_dir() / "probezip"
    work.mkdir(parents=True, exist_ok=True)
    files["probe.pyz"] = (probezip.build(work / "probe.pyz").read_bytes(), 0o755)
    return files


def _boot(boot: qemu.QemuBoot, name: str, full: bool = False) -> tuple[BootRecord, GuestOutput, qemu.BootResult]:
    """One QEMU; ``full``: through the crash kernel's reboot and the boot after it, the output the first boot's."""
    result = qemu.run_boot(boot, (full_cycle.watch if full else _one_boot) if boot.disk_boot else None)
    serial = boot.serial_log.read_bytes()
    record = BootRecord(name, round(result.seconds, 2), result.returncode, str(boot.serial_log), result.argv,
                        timeout_tail(result.returncode, serial))  # fmt: skip
    parts = split_serial(serial)
    first = parts[1][1] if full and len(parts) > 1 else serial
    return record, parse_serial(first), result


def _one_boot(seconds: float, serial: bytes) -> bool:
    """Stop QEMU when GRUB boots a second time (a panic or reboot: the lab takes one boot)."""
    return len(booted_titles(serial)) > 1


def _grub_setup(root: Path, release: str, machine: board.Machine, disk_img: Path, log: Path,
                timeout: float) -> tuple[BootRecord, list[compare.Fact]]:  # fmt: skip
    """The first boot (direct, ``init=`` grub-setup): the root's grub-install and update-grub on the boot disk."""
    cmdline = f"root=UUID={ROOT_UUID} ro console=ttyS0 init={build.GRUB_SETUP} panic=-1"
    setup = qemu.QemuBoot(root / "boot" / f"vmlinuz-{release}", root / "boot" / f"initrd.img-{release}", cmdline,
                          machine, log, "tcg", timeout, drives=(("system", disk_img),))  # fmt: skip
    record, out, _ = _boot(setup, "grub-install + update-grub (first boot)")
    return record, system_facts.setup_facts(out)


DISTRO_DIR = Path("device/distro")  # a compiled tree's distribution-stack files: one directory per crash.stack


def board_stack(layout_dir: Path) -> str:
    """The board's ``crash.stack`` as its compiled tree shows it: ``kdump-tools`` or ``kdump-utils`` (the
    stack's files under ``device/distro/STACK``), else ``layoutc``."""
    for stack in ("kdump-tools", "kdump-utils"):
        if (layout_dir / DISTRO_DIR / stack).is_dir():
            return stack
    return "layoutc"


def _system_board(layout_dir: Path, layout: Layout, k: kernels.Kernel, machine: board.Machine, full: bool) -> str:
    """The board's crash stack, once it is one the Debian system can boot and run (else a usage error)."""
    if k.arch != "amd64" or machine.type == "virt":
        raise LabError("usage", "--system debian boots x86 boards through GRUB BIOS only")
    if any(r.kind is RegionKind.INITRD_BOUND for r in layout.regions):
        raise LabError("usage", "the profile boots through EFI firmware (boot.loader grub-efi or systemd-boot); "
                                "--system debian boots GRUB BIOS only: use boot.loader grub-bios, or the busybox "
                                "lab's --efi boot")  # fmt: skip
    stack = board_stack(layout_dir)
    if stack == "kdump-utils":
        raise LabError("usage", "crash.stack kdump-utils is Fedora's and RHEL's: the Debian system cannot run it")
    if stack == "kdump-tools" and not full:
        raise LabError("usage", "a crash.stack kdump-tools board runs --stage full (kdump-tools' own cycle): "
                                "its boot has none of layoutc's crash units to check")  # fmt: skip
    return stack


def run_system(layout_dir: Path, layout: Layout, k: kernels.Kernel, machine: board.Machine, out_dir: Path,
               opts: LabOptions, head: Report, stage: str = "boot") -> Report:  # fmt: skip
    """The boot stage (or ``full``: the crash cycle, cycle.py) in the Debian system; the report's facts: the boot
    stage's, the install's, the system's (and the cycle's). A ``crash.stack: kdump-tools`` board runs Debian's
    own cycle instead (``--stage full``: kdump_cycle.py)."""
    full, timeout = stage == "full", opts.timeout
    stack = _system_board(layout_dir, layout, k, machine, full)
    if stack == "kdump-tools":
        from layoutc.lab.system.kdump_cycle import run_kdump_tools  # kdump_cycle imports this module

        return run_kdump_tools(layout_dir, out_dir, kernel=k, timeout=timeout)
    image = build.ensure_system(k)
    how = f"built in {image.built_seconds:.0f} s" if image.built_seconds else "from the cache"
    notes = [f"Debian system {image.plan.key()} ({how})"]
    work = out_dir / "system"
    root = disk.copy_root(image.root, work / "root")
    machine = replace(machine, memmap=disk_boot_memmap(machine.memmap))
    grub_words = board_grub(root, layout.board_cmdline, machine.memmap)
    facts = install_board(layout_dir, root, k.release, out_dir)
    initrd = root / "boot" / f"initrd.img-{k.release}"
    notes.append(pad_initrd(initrd, layout_dir, work))
    initrd_size = initrd.stat().st_size
    disk_img = disk.make_boot_disk(root, work / "disk.img", DISK_SIZE)
    stage_img = disk.make_stage_disk(stage_files(layout, full), work / "stage.img")
    setup_rec, setup_facts = _grub_setup(root, k.release, machine, disk_img, out_dir / "serial-grub-setup.log", timeout)
    facts += setup_facts
    started = time.monotonic()
    prod = qemu.QemuBoot(Path("/dev/null"), Path("/dev/null"), "", machine, out_dir / "serial-production.log",
                         "tcg", timeout * (3 if full else 1), drives=(("system", disk_img), ("stage", stage_img)),
                         disk_boot=True)  # fmt: skip
    name = "production → crash kernel → the boot after it" if full else "production"
    prod_rec, out, _ = _boot(prod, f"{name} (SeaBIOS → GRUB MBR → Debian → systemd)", full)
    serial = prod.serial_log.read_bytes()
    image_words = f"BOOT_IMAGE=/boot/vmlinuz-{k.release} root=UUID={ROOT_UUID} ro"  # 10_linux's linux line
    expected = f"{image_words} {grub_words} {layout.cmdline.production}"
    facts += compare.production_facts(layout, out, None, " ".join(expected.split()))
    facts += system_facts.system_facts(out, prod.serial_log.read_bytes(), k.release, time.monotonic() - started)
    if out.done:
        facts.append(compare.initrd_fact(layout, out, "grub-bios", initrd_size))
    if full:
        facts += full_cycle.full_facts(layout, layout_dir, serial, disk_img, k.release, work)
    problems = [f"boot {b.name} timed out after {limit:.0f} s"
                for b, limit in ((setup_rec, timeout), (prod_rec, prod.timeout)) if b.returncode is None]  # fmt: skip
    if not out.done and prod_rec.returncode is not None:
        problems.append(f"the system stopped before LAYOUTC-DONE (see {prod_rec.serial_log})")
    os.sync()
    verdict = "error" if problems else ("fail" if any(f.status == "fail" for f in facts) else "pass")
    report = replace(head, stage=f"{stage} (Debian system)", verdict=verdict, facts=tuple(facts),
                     boots=(setup_rec, prod_rec), notes=(*head.notes, *notes), problems=tuple(problems))  # fmt: skip
    report.write(out_dir)
    return report
