"""capture.sh in a fake crash-kernel root: pmem found by address, markers and checksums, boot selection.

mkfs.ext4, mount, umount, vmcore-dmesg and the dumper are stubs on PATH that record their argv.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from layoutc.model.profile import BootSelection, Dumper, Profile

from .helpers import Run, layout, profile, put, run_script, stub, tool, with_recovery, write_artifacts

BOOT_ID = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"


class CrashKernel:
    def __init__(self, tmp: Path, name: str, prof: Profile | None = None,
                 doc: dict[str, Any] | None = None) -> None:
        tool("sha256sum")
        self.doc: dict[str, Any] = doc or layout(name)
        self.prof = prof or profile(name)
        self.device = write_artifacts(self.prof, self.doc, tmp / "out")
        self.root = tmp / "root"
        self.bin = tmp / "bin"
        for name_ in ("mkfs.ext4", "mount", "umount", "logger", "modprobe"):
            stub(self.bin, name_, "")
        stub(self.bin, "vmcore-dmesg", 'echo "[    0.000000] Linux version 7.2"')
        dump = 'for a in "$@"; do out=$a; done\nprintf VMCORE >"$out"\nexit "${STUB_DUMP_RC:-0}"'
        stub(self.bin, "layoutc", dump)
        stub(self.bin, "makedumpfile", dump)
        put(self.root, "proc/vmcore", b"\x7fELF-vmcore")
        put(self.root, "proc/sys/kernel/random/boot_id", BOOT_ID + "\n")
        w = self.doc.get("dump_window")
        if w:
            self.pmem(w["start"], w["size"])
        self.mnt = self.root / "run/layoutc/dump"

    def pmem(self, start: int, size: int, index: int = 0) -> None:
        ns = self.root / f"sys/bus/nd/devices/namespace{index}.0"
        put(ns, "resource", f"{start:#x}\n")
        put(ns, "size", f"{size}\n")
        block = self.root / f"sys/block/pmem{index}"
        block.mkdir(parents=True)
        (block / "device").symlink_to(f"../../bus/nd/devices/namespace{index}.0")
        put(self.root, f"dev/pmem{index}", b"")

    def capture(self, **env: str) -> Run:
        return run_script(self.device / "capture.sh", self.root, self.bin, env=env)


def verify(directory: Path) -> None:
    result = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=directory, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {line.split()[1] for line in (directory / "SHA256SUMS").read_text().splitlines()} == \
        {"vmcore", "vmcore-dmesg.txt"}


def grubenv(root: Path) -> Path:
    block = "# GRUB Environment Block\nsaved_entry=debian\n"
    return put(root, "boot/grub/grubenv", block + "#" * (1024 - len(block)))


def test_complete_dump_selects_recovery_boot(tmp_path: Path) -> None:
    ck = CrashKernel(tmp_path, "qemu-4g")
    env = grubenv(ck.root)
    run = ck.capture()
    assert run.code == 0, run.err
    (mkfs,) = run.called("mkfs.ext4")
    assert mkfs.endswith(f"[{ck.root}/dev/pmem0]") and "[-N] [16]" in mkfs
    (dump,) = run.called("layoutc")
    assert dump == (f"layoutc [dump] [--spec] [{ck.root}/etc/layoutc/filter.json] [{ck.root}/proc/vmcore] "
                    f"[{ck.mnt}/vmcore]")
    assert (ck.mnt / "COMPLETE").read_text().startswith(f"id={BOOT_ID}\nstamp=")
    assert not (ck.mnt / "INCOMPLETE").exists()
    verify(ck.mnt)
    data = env.read_bytes()
    assert len(data) == 1024
    assert b"saved_entry=debian\nnext_entry=layoutc-recovery-qemu-4g\n#" in data
    assert run.calls.index(run.called("layoutc")[0]) < run.calls.index(run.called("umount")[0])


def test_failed_dump_is_kept_and_marked_incomplete(tmp_path: Path) -> None:
    ck = CrashKernel(tmp_path, "qemu-4g")
    grubenv(ck.root)
    run = ck.capture(STUB_DUMP_RC="4")
    assert run.code == 43, run.err
    assert not (ck.mnt / "COMPLETE").exists()
    marker = (ck.mnt / "INCOMPLETE").read_text()
    assert marker.startswith(f"id={BOOT_ID}\n") and "dumper exited with 4" in marker
    verify(ck.mnt)  # what was written stays readable and checkable
    assert b"next_entry=" in (ck.root / "boot/grub/grubenv").read_bytes(), "a partial dump is still recovered"


def test_pmem_is_found_by_address_not_index(tmp_path: Path) -> None:
    ck = CrashKernel(tmp_path, "qemu-4g")
    w = ck.doc["dump_window"]
    for path in ("sys/block/pmem0", "sys/bus/nd/devices/namespace0.0"):
        subprocess.run(["rm", "-r", str(ck.root / path)], check=True)
    ck.pmem(0x200000000, 1 << 30, index=0)  # another pmem device first
    ck.pmem(w["start"], w["size"], index=3)
    grubenv(ck.root)
    run = ck.capture()
    assert run.code == 0, run.err
    assert run.called("mkfs.ext4")[0].endswith(f"[{ck.root}/dev/pmem3]")


def test_no_pmem_at_the_address(tmp_path: Path) -> None:
    ck = CrashKernel(tmp_path, "qemu-4g")
    put(ck.root, "sys/bus/nd/devices/namespace0.0/resource", "0x200000000\n")
    run = ck.capture()
    assert run.code == 41 and not run.called("mkfs.ext4"), run.err


def test_not_a_crash_kernel(tmp_path: Path) -> None:
    ck = CrashKernel(tmp_path, "qemu-4g")
    (ck.root / "proc/vmcore").unlink()
    assert ck.capture().code == 40


def test_grub_editenv_when_present(tmp_path: Path) -> None:
    ck = CrashKernel(tmp_path, "qemu-4g")
    stub(ck.bin, "grub-editenv", "")
    run = ck.capture()
    assert run.code == 0
    assert run.called("grub-editenv") == [
        f"grub-editenv [{ck.root}/boot/grub/grubenv] [set] [next_entry=layoutc-recovery-qemu-4g]"]


def test_efi_loader_entry_one_shot(tmp_path: Path) -> None:
    prof = with_recovery(profile("qemu-4g"), boot_selection=BootSelection.EFI)
    ck = CrashKernel(tmp_path, "qemu-4g", prof)
    (ck.root / "sys/firmware/efi/efivars").mkdir(parents=True)
    run = ck.capture()
    assert run.code == 0, run.err
    var = ck.root / "sys/firmware/efi/efivars/LoaderEntryOneShot-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"
    assert var.read_bytes() == b"\x07\x00\x00\x00" + "layoutc-recovery-qemu-4g.conf\0".encode("utf-16-le")


def test_efi_selection_failures_say_why(tmp_path: Path) -> None:
    prof = with_recovery(profile("qemu-4g"), boot_selection=BootSelection.EFI)
    ck = CrashKernel(tmp_path, "qemu-4g", prof)  # no /sys/firmware/efi/efivars: no EFI runtime services
    run = ck.capture()
    assert run.code == 44 and "no EFI runtime services" in run.err and (ck.mnt / "COMPLETE").exists(), run.err
    (ck.root / "sys/firmware/efi/efivars").mkdir(parents=True)
    stub(ck.bin, "mount", 'case "$*" in *efivarfs*) exit 32;; esac')  # efivarfs module missing: ENODEV
    run = ck.capture()
    assert run.code == 44 and "efivarfs module must be in the crash initramfs" in run.err, run.err
    assert run.called("modprobe") == ["modprobe [efivarfs]"]


def test_hook_selects_the_recovery_boot(tmp_path: Path) -> None:
    hook = stub(tmp_path / "hookbin", "select-recovery", "")
    prof = with_recovery(profile("qemu-4g"), boot_selection=BootSelection.HOOK, hook=(str(hook), "--once"))
    ck = CrashKernel(tmp_path, "qemu-4g", prof)
    run = ck.capture()
    assert run.code == 0 and run.called("select-recovery") == ["select-recovery [--once]"], run.err


def test_boot_selection_failure_is_reported(tmp_path: Path) -> None:
    ck = CrashKernel(tmp_path, "qemu-4g")  # grubenv: no grubenv file and no grub-editenv
    run = ck.capture()
    assert run.code == 44 and (ck.mnt / "COMPLETE").exists()


# a step asleep in the kernel: deaf to SIGTERM (D state is deaf to every signal), done only after the bound
HUNG = 'trap "" TERM\nsleep 2\necho "$0 finished" >>"$STUB_LOG"'


def hung_selection(ck: CrashKernel) -> Run:
    """capture.sh with a grub-editenv that hangs (the grubenv file system's disk stopped answering)."""
    stub(ck.bin, "grub-editenv", HUNG)
    return ck.capture(LAYOUTC_SELECT_TIMEOUT="1")


def test_a_recovery_boot_selection_that_hangs_is_given_up(tmp_path: Path) -> None:
    ck = CrashKernel(tmp_path, "qemu-4g")
    run = hung_selection(ck)
    assert run.code == 44 and (ck.mnt / "COMPLETE").exists(), run.err
    assert run.err.splitlines()[-2:] == [
        "layoutc-capture: selecting the recovery boot did not finish in 1s (a disk that stopped answering?): given up",
        "layoutc-capture: could not select the recovery boot (grubenv); the next boot will not recover the window"]
    finished = [c for c in run.calls if c.endswith(" finished")]
    assert finished and run.calls.index(run.called("umount")[0]) < run.calls.index(finished[0]), \
        "capture.sh went on (umount of the dump window) while grub-editenv still hung"


def hung_last_sync(ck: CrashKernel) -> None:
    """The sync after the dump window's umount hangs (the umount stub marks that moment)."""
    stub(ck.bin, "umount", ': >"$LAYOUTC_ROOT/run/layoutc/umounted"')
    stub(ck.bin, "sync", f'[ -e "$LAYOUTC_ROOT/run/layoutc/umounted" ] || exit 0\n{HUNG}')


def hung_selection_and_sync(ck: CrashKernel) -> Run:
    """Both hang; the selection's step ends while capture.sh waits for the sync, as the sync's bound comes."""
    stub(ck.bin, "grub-editenv", HUNG)
    hung_last_sync(ck)
    return ck.capture(LAYOUTC_SELECT_TIMEOUT="1", LAYOUTC_SYNC_TIMEOUT="1")


def test_the_last_sync_is_bounded_too(tmp_path: Path) -> None:
    ck = CrashKernel(tmp_path, "qemu-4g")
    grubenv(ck.root)
    hung_last_sync(ck)
    run = ck.capture(LAYOUTC_SYNC_TIMEOUT="1")
    assert run.code == 0, run.err
    assert run.err.splitlines()[-1] == "layoutc-capture: the last sync did not finish in 1s"
    assert run.calls[-3:-1] == ["sync", "logger [-t] [layoutc-capture] [-p] [daemon.warning] [--] "
                                "[the last sync did not finish in 1s]"] and run.calls[-1].endswith(" finished")


def test_a_hung_selection_and_a_hung_sync_are_both_given_up(tmp_path: Path) -> None:
    ck = CrashKernel(tmp_path, "qemu-4g")
    run = hung_selection_and_sync(ck)
    assert run.code == 44 and (ck.mnt / "COMPLETE").exists(), run.err
    assert "did not finish in 1s (a disk that stopped answering?)" in run.err
    assert run.err.splitlines()[-1] == "layoutc-capture: the last sync did not finish in 1s"


def test_makedumpfile_gets_the_equivalent_flags(tmp_path: Path) -> None:
    base = profile("qemu-4g")
    prof = dataclasses.replace(base, dump=dataclasses.replace(base.dump, dumper=Dumper.MAKEDUMPFILE))
    ck = CrashKernel(tmp_path, "qemu-4g", prof)
    grubenv(ck.root)
    run = ck.capture()
    assert run.code == 0, run.err
    (call,) = run.called("makedumpfile")
    assert call.startswith("makedumpfile [-d] [31] [-c] [-L] [") and call.endswith(f"[{ck.mnt}/vmcore]")


def test_hotplug_window_needs_no_boot_selection(tmp_path: Path) -> None:
    ck = CrashKernel(tmp_path, "chromebook-4g")
    run = ck.capture()
    assert run.code == 0 and (ck.mnt / "COMPLETE").exists(), run.err


def test_disk_target(tmp_path: Path) -> None:
    ck = CrashKernel(tmp_path, "server-64g-2node")
    disk = ck.root / "dev/disk/by-partlabel/crash"
    disk.mkdir(parents=True)  # a directory target (the device may also be a block device)
    run = ck.capture()
    assert run.code == 0, run.err
    out = disk / f"layoutc-{BOOT_ID}"
    assert (out / "COMPLETE").exists()
    verify(out)
    assert not run.called("mkfs.ext4"), "a disk is never formatted"


def test_disk_by_partlabel_without_udev(tmp_path: Path) -> None:
    ck = CrashKernel(tmp_path, "server-64g-2node")
    blk = put(ck.root, "dev/sdb3", b"")
    stub(ck.bin, "blkid", f'echo "{blk}"')
    run = ck.capture()
    assert run.code == 0, run.err
    assert run.called("blkid") == ["blkid [-l] [-o] [device] [-t] [PARTLABEL=crash]"]
    assert run.called("mount") == [f"mount [-t] [xfs] [{blk}] [{ck.mnt}]"]
    assert (ck.mnt / f"layoutc-{BOOT_ID}" / "COMPLETE").exists()


def test_disk_missing(tmp_path: Path) -> None:
    ck = CrashKernel(tmp_path, "qemu-4g-cma-disk")
    stub(ck.bin, "blkid", "exit 2")
    run = ck.capture(LAYOUTC_WAIT_SECONDS="1")
    assert run.code == 41 and "not found" in run.err and len(run.called("blkid")) == 2, run.err


def _claimed_window(ck: CrashKernel, claim: str, *, bound: bool) -> threading.Thread:
    """The window's namespace held by a claim (a devdax info block left in RAM), as libnvdimm shows it:
    no /sys/block/pmem*, region0/{namespace0.0, <claim>} with the claim's ``namespace`` naming it. Writing
    the namespace to nd_pmem's ``bind`` (a FIFO read by a thread) creates /sys/block/pmem0."""
    w = ck.doc["dump_window"]
    shutil.rmtree(ck.root / "sys")
    nd = ck.root / "sys/bus/nd"
    region = ck.root / "sys/devices/ndbus0/region0"
    put(region, "resource", f"{w['start']:#x}\n")
    put(region / "namespace0.0", "resource", f"{w['start']:#x}\n")
    put(region / "namespace0.0", "size", f"{w['size']}\n")
    put(region / "namespace0.0", "force_raw", "0\n")
    put(region / claim, "namespace", "namespace0.0\n")
    put(region / "dax0.0", "namespace", "\n")  # the region's unclaimed seed
    (nd / "devices").mkdir(parents=True)
    for name in ("region0", "namespace0.0", claim, "dax0.0"):
        target = "../../../devices/ndbus0/region0" + ("" if name == "region0" else f"/{name}")
        (nd / "devices" / name).symlink_to(target)
    drivers = nd / "drivers"
    (drivers / "nd_pmem").mkdir(parents=True)
    if bound:
        put(drivers, "dax_pmem/unbind", "")
        (region / claim / "driver").symlink_to("../../../../bus/nd/drivers/dax_pmem")
    bind = drivers / "nd_pmem/bind"
    os.mkfifo(bind)
    # the image the crash kernel finds: an old devdax info block at 4 KiB
    image = bytearray(16384)
    image[4096:4112] = b"NVDIMM_DAX_INFO\0"
    put(ck.root, "dev/pmem0", bytes(image))

    def driver() -> None:
        with open(bind) as f:
            name = f.read().strip()
        if name == "namespace0.0":
            block = ck.root / "sys/block/pmem0"
            block.mkdir(parents=True)
            (block / "device").symlink_to("../../devices/ndbus0/region0/namespace0.0")

    thread = threading.Thread(target=driver, daemon=True)
    thread.start()
    return thread


def _unblock(ck: CrashKernel, thread: threading.Thread) -> None:
    if thread.is_alive():
        with open(ck.root / "sys/bus/nd/drivers/nd_pmem/bind", "w") as f:
            f.write("none\n")
        thread.join(5)


def test_window_held_by_a_stale_dax_claim_is_made_raw(tmp_path: Path) -> None:
    """Hotplug windows are devdax before every crash: the crash kernel's nd_pmem finds the info block and
    gives the namespace to a dax claim (no /dev/pmem). capture.sh detaches the claim, sets force_raw,
    binds nd_pmem, zeroes the info block and captures as usual (before: exit 41, dump lost)."""
    ck = CrashKernel(tmp_path, "chromebook-4g")
    thread = _claimed_window(ck, "dax0.1", bound=True)
    try:
        run = ck.capture(LAYOUTC_WAIT_SECONDS="2")
    finally:
        _unblock(ck, thread)
    assert run.code == 0, run.err
    region = ck.root / "sys/devices/ndbus0/region0"
    assert (ck.root / "sys/bus/nd/drivers/dax_pmem/unbind").read_text() == "dax0.1\n"
    assert (region / "dax0.1/namespace").read_text() == "\n", "claim detached"
    assert (region / "namespace0.0/force_raw").read_text() == "1\n"
    assert bytes((ck.root / "dev/pmem0").read_bytes()[:8192]) == bytes(8192), "info block zeroed"
    assert run.called("mkfs.ext4")[0].endswith(f"[{ck.root}/dev/pmem0]")
    assert (ck.mnt / "COMPLETE").exists()
    assert "claimed by dax0.1" in run.err


def test_window_held_by_an_unbound_fsdax_claim(tmp_path: Path) -> None:
    ck = CrashKernel(tmp_path, "chromebook-4g")
    thread = _claimed_window(ck, "pfn0.1", bound=False)
    try:
        run = ck.capture(LAYOUTC_WAIT_SECONDS="2")
    finally:
        _unblock(ck, thread)
    assert run.code == 0, run.err
    assert (ck.root / "sys/devices/ndbus0/region0/pfn0.1/namespace").read_text() == "\n"


def test_no_pmem_and_no_claim_is_41(tmp_path: Path) -> None:
    ck = CrashKernel(tmp_path, "chromebook-4g")
    shutil.rmtree(ck.root / "sys")
    run = ck.capture()
    assert run.code == 41 and not run.called("mkfs.ext4"), run.err


def cpus_kernel(tmp: Path, cpus: int, dumper: Dumper = Dumper.LAYOUTC) -> CrashKernel:
    """qemu-4g with crash.cpus (and dump.dumper) changed, solved again: nr_cpus= and the reservation follow."""
    base = profile("qemu-4g")
    prof = dataclasses.replace(base, crash=dataclasses.replace(base.crash, cpus=cpus),
                               dump=dataclasses.replace(base.dump, dumper=dumper))
    return CrashKernel(tmp, "qemu-4g", prof=prof, doc=layout("qemu-4g", prof))


def dumper_workers(ck: CrashKernel, online: str | None) -> tuple[Run, str]:
    if online is not None:
        put(ck.root, "sys/devices/system/cpu/online", online)
    grubenv(ck.root)
    run = ck.capture()
    assert run.code == 0, run.err
    (dump,) = run.called("layoutc")
    return run, dump


def test_workers_follow_the_online_cpus_capped_by_crash_cpus(tmp_path: Path) -> None:
    ck = cpus_kernel(tmp_path, 4)
    assert "nr_cpus=4" in ck.doc["cmdline"]["crash"]
    for online, workers in (("0-1\n", 2), ("0-3\n", 4), ("0-7\n", 4), ("0,2-3\n", 3), ("0\n", 1), ("junk\n", 1)):
        shutil.rmtree(ck.mnt, ignore_errors=True)
        run, dump = dumper_workers(ck, online)
        assert dump == (f"layoutc [dump] [--workers] [{workers}] [--spec] [{ck.root}/etc/layoutc/filter.json] "
                        f"[{ck.root}/proc/vmcore] [{ck.mnt}/vmcore]"), online
        assert f"dumping with {workers} worker(s): the CPUs online, at most 4 (nr_cpus=)" in run.err


def test_one_crash_cpu_passes_no_workers_and_makedumpfile_none(tmp_path: Path) -> None:
    _, dump = dumper_workers(CrashKernel(tmp_path / "one", "qemu-4g"), "0-3\n")
    assert "--workers" not in dump
    ck = cpus_kernel(tmp_path / "mdf", 4, Dumper.MAKEDUMPFILE)
    put(ck.root, "sys/devices/system/cpu/online", "0-3\n")
    grubenv(ck.root)
    run = ck.capture()
    assert run.code == 0, run.err
    (mdf,) = run.called("makedumpfile")
    assert "--workers" not in mdf and "--num-threads" not in mdf
    assert "online_cpus" not in (ck.device / "capture.sh").read_text()


def test_multi_cpu_capture_script_passes_shellcheck(tmp_path: Path) -> None:
    script = cpus_kernel(tmp_path, 2).device / "capture.sh"
    result = subprocess.run([tool("shellcheck"), "--severity=style", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
