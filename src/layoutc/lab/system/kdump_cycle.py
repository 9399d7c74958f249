"""The kdump-tools cycle in the Debian system: Debian's own kdump-tools through a real crash, configured by layoutc.

For a board with ``crash.stack: kdump-tools`` (its compiled tree has ``device/distro/kdump-tools/kdump-tools``):

1. the cached root (build.py) copied, the board's ``GRUB_CMDLINE_LINUX`` (run.board_grub) and ``layoutc install``:
   ``/etc/default/kdump-tools`` and the empty ``kdump-tools.cfg`` laid, ``layoutc.cfg`` owning ``crashkernel=``,
   kdump-tools.service left enabled (layoutc's own crash units are not laid for a distribution stack);
2. the first boot runs grub-install and update-grub (run._grub_setup); then one QEMU process carries three boots:
   SeaBIOS → GRUB → Debian, where kdump-tools.service runs ``kdump-config load`` (its kernel hook builds
   ``/var/lib/kdump/initrd.img-RELEASE`` on the first load) and the stage unit reports what was loaded
   (``sh/kdump/80-kdump-tools.sh``) and panics; the crash kernel boots the root with
   ``systemd.unit=kdump-tools-dump.service``, whose ``kdump-config savecore`` runs makedumpfile into
   ``/var/crash/STAMP/dump.STAMP`` and reboots; GRUB boots Debian again and the stage unit finds the dump,
   reports its size and sha256 and powers off;
3. the host reads the dump back from the boot disk (debugfs at the partition's offset), reassembles the
   flattened file (``makedumpfile -R``) and checks it (facts/dumpcheck.py, drgn).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import replace
from pathlib import Path

from layoutc.lab.boot import machine as board
from layoutc.lab.boot import qemu
from layoutc.lab.boot.grubboot import booted_titles
from layoutc.lab.boot.serial import GuestOutput, parse_serial
from layoutc.lab.errors import LabError
from layoutc.lab.facts.boot_facts import Fact
from layoutc.lab.guest import stages as guest
from layoutc.lab.image import kernels
from layoutc.lab.layout_dir import load_layout
from layoutc.lab.report import BootRecord, Report, timeout_tail
from layoutc.lab.system import build, disk, kdump_facts
from layoutc.lab.system import run as sysrun
from layoutc.lab.system.system_facts import ENTRY_TITLE

KDUMP_DEFAULT = Path("device/distro/kdump-tools/kdump-tools")  # the compiled /etc/default/kdump-tools
DIVERT = Path("device/distro/divert-makedumpfile.sh")  # compiled when the collector is diverted (LC261)
DIVERT_SCRIPT, WRAPPER = "/usr/lib/layoutc/divert-makedumpfile.sh", "/usr/lib/layoutc/makedumpfile"
DEBIAN_MAKEDUMPFILE = "/usr/bin/makedumpfile"  # where Debian's makedumpfile package puts it (kdump-config's PATH)
START = b"LAYOUTC-START "


def is_kdump_tools_board(layout_dir: Path) -> bool:
    return (layout_dir / KDUMP_DEFAULT).is_file()


def stage_files() -> dict[str, tuple[bytes, int]]:
    """The stage disk: the helpers, the system's units and the kdump-tools stage (no memory stages)."""
    texts = {"00-common": guest.COMMON, "01-settle-rearm": build.script("01-settle-rearm.sh"),
             "70-system": build.script("70-system.sh"),
             "80-kdump-tools": build.script("kdump/80-kdump-tools.sh")}  # fmt: skip
    files = {f"lab/stages/{name}": (text.encode(), 0o644) for name, text in texts.items()}
    files["lab/plan"] = (guest.GuestPlan().render().encode(), 0o644)
    return files


def split_boots(serial: bytes) -> list[bytes]:
    """The serial log cut at each ``LAYOUTC-START``: one piece per run of the stage unit (the crash boot's console
    falls in the piece before it)."""
    marks = [m.start() for m in re.finditer(re.escape(START), serial)]
    return [serial[a:b] for a, b in zip(marks, [*marks[1:], len(serial)][: len(marks)], strict=True)]


def _stop(seconds: float, serial: bytes) -> bool:
    """A guard: a third GRUB boot means the cycle loops (the normal run powers off after the second)."""
    return len(booted_titles(serial)) > 2


