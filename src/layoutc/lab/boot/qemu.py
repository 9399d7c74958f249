"""Starting QEMU: argv building and a runner with a hard timeout.

TCG is the default: on this kind of machine ``/dev/kvm`` exists but is nested and unusable (``-cpu host``
aborts, other models crawl). ``accel="auto"`` uses KVM only after a smoke boot on it finished within its
timeout. ``-smp 1`` unless the profile's crash kernel has more CPUs (``crash.cpus``, :attr:`QemuBoot.cpus`): under TCG
``-smp 2`` once oopsed in static-key patching.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from layoutc.lab.boot.machine import Machine
from layoutc.lab.errors import LabError

QEMU = "qemu-system-x86_64"
ARM64_QEMU = "qemu-system-aarch64"  # -machine virt (boot/virt.py)


@dataclass(frozen=True, slots=True)
class QemuBoot:
    """One guest boot: what to run and where its serial console goes."""

    kernel: Path
    initrd: Path
    cmdline: str
    machine: Machine
    serial_log: Path
    accel: str = "tcg"
    timeout: float = 240.0
    qemu: str = QEMU  # the emulator binary (tests substitute a stand-in)
    # the crash cycle: guest RAM in shared files (one per node, ``<ram_path>.<i>``) so a second QEMU boots on the
    # RAM the first one left (a warm reboot with a different -append), and raw virtio disks (serial, path)
    ram_path: Path | None = None
    drives: tuple[tuple[str, Path], ...] = ()
    read_only: tuple[str, ...] = ()  # serials of drives the guest only reads: shared with other QEMUs at once
    # --grub: boot firmware → GRUB from this ISO (IDE cdrom) instead of -kernel/-initrd/-append; no -no-reboot,
    # so a guest reset goes back through GRUB in the same QEMU (guest RAM survives a reset)
    cdrom: Path | None = None
    # --efi: UEFI firmware (OVMF code, this run's writable copy of its variable store) as pflash; the guest boots
    # the drive named "esp" (bootindex 0) instead of -kernel/-initrd/-append, and may reboot (no -no-reboot)
    pflash: tuple[Path, Path] | None = None
    # arm64: the device tree passed with -dtb (default: QEMU virt's own)
    dtb: Path | None = None
    # --system debian: the firmware (SeaBIOS) boots the first drive's MBR (bootindex 0) instead of
    # -kernel/-initrd/-append, and the guest may reboot (no -no-reboot)
    disk_boot: bool = False
    # the guest's CPUs: the crash kernel's crash.cpus (nr_cpus= of its cmdline) where the profile asks for more
    # than one, so the dumper's --workers meet real CPUs; else 1 (see the module's docstring)
    cpus: int = 1


@dataclass(frozen=True, slots=True)
class BootResult:
    argv: tuple[str, ...]
    returncode: int | None  # None: killed on timeout
    seconds: float
    serial_log: Path
    stderr: str

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def qemu_argv(boot: QemuBoot) -> list[str]:
    """The full QEMU command line for ``boot``."""
    m = boot.machine
    accel = ["-accel", "kvm", "-cpu", "host"] if boot.accel == "kvm" else ["-accel", "tcg", "-cpu", "max"]
    binary = boot.qemu
    if m.type == "virt":  # arm64 (boot/virt.py): always TCG, pointer authentication the cheap way
        accel, binary = ["-accel", "tcg", "-cpu", "max,pauth-impdef=on"], ARM64_QEMU if binary == QEMU else binary
    machine = m.type
    if boot.ram_path is not None and not m.node_sizes:
        machine += ",memory-backend=ram0"
    argv = [binary, "-machine", machine, *accel, "-smp", str(boot.cpus), "-m", f"{m.ram // (1 << 20)}M"]
    for i, size in enumerate(m.node_sizes or ((m.ram,) if boot.ram_path is not None else ())):
        backend = (f"memory-backend-file,id=ram{i},size={size},mem-path={boot.ram_path}.{i},share=on"
                   if boot.ram_path is not None else f"memory-backend-ram,id=ram{i},size={size}")  # fmt: skip
        argv += ["-object", backend]
        if m.node_sizes:
            argv += ["-numa", f"node,nodeid={i},memdev=ram{i}"]
    if m.type == "virt" and m.node_sizes:
        argv += ["-numa", "cpu,node-id=0,socket-id=0"]
    for i, (serial, path) in enumerate(boot.drives):
        argv += [
            "-drive", f"file={path},format=raw,if=none,id=disk{i},cache=unsafe,discard=unmap,detect-zeroes=unmap"
            + (",readonly=on" if serial in boot.read_only else ""),
            "-device", f"virtio-blk-pci,drive=disk{i},serial={serial}"
            + (",bootindex=0" if (boot.pflash is not None and serial == "esp") or (boot.disk_boot and i == 0) else ""),
        ]  # fmt: skip
    argv += ["-nodefaults", "-no-user-config", "-display", "none", "-serial", f"file:{boot.serial_log}"]
    if boot.pflash is not None:
        code, nvram = boot.pflash
        return [*argv, "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={code}",
                "-drive", f"if=pflash,format=raw,unit=1,file={nvram}"]  # fmt: skip
    if boot.disk_boot:
        return argv
    if boot.cdrom is not None:
        return [*argv, "-drive", f"file={boot.cdrom},format=raw,if=ide,media=cdrom,readonly=on", "-boot", "order=d"]
    argv += ["-no-reboot", "-kernel", str(boot.kernel), "-initrd", str(boot.initrd), "-append", boot.cmdline]
    return [*argv, "-dtb", str(boot.dtb)] if boot.dtb is not None else argv


def run_boot(boot: QemuBoot, watch: Callable[[float, bytes], bool] | None = None) -> BootResult:
    """Run QEMU to completion or until ``boot.timeout``; never hangs (the process group is killed).

    ``watch(seconds, serial_log_bytes)`` is polled twice a second when given; True stops QEMU (its process
    group is killed; the result's returncode is then the signal's negative number, not None)."""
    argv = qemu_argv(boot)
    boot.serial_log.parent.mkdir(parents=True, exist_ok=True)
    boot.serial_log.write_bytes(b"")
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
        )  # fmt: skip
    except FileNotFoundError as exc:
        package = "qemu-system-arm" if argv[0] == ARM64_QEMU else "qemu-system-x86"
        raise LabError("tool-missing", f"{argv[0]} not found (Debian package {package})") from exc
    try:
        if watch is not None:
            _watch(proc, boot, watch, start)
        _, err = proc.communicate(timeout=max(1.0, boot.timeout - (time.monotonic() - start)))
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        _, err = proc.communicate()
        code = None
    return BootResult(
        tuple(argv), code, time.monotonic() - start, boot.serial_log, err.decode(errors="replace")[-4000:]
    )


def _watch(proc: subprocess.Popen[bytes], boot: QemuBoot, watch: Callable[[float, bytes], bool], start: float) -> None:
    while time.monotonic() - start < boot.timeout:
        try:
            proc.wait(timeout=0.5)
            return
        except subprocess.TimeoutExpired:
            pass
        if watch(time.monotonic() - start, boot.serial_log.read_bytes()):
            _kill_group(proc)
            return
    raise subprocess.TimeoutExpired(boot.qemu, boot.timeout)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def kvm_usable(smoke: QemuBoot) -> bool:
    """True when a smoke boot under KVM reaches ``LAYOUTC-DONE`` within its timeout."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    result = run_boot(QemuBoot(smoke.kernel, smoke.initrd, smoke.cmdline, smoke.machine, smoke.serial_log, "kvm",
                           min(smoke.timeout, 30.0)))  # fmt: skip
    return result.returncode == 0 and b"LAYOUTC-DONE" in result.serial_log.read_bytes()
