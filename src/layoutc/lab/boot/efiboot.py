"""``--efi``: the recovery boot through OVMF and systemd-boot (the generated BLS entry and the
``LoaderEntryOneShot`` EFI variable, end to end).

One QEMU for the whole cycle, with OVMF as pflash (a writable copy of ``OVMF_VARS`` per run: the variable store
the crash kernel writes and systemd-boot reads) and without ``-no-reboot``; the guest boots the ``esp`` disk:

1. systemd-boot (``EFI/BOOT/BOOTX64.EFI``; ``loader/loader.conf``: ``timeout 0``, default = the lab's production
   entry, whose options are the compiler's ``kernel-install/cmdline`` as kernel-install would write them);
2. arm, panic, the crash kernel captures into the window; ``capture.sh`` writes ``LoaderEntryOneShot`` through
   efivarfs and ``reboot -f`` resets the guest (QEMU keeps guest RAM across the reset);
3. systemd-boot reads the one-shot, deletes it and boots the generated BLS entry (``bls/<id>.conf``, copied to
   ``loader/entries/`` unmodified); the recovery boot runs ``recover.sh`` and powers off.

Kernel and initramfs files are on the ESP at the paths the entries name (the BLS entry's from ``layout.json``
``recovery_boot``). Which entry each boot came from is read from each kernel's ``Command line:`` line on the
serial port; whether the one-shot was written and consumed from the variable store file after the run.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import struct
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from layoutc.lab.boot import grubboot
from layoutc.lab.boot.qemu import QemuBoot, run_boot
from layoutc.lab.errors import LabError
from layoutc.lab.facts.boot_facts import Fact

OVMF_DIR = Path("/usr/share/OVMF")  # Debian package ovmf
OVMF_CODE = OVMF_DIR / "OVMF_CODE_4M.fd"
OVMF_VARS = OVMF_DIR / "OVMF_VARS_4M.fd"
SYSTEMD_BOOT = Path("/usr/lib/systemd/boot/efi/systemd-bootx64.efi")  # Debian package systemd-boot-efi
LOADER_GUID = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"  # systemd-boot's vendor GUID for Loader* variables
ONESHOT = "LoaderEntryOneShot"
PRODUCTION_ID = "layoutc-lab-production"
PRODUCTION_TITLE = "Debian GNU/Linux (layoutc lab production)"
PRODUCTION_INITRD = grubboot.PRODUCTION_INITRD  # the production entry's initramfs (ESP root)
LOADER_CONF = f"default {PRODUCTION_ID}.conf\ntimeout 0\neditor no\nconsole-mode keep\n"
_CMDLINE = re.compile(rb"\] Command line: ([^\r\n]*)")
_AUTH_VARS = uuid.UUID("aaf32c78-947b-439a-a180-2e144ec37792")  # gEfiAuthenticatedVariableGuid (OVMF's store)
_VAR_HEADER = struct.Struct("<HBBIQ16sIII16s")  # AUTHENTICATED_VARIABLE_HEADER, 60 bytes
VAR_ADDED, VAR_IN_DELETED_TRANSITION = 0x3F, 0xFE


def production_entry(kernel_install_cmdline: str, kernel: str = "/vmlinuz") -> str:
    """The lab's production BLS entry: kernel-install's ``/etc/kernel/cmdline`` plus the lab's ``panic=-1``."""
    options = " ".join([*kernel_install_cmdline.split(), *grubboot.LAB_WORDS])
    return f"title {PRODUCTION_TITLE}\nlinux {kernel}\ninitrd {PRODUCTION_INITRD}\noptions {options}\n"


def bls_value(entry: str, key: str) -> str:
    """The value of ``key`` in a BLS type #1 entry (last one wins, as in systemd-boot; "" when absent)."""
    value = ""
    for line in entry.splitlines():
        words = line.strip().split(None, 1)
        if words and words[0] == key:
            value = words[1].strip() if len(words) > 1 else ""
    return value


def esp_files(
    bls_entry: Path,
    production: str,
    vmlinuz: Path,
    production_initrd: Path,
    recovery_initrd: Path,
    recovery_boot: Mapping[str, object],
) -> dict[str, bytes]:
    """The ESP as ``bootctl install`` + kernel-install leave it: systemd-boot, loader.conf, the entries (the
    generated one unmodified) and the kernel/initramfs files at the paths the entries name."""
    files = {
        "EFI/BOOT/BOOTX64.EFI": SYSTEMD_BOOT.read_bytes(),
        "EFI/systemd/systemd-bootx64.efi": SYSTEMD_BOOT.read_bytes(),
        "loader/loader.conf": LOADER_CONF.encode(),
        f"loader/entries/{PRODUCTION_ID}.conf": production.encode(),
        f"loader/entries/{bls_entry.name}": bls_entry.read_bytes(),
    }
    kernel = bls_value(production, "linux")
    return files | grubboot.kernel_files(vmlinuz, production_initrd, recovery_initrd, recovery_boot, kernel)