def read_back(disk_img: Path, guest_path: str, work: Path) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    """The dump file copied out of the boot disk (debugfs at the partition's offset) and reassembled."""
    flat, kdump = work / "dump.flat", work / "dump.kdump"
    for p in (flat, kdump):
        p.unlink(missing_ok=True)
    subprocess.run(["debugfs", "-R", f"dump -p {guest_path} {flat}", f"{disk_img}?offset={disk.PART_START}"],
                   capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    if not flat.is_file():
        return flat, kdump, subprocess.CompletedProcess([], 1, "", f"debugfs could not copy {guest_path}")
    with flat.open("rb") as src:
        done = subprocess.run(["makedumpfile", "-R", str(kdump)], stdin=src, capture_output=True, text=True,
                              timeout=300, check=False)  # fmt: skip
    return flat, kdump, done


def install(layout_dir: Path, root: Path, out_dir: Path) -> Fact:
    """``layoutc install --force``: ``/etc/default/kdump-tools`` and ``grub.d/kdump-tools.cfg`` are the package's
    conffiles, which install replaces only when told (LC502 without ``--force``; the first run showed it)."""
    done = sysrun.layoutc("install", "--force", "--from", str(layout_dir), "--root", str(root))
    (out_dir / "install.log").write_text(done.stdout + done.stderr)
    enabled = (root / "etc/systemd/system/basic.target.wants/kdump-tools.service").is_symlink()
    masked = (root / "etc/systemd/system/kdump-tools.service").is_symlink()
    ok = done.returncode == 0 and enabled and not masked
    seen = f"exit {done.returncode}, {'enabled' if enabled else 'not enabled'}, {'masked' if masked else 'not masked'}"
    return Fact("layoutc install --force --root (kdump-tools' files laid, its service enabled, not masked)",
                "pass" if ok else "fail", "exit 0, enabled, not masked", seen,
                " | ".join((done.stdout + done.stderr).strip().splitlines()[-1:]))  # fmt: skip


def divert(layout_dir: Path, root: Path, out_dir: Path) -> Fact | None:
    """A diverted collector (LC261: the stated makedumpfile drops pages of the board's kernel): the installed
    ``divert-makedumpfile.sh`` run once as root in the system, as docs/distributions.md tells the user; None
    when the board keeps the distribution's makedumpfile."""
    if not (layout_dir / DIVERT).is_file():
        return None
    try:
        out = build.chroot(root, ["sh", DIVERT_SCRIPT], timeout=120)
    except LabError as exc:
        out = f"failed: {exc.message}"
    (out_dir / "divert.log").write_text(out)
    link = root / DEBIAN_MAKEDUMPFILE.lstrip("/")
    target = os.readlink(link) if link.is_symlink() else "not a link"
    kept = (root / f"{DEBIAN_MAKEDUMPFILE}.distrib".lstrip("/")).is_file()
    ok = target == WRAPPER and kept
    return Fact("the collector diverted to layoutc's dumper (divert-makedumpfile.sh in the system)",
                "pass" if ok else "fail", f"{DEBIAN_MAKEDUMPFILE} -> {WRAPPER}, makedumpfile.distrib kept",
                f"-> {target}, {'makedumpfile.distrib kept' if kept else 'no makedumpfile.distrib'}",
                out.strip().splitlines()[-1] if out.strip() else "")  # fmt: skip


def run_kdump_tools(layout_dir: Path, out_dir: Path, *, kernel: str | kernels.Kernel = "6.1",
                    timeout: float = 900.0) -> Report:  # fmt: skip
    """The whole cycle for a ``crash.stack: kdump-tools`` board (``layoutc lab … --system debian --stage full``
    runs it, run.run_system); the report's facts as the module says."""
    from layoutc.lab.run import debian_arch, resolve_kernel  # lab.run imports this package

    if not is_kdump_tools_board(layout_dir):
        raise LabError("usage", f"{layout_dir} has no {KDUMP_DEFAULT}: the board's crash.stack is not kdump-tools")
    layout = load_layout(layout_dir)
    machine = board.machine_for(layout)
    k = resolve_kernel(kernel, debian_arch(layout))
    if k.arch != "amd64" or machine.type == "virt":
        raise LabError("usage", "the kdump-tools cycle boots x86 boards through GRUB BIOS only")
    out_dir.mkdir(parents=True, exist_ok=True)
    image = build.ensure_system(k)
    notes = [f"Debian system {image.plan.key()} ({'built' if image.built_seconds else 'from the cache'})"]
    work = out_dir / "system"
    root = disk.copy_root(image.root, work / "root")
    machine = replace(machine, memmap=sysrun.disk_boot_memmap(machine.memmap))
    sysrun.board_grub(root, layout.board_cmdline, machine.memmap)
    facts = [install(layout_dir, root, out_dir)]
    diverted = divert(layout_dir, root, out_dir)
    facts += [diverted] if diverted is not None else []
    notes.append(sysrun.pad_initrd(root / "boot" / f"initrd.img-{k.release}", layout_dir, work))
    disk_img = disk.make_boot_disk(root, work / "disk.img", sysrun.DISK_SIZE)
    stage_img = disk.make_stage_disk(stage_files(), work / "stage.img")
    setup_rec, setup = sysrun._grub_setup(root, k.release, machine, disk_img, out_dir / "serial-grub-setup.log",
                                          timeout)  # fmt: skip
    facts += setup
    drives = (("system", disk_img), ("stage", stage_img))
    boot = qemu.QemuBoot(Path("/dev/null"), Path("/dev/null"), "", machine, out_dir / "serial-kdump-cycle.log",
                         "tcg", timeout, drives=drives, disk_boot=True)  # fmt: skip
    result = qemu.run_boot(boot, _stop)
    serial = boot.serial_log.read_bytes()
    record = BootRecord("kdump-tools cycle (Debian → panic → kdump-tools' crash boot → Debian)",
                        round(result.seconds, 2), result.returncode, str(boot.serial_log), result.argv,
                        timeout_tail(result.returncode, serial))  # fmt: skip
    values = kdump_facts.sh_values((layout_dir / KDUMP_DEFAULT).read_text())
    spec = json.loads((layout_dir / "device" / "filter.json").read_text())
    cycle, problems = _cycle_facts(serial, values, spec, layout.crashkernel.size, disk_img,
                                   work, k.release)  # fmt: skip
    if diverted is not None and cycle:
        facts.append(kdump_facts.diverted_fact(boot.serial_log.read_bytes().decode("utf-8", "replace")))
    facts += cycle
    if result.returncode is None:
        problems.insert(0, f"the kdump-tools cycle timed out after {timeout:.0f} s (see {boot.serial_log})")
    notes.append(f"the cycle's QEMU ran {result.seconds:.0f} s (three boots: Debian, the crash kernel, Debian)")
    os.sync()
    verdict = "error" if problems else ("fail" if any(f.status == "fail" for f in facts) else "pass")
    report = Report(layout.board, k.release, k.pinned, "tcg", "kdump-tools cycle (Debian system)", verdict,
                    tuple(facts), (setup_rec, record), (*machine.notes, *notes), tuple(problems))  # fmt: skip
    report.write(out_dir)
    return report


def _cycle_facts(serial: bytes, values: dict[str, str], spec: dict[str, object], crash_size: int, disk_img: Path,
                 work: Path, release: str) -> tuple[list[Fact], list[str]]:  # fmt: skip
    """The facts of the armed boot, the crash boot's console, the boot after it and the dump read back."""
    pieces = [parse_serial(p) for p in split_boots(serial)]
    if not pieces:
        return [], ["the stage unit never started (no LAYOUTC-START on the serial console)"]
    armed: GuestOutput = pieces[0]
    facts = kdump_facts.arm_facts(armed, values, crash_size)
    if not armed.of_kind("kdump-panic"):
        return facts, ["the armed boot did not reach the panic (see the serial log)"]
    facts.append(kdump_facts.collector_fact(serial.decode("utf-8", "replace"), values))
    titles = booted_titles(serial)
    after = pieces[1] if len(pieces) > 1 else None
    facts.append(
        Fact(
            "rebooted to the normal entry after the dump",
            "pass" if titles == [ENTRY_TITLE] * 2 and after is not None and after.done else "fail",
            f"{ENTRY_TITLE} twice, the stage unit done",
            " → ".join(titles) or "no GRUB boot",
            "kdump-tools' init script: reboot -f after savecore",
        )
    )
    seen = kdump_facts.dump_obs(after) if after is not None else None
    if seen is None:
        return facts, ["no dump under /var/crash on the boot after the crash"]
    facts.append(Fact("kdump-tools saved a dump under KDUMP_COREDIR", "pass"
                      if str(seen.get("path", "")).startswith(values.get("KDUMP_COREDIR", "/var/crash") + "/")
                      else "fail", f"{values.get('KDUMP_COREDIR')}/STAMP/dump.STAMP",
                      f"{seen.get('path')} ({seen.get('size')} bytes)", str(seen.get("sha256"))))  # fmt: skip
    flat, kdump, done = read_back(disk_img, str(seen["path"]), work)
    facts += kdump_facts.readback_facts(seen, flat, kdump, done, spec, release)
    return facts, []