def fat_image(path: Path, files: Mapping[str, bytes]) -> Path:
    """A FAT32 ESP image holding ``files`` (mtools: no root, no loop device)."""
    if shutil.which("mformat") is None or shutil.which("mcopy") is None:
        raise LabError("tool-missing", "--efi needs mformat and mcopy (Debian package mtools)")
    size = (sum(map(len, files.values())) * 5 // 4 // (1 << 20) + 48) << 20
    path.unlink(missing_ok=True)
    with path.open("wb") as fh:
        fh.truncate(size)
    _mtools(["mformat", "-i", str(path), "-F", "-v", "ESP", "::"])
    dirs = sorted({str(Path(rel).parents[i]) for rel in files for i in range(len(Path(rel).parents) - 1)})
    for d in sorted(dirs, key=lambda d: d.count("/")):
        _mtools(["mmd", "-i", str(path), f"::/{d}"])
    with tempfile.TemporaryDirectory(prefix="layoutc-lab-esp-") as tmp:
        for i, (rel, data) in enumerate(files.items()):
            src = Path(tmp) / str(i)
            src.write_bytes(data)
            _mtools(["mcopy", "-i", str(path), str(src), f"::/{rel}"])
    return path


def _mtools(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False,
                          env={"PATH": "/usr/bin:/bin", "MTOOLS_SKIP_CHECK": "1"})  # fmt: skip
    if proc.returncode != 0:
        raise LabError("tool-missing", f"{' '.join(argv[:3])}: {proc.stderr.strip()[-300:]}")


def firmware(work: Path) -> tuple[Path, Path]:
    """OVMF's code and a fresh writable copy of its variable store for this run."""
    for need, what in ((OVMF_CODE, "ovmf"), (OVMF_VARS, "ovmf"), (SYSTEMD_BOOT, "systemd-boot-efi")):
        if not need.is_file():
            raise LabError("tool-missing", f"--efi needs {need} (Debian package {what})")
    nvram = work / "OVMF_VARS.fd"
    shutil.copyfile(OVMF_VARS, nvram)
    return OVMF_CODE, nvram


@dataclass(frozen=True, slots=True)
class EfiVar:
    name: str
    guid: str
    state: int
    attributes: int
    data: bytes

    @property
    def live(self) -> bool:
        return self.state in (VAR_ADDED, VAR_ADDED & VAR_IN_DELETED_TRANSITION)


def efi_vars(store: bytes) -> list[EfiVar]:
    """Every variable record of an OVMF (edk2 authenticated) variable store, deleted ones included, in order."""
    if store[40:44] != b"_FVH":
        raise ValueError("not a firmware volume (no _FVH signature)")
    pos = struct.unpack_from("<H", store, 48)[0]
    if uuid.UUID(bytes_le=store[pos : pos + 16]) != _AUTH_VARS:
        raise ValueError("not an authenticated variable store")
    end = pos + struct.unpack_from("<I", store, pos + 16)[0]
    pos += 28
    out = []
    while pos + _VAR_HEADER.size <= end:
        start, state, _, attrs, _, _, _, name_size, data_size, guid = _VAR_HEADER.unpack_from(store, pos)
        if start != 0x55AA:
            break
        name_at = pos + _VAR_HEADER.size
        name = store[name_at : name_at + name_size].decode("utf-16-le").rstrip("\0")
        data = store[name_at + name_size : name_at + name_size + data_size]
        out.append(EfiVar(name, str(uuid.UUID(bytes_le=guid)), state, attrs, data))
        pos = (name_at + name_size + data_size + 3) & ~3
    return out


def oneshot_records(store: bytes) -> list[EfiVar]:
    return [v for v in efi_vars(store) if v.name == ONESHOT and v.guid == LOADER_GUID]


def utf16(data: bytes) -> str:
    return data.decode("utf-16-le", errors="replace").rstrip("\0")


def command_lines(serial: bytes) -> list[tuple[int, str]]:
    """Each kernel's ``Command line:`` (offset of its line start, the line) in the serial log, in order."""
    out = []
    for m in _CMDLINE.finditer(serial):
        out.append((serial.rfind(b"\n", 0, m.start()) + 1, m.group(1).decode(errors="replace").strip()))
    return out


def cmdline_words(cmdline: str) -> tuple[list[str], list[str]]:
    """A systemd-boot kernel's cmdline split into its words and the ``initrd=`` words systemd-boot adds."""
    words = cmdline.split()
    return [w for w in words if not w.startswith("initrd=")], [w for w in words if w.startswith("initrd=")]


class EntryWatch:
    """Polled by ``qemu.run_boot``: names each kernel the firmware started by its cmdline (the entry's options;
    the crash kernel matches neither) and stops QEMU when an entry boots twice (no one-shot: the guest would
    arm, panic and capture forever)."""

    def __init__(self, entries: Mapping[str, str]) -> None:
        self.entries = {title: options.split() for title, options in entries.items()}
        self.seen: list[tuple[str, float]] = []
        self.cuts: list[tuple[int, str]] = []
        self._lines = 0
        self.stopped = ""

    def __call__(self, seconds: float, serial: bytes) -> bool:
        lines = command_lines(serial)
        for pos, line in lines[self._lines :]:
            words = cmdline_words(line)[0]
            title = next((t for t, opts in self.entries.items() if words == opts), "")
            if title:
                self.seen.append((title, seconds))
                banner = serial.rfind(b"Linux version", max(0, pos - 4096), pos)  # this kernel's first line
                self.cuts.append((serial.rfind(b"\n", 0, banner) + 1 if banner >= 0 else pos, title))
        self._lines = len(lines)
        titles = [t for t, _ in self.seen]
        if len(titles) != len(set(titles)):
            self.stopped = f"systemd-boot booted {' → '.join(titles)}: stopped"
            return True
        return False


def run(boot: QemuBoot, entries: Mapping[str, str], recovery_title: str) -> grubboot.GrubRun:
    """One QEMU from OVMF to the recovery boot's poweroff; the serial log (``serial-efi.log``) is cut at the
    recovery kernel into ``serial-production.log`` and ``serial-recovery.log``."""
    watch = EntryWatch(entries)
    result = run_boot(boot, watch)
    watch(result.seconds, boot.serial_log.read_bytes())
    via = ("OVMF → systemd-boot → production entry → crash kernel", "OVMF → systemd-boot → LoaderEntryOneShot")
    return grubboot.one_qemu_run(boot, result, watch.cuts, watch.seen, recovery_title, watch.stopped, via)


def efi_facts(
    production_options: str,
    recovery_options: str,
    seen: Sequence[tuple[str, float]],
    recovery_title: str,
    layout_recovery: str,
    production_cmdline: str | None,
    recovery_cmdline: str | None,
    store: bytes | None,
    entry_id: str,
) -> list[Fact]:
    """``layout_recovery``: the board cmdline + the layout's recovery cmdline (what the BLS options must be)."""
    facts = [grubboot.order_fact("systemd-boot booted the recovery entry by itself (LoaderEntryOneShot)", seen,
                                 recovery_title, "one QEMU under OVMF: the crash kernel's reboot -f reset the guest; "
                                 "loader.conf's default is production", PRODUCTION_TITLE)]  # fmt: skip
    for what, options, cmdline in (("production", production_options, production_cmdline),
                                   ("recovery", recovery_options, recovery_cmdline)):  # fmt: skip
        words, added = cmdline_words(cmdline or "")
        want = layout_recovery.split() if what == "recovery" else options.split()
        facts.append(Fact(
            f"{what} kernel cmdline = the {'generated BLS' if what == 'recovery' else 'lab production'} entry's "
            f"options{' = board + layout recovery cmdline' if what == 'recovery' else ''}",
            "pass" if cmdline is not None and words == options.split() == want else "fail",
            " ".join(want),
            "not reported" if cmdline is None else " ".join(words),
            f"options {options}; systemd-boot added {' '.join(added) or 'nothing'}",
        ))  # fmt: skip
    records = [] if store is None else oneshot_records(store)
    written = [utf16(v.data) for v in records]
    live = [v for v in records if v.live]
    facts.append(Fact(
        "LoaderEntryOneShot written by the crash kernel and consumed (systemd-boot deleted it)",
        "pass" if store is not None and not live and f"{entry_id}" in written else "fail",
        f"a deleted {ONESHOT}-{LOADER_GUID} record = {entry_id!r}, none live",
        "variable store unreadable" if store is None else
        (f"records: {', '.join(f'{utf16(v.data)!r} state {v.state:#x}' for v in records)}" if records
         else "never written"),
        "from the run's OVMF_VARS copy (edk2 keeps deleted records until reclaim)",
    ))  # fmt: skip
    return facts


def runtime_fact(report: str | None, kexec: str) -> Fact:
    """Whether the kdump kernel (loaded with ``kexec``) has EFI runtime services: ``/sys/firmware/efi/runtime``
    and ``Registered efivars operations`` (the lab's ``efi-crash`` report, made before capture-init.sh)."""
    lines = (report or "").splitlines()
    runtime = "runtime" in lines
    registered = any("Registered efivars operations" in line for line in lines)  # 6.1: without "efivars: "
    module = any("efivarfs" in line for line in lines if "nodev" in line)
    return Fact(
        f"crash kernel ({kexec}) has EFI runtime services (efivars registered)",
        "pass" if runtime and registered else "fail",
        "/sys/firmware/efi/runtime, efivars registered",
        "not reported (no /sys/firmware/efi)" if report is None else
        f"runtime {'present' if runtime else 'absent'}, efivars {'registered' if registered else 'not registered'}",
        "efivarfs " + ("built in or loaded" if module else "not in /proc/filesystems before capture (a module: "
                                                           "capture-init.sh/capture.sh modprobe it)"),
    )  # fmt: skip


def unsupported(*, stage: str, window_mode: str, boot_selection: str, negative: bool, carved: bool,
                board_cmdline: str, grub: bool = False) -> str:  # fmt: skip
    """Why ``--efi`` cannot run this cycle ("" when it can)."""
    if grub:
        return "--efi and --grub are exclusive (one boot loader per run)"
    why = grubboot.unsupported(stage=stage, window_mode=window_mode, boot_selection="grubenv", negative=negative,
                               carved=carved, board_cmdline=board_cmdline)  # fmt: skip
    if why:
        return why.replace("--grub", "--efi")
    if boot_selection != "efi":
        return "--efi needs recovery.boot_selection efi (the LoaderEntryOneShot one-shot)"
    return ""


@dataclass
class EfiCycle:
    """What ``cycle.run_cycle`` gets back from ``start``: the run, the entries' options, the checks after it."""

    run: grubboot.GrubRun
    production_options: str
    recovery_options: str
    nvram: Path
    entry_id: str  # the BLS entry's file name: what LoaderEntryOneShot must hold
    recovery_title: str
    notes: list[str]

    def facts(self, layout_recovery: str, kexec: str) -> list[Fact]:
        store = self.nvram.read_bytes() if self.nvram.is_file() else None
        return [runtime_fact(self.run.production.text("efi-crash"), kexec),
                *efi_facts(self.production_options, self.recovery_options, self.run.seen, self.recovery_title,
                           layout_recovery,
                           self.run.production.text("cmdline"), self.run.recovery.text("cmdline"), store,
                           self.entry_id)]  # fmt: skip


def start(layout_dir: Path, doc: Mapping[str, object], vmlinuz: Path, production_initrd: Path,
          recovery_initrd: Path, boot: QemuBoot, work: Path) -> EfiCycle:  # fmt: skip
    """Build the ESP and the firmware's variable store, then run ``boot`` (its serial log, machine, RAM and
    other disks; the ESP is added first) through OVMF and systemd-boot."""
    rb = doc.get("recovery_boot")
    recovery_boot: Mapping[str, object] = rb if isinstance(rb, Mapping) else {}
    bls = layout_dir / "bls" / f"{recovery_boot.get('bls_id', '')}.conf"
    ki = layout_dir / "kernel-install" / "cmdline"
    for need in (bls, ki):
        if not need.is_file():
            raise LabError("artifacts-missing", f"--efi needs {need} (layoutc compile)")
    production = production_entry(ki.read_text())
    entry = bls.read_text()
    title = bls_value(entry, "title")
    t0 = time.monotonic()
    code, nvram = firmware(work)
    files = esp_files(bls, production, vmlinuz, production_initrd, recovery_initrd, recovery_boot)
    esp = fat_image(work / "esp.img", files)
    notes = [f"--efi: ESP (FAT32, mtools) with {sum(map(len, files.values())) / (1 << 20):.0f} MiB of files made in "
             f"{time.monotonic() - t0:.1f} s; {OVMF_CODE.name} + a copy of {OVMF_VARS.name}"]  # fmt: skip
    boot = dataclasses.replace(boot, drives=(("esp", esp), *boot.drives), pflash=(code, nvram))
    prod_opts, rec_opts = bls_value(production, "options"), bls_value(entry, "options")
    grun = run(boot, {PRODUCTION_TITLE: prod_opts, title: rec_opts}, title)
    notes.append("--efi: systemd-boot booted " + ", ".join(f"{t!r} at {s:.0f} s" for t, s in grun.seen))
    return EfiCycle(grun, prod_opts, rec_opts, nvram, bls.name, title, notes)
