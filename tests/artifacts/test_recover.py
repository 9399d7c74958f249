"""recover.sh in a fake root: the window is released only after the dump is verifiably stored.

ndctl, daxctl, mount, umount, systemctl, the upload command and arm.sh are stubs recording argv;
``mount`` copies a prepared window filesystem (a directory) to the mount point.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from layoutc.model.profile import Profile, Release

from .helpers import Run, artifacts, layout, profile, put, run_script, stub, tool, with_recovery, write_artifacts

DUMP_ID = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
BOOT_ID = "99999999-8888-7777-6666-555555555555"


def window_fs(directory: Path, *, complete: bool = True) -> Path:
    """What capture.sh leaves in the window."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vmcore").write_bytes(b"KDUMP   " + bytes(range(256)) * 16)
    (directory / "vmcore-dmesg.txt").write_text("[    0.000000] Linux version 7.2\n")
    sums = subprocess.run(["sha256sum", "vmcore-dmesg.txt", "vmcore"], cwd=directory, capture_output=True,
                          text=True, check=True).stdout
    (directory / "SHA256SUMS").write_text(sums)
    marker = "COMPLETE" if complete else "INCOMPLETE"
    (directory / marker).write_text(f"id={DUMP_ID}\nstamp=20261126T180000Z\n")
    return directory


class NextBoot:
    def __init__(self, tmp: Path, name: str, prof: Profile | None = None, *, upload: bool = True,
                 doc: dict[str, Any] | None = None) -> None:
        tool("sha256sum")
        self.doc: dict[str, Any] = doc or layout(name)
        base = prof or profile(name)
        self.bin = tmp / "bin"
        uploader = stub(self.bin, "upload", '[ -z "${STUB_UPLOAD_SLEEP:-}" ] || sleep "$STUB_UPLOAD_SLEEP"\n'
                                            'exit "${STUB_UPLOAD_RC:-0}"')
        if upload:
            base = with_recovery(base, upload=(str(uploader), "--file", "{dump}"))
        self.prof = base
        self.device = write_artifacts(base, self.doc, tmp / "out")
        self.root = tmp / "root"
        self.fs = tmp / "window-fs"
        stub(self.bin, "mount", 'for a in "$@"; do m=$a; done\ncp -R "$STUB_FS"/. "$m"/')
        stub(self.bin, "umount", 'find "$1" -mindepth 1 -delete')
        for name_ in ("ndctl", "daxctl"):
            stub(self.bin, name_, f'exit "${{STUB_{name_.upper()}_RC:-0}}"')
        stub(self.bin, "systemctl", "")
        stub(self.bin, "logger", "")
        stub(self.root / "usr/lib/layoutc", "arm.sh", 'exit "${STUB_ARM_RC:-0}"')
        put(self.root, "proc/sys/kernel/random/boot_id", BOOT_ID + "\n")
        cmdline = self.doc["cmdline"]["recovery"] or self.doc["cmdline"]["production"]
        put(self.root, "proc/cmdline", f"console=ttyS0 {cmdline}\n")
        put(self.root, "sys/devices/system/memory/auto_online_blocks", "online\n")
        w = self.doc.get("dump_window")
        if w:
            ns = self.root / "sys/bus/nd/devices/namespace0.0"
            put(ns, "resource", f"{w['start']:#x}\n")
            put(ns, "size", f"{w['size']}\n")
            (self.root / "sys/block/pmem0").mkdir(parents=True)
            (self.root / "sys/block/pmem0/device").symlink_to("../../bus/nd/devices/namespace0.0")
            dax = self.root / "sys/bus/dax/devices/dax0.0"
            put(dax, "resource", f"{w['devdax']['dax_start']:#x}\n")
            put(dax, "memmap_on_memory", "1\n")
            self.filesystem(True)

    def filesystem(self, present: bool) -> None:
        image = bytearray(4096)
        if present:
            image[1080:1082] = b"\x53\xef"
        put(self.root, "dev/pmem0", bytes(image))

    def recover(self, **env: str) -> Run:
        return run_script(self.device / "recover.sh", self.root, self.bin, env={"STUB_FS": str(self.fs), **env})

    def stored(self, suffix: str = "") -> Path:
        return self.root / self.prof.recovery.store.lstrip("/") / f"{self.prof.board}-{DUMP_ID}{suffix}"


def order(run: Run, *names: str) -> list[int]:
    return [run.calls.index(run.called(n)[0]) for n in names]


def test_recovery_stores_uploads_then_releases(tmp_path: Path) -> None:
    nb = NextBoot(tmp_path, "qemu-4g")
    window_fs(nb.fs)
    run = nb.recover()
    assert run.code == 0, run.err
    dest = nb.stored()
    assert (dest / "vmcore").read_bytes() == (nb.fs / "vmcore").read_bytes()
    assert (dest / "COMPLETE").exists()
    assert run.called("mount") == [f"mount [-t] [ext4] [-o] [ro] [{nb.root}/dev/pmem0] [{nb.root}/run/layoutc/recover]"]
    assert run.called("upload") == [f"upload [--file] [{dest}/vmcore]"]
    assert run.called("ndctl") == ["ndctl [create-namespace] [--reconfig=namespace0.0] [-m] [devdax] [-f] "
                                   "[--map=mem] [--align=2M]"]
    assert run.called("daxctl") == ["daxctl [reconfigure-device] [--mode=system-ram] [dax0.0]"]
    assert run.called("arm.sh") == ["arm.sh [recovery]"]
    # never release before the copy is verified and uploaded, and never with the fs mounted
    assert order(run, "mount", "upload", "umount", "ndctl", "daxctl", "arm.sh") == sorted(
        order(run, "mount", "upload", "umount", "ndctl", "daxctl", "arm.sh"))
    assert (nb.root / "sys/bus/dax/devices/dax0.0/memmap_on_memory").read_text() == "0\n"
    assert (nb.root / "sys/devices/system/memory/auto_online_blocks").read_text() == "online\n", "restored"


def test_second_run_is_a_no_op(tmp_path: Path) -> None:
    nb = NextBoot(tmp_path, "qemu-4g")
    window_fs(nb.fs)
    assert nb.recover().code == 0
    again = nb.recover()
    assert again.code == 0, again.err
    assert not [c for c in again.calls if not c.startswith("logger")], again.calls


def test_failed_upload_keeps_window_and_dump(tmp_path: Path) -> None:
    nb = NextBoot(tmp_path, "qemu-4g")
    window_fs(nb.fs)
    run = nb.recover(STUB_UPLOAD_RC="1")
    assert run.code == 34
    assert "upload of dump" in run.err and "stays in" in run.err
    assert not run.called("ndctl") and not run.called("daxctl") and not run.called("arm.sh")
    assert (nb.stored() / "vmcore").exists()
    # fixed network: the next run uploads the stored copy and only then releases
    retry = nb.recover()
    assert retry.code == 0, retry.err
    assert retry.called("upload") and retry.called("ndctl")
    assert order(retry, "upload", "ndctl") == sorted(order(retry, "upload", "ndctl"))


def test_checksum_mismatch_keeps_the_window(tmp_path: Path) -> None:
    nb = NextBoot(tmp_path, "qemu-4g")
    window_fs(nb.fs)
    (nb.fs / "vmcore").write_bytes(b"corrupted")
    run = nb.recover()
    assert run.code == 32 and not run.called("ndctl") and not nb.stored().exists(), run.err


def test_copy_failure_keeps_the_window(tmp_path: Path) -> None:
    nb = NextBoot(tmp_path, "qemu-4g", with_recovery(profile("qemu-4g"), store="/var/crash/file"))
    window_fs(nb.fs)
    put(nb.root, "var/crash/file", "not a directory")
    run = nb.recover()
    assert run.code == 33 and not run.called("ndctl") and not run.called("upload"), run.err


def test_incomplete_dump_is_stored_as_incomplete(tmp_path: Path) -> None:
    nb = NextBoot(tmp_path, "qemu-4g")
    window_fs(nb.fs, complete=False)
    run = nb.recover()
    assert run.code == 0, run.err
    assert (nb.stored("-incomplete") / "INCOMPLETE").exists() and "INCOMPLETE" in run.err


def test_production_boot_does_nothing(tmp_path: Path) -> None:
    nb = NextBoot(tmp_path, "qemu-4g")
    put(nb.root, "proc/cmdline", f"console=ttyS0 {nb.doc['cmdline']['production']}\n")
    run = nb.recover()
    assert run.code == 0 and "not a recovery boot" in run.err and not run.called("mount")


def test_daxctl_failure_is_reported(tmp_path: Path) -> None:
    nb = NextBoot(tmp_path, "qemu-4g")
    window_fs(nb.fs)
    run = nb.recover(STUB_DAXCTL_RC="1")
    assert run.code == 35 and not run.called("arm.sh")
    assert (nb.root / "sys/devices/system/memory/auto_online_blocks").read_text() == "online\n"


def test_arm_refusal_is_reported(tmp_path: Path) -> None:
    nb = NextBoot(tmp_path, "qemu-4g")
    window_fs(nb.fs)
    run = nb.recover(STUB_ARM_RC="12")
    assert run.code == 36 and "exit 12" in run.err


def test_hotplug_window_without_dump_is_returned(tmp_path: Path) -> None:
    nb = NextBoot(tmp_path, "chromebook-4g")
    nb.filesystem(False)
    run = nb.recover()
    assert run.code == 0, run.err
    assert not run.called("mount") and not run.called("upload")
    assert run.called("ndctl") and run.called("daxctl") and run.called("arm.sh")


def test_hotplug_stale_dump_already_uploaded(tmp_path: Path) -> None:
    """Warm reboots keep RAM: an old, already uploaded dump may still be in the window."""
    nb = NextBoot(tmp_path, "chromebook-4g")
    window_fs(nb.fs)
    put(nb.root, f"var/lib/layoutc/uploaded-{DUMP_ID}", "")
    run = nb.recover()
    assert run.code == 0 and not run.called("upload") and run.called("daxctl"), run.err


def test_release_by_reboot(tmp_path: Path) -> None:
    base = profile("qemu-4g")
    assert base.window is not None
    prof = dataclasses.replace(base, window=dataclasses.replace(base.window, release=Release.REBOOT))
    nb = NextBoot(tmp_path, "qemu-4g", prof, doc=layout("qemu-4g", prof))
    window_fs(nb.fs)
    run = nb.recover()
    assert run.code == 0, run.err
    assert not run.called("ndctl") and run.called("systemctl") == ["systemctl [--no-block] [reboot]"]
    assert order(run, "upload", "systemctl") == sorted(order(run, "upload", "systemctl"))


def test_disk_dumps_are_stored_and_uploaded(tmp_path: Path) -> None:
    nb = NextBoot(tmp_path, "server-64g-2node")
    disk = nb.root / "dev/disk/by-partlabel/crash"
    window_fs(disk / f"layoutc-{DUMP_ID}")
    run = nb.recover()
    assert run.code == 0, run.err
    assert (nb.stored() / "vmcore").exists() and run.called("upload")
    assert nb.recover().called("upload") == [], "second run: already uploaded"


def test_disk_by_partlabel_without_udev(tmp_path: Path) -> None:
    """No /dev/disk/by-partlabel links (no udev, as in the lab's boots): blkid finds the partition."""
    nb = NextBoot(tmp_path, "qemu-4g-cma-disk")
    blk = put(nb.root, "dev/vda1", b"")
    stub(nb.bin, "blkid", f'echo "{blk}"')
    window_fs(nb.fs / f"layoutc-{DUMP_ID}")
    run = nb.recover()
    assert run.code == 0, run.err
    assert run.called("blkid") == ["blkid [-l] [-o] [device] [-t] [PARTLABEL=crash]"]
    assert run.called("mount")[0] == f"mount [-t] [ext4] [-o] [ro] [{blk}] [{nb.root}/run/layoutc/recover]"
    assert (nb.stored() / "vmcore").exists() and run.called("upload")


def test_disk_missing(tmp_path: Path) -> None:
    nb = NextBoot(tmp_path, "qemu-4g-cma-disk")
    stub(nb.bin, "blkid", "exit 2")
    run = nb.recover(LAYOUTC_WAIT_SECONDS="0")
    assert run.code == 30 and "was not found" in run.err and not run.called("mount"), run.err


def test_failed_upload_is_retried_on_the_next_production_boot(tmp_path: Path) -> None:
    """The one-shot recovery boot is gone after a failed upload: later boots upload the stored copy."""
    nb = NextBoot(tmp_path, "qemu-4g")
    window_fs(nb.fs)
    assert nb.recover(STUB_UPLOAD_RC="1").code == 34
    put(nb.root, "proc/cmdline", f"console=ttyS0 {nb.doc['cmdline']['production']}\n")
    put(nb.root, "proc/sys/kernel/random/boot_id", "11111111-2222-3333-4444-555555555555\n")
    assert nb.recover(STUB_UPLOAD_RC="1").code == 34, "still failing: said so"
    run = nb.recover()
    assert run.code == 0, run.err
    assert run.called("upload") == [f"upload [--file] [{nb.stored()}/vmcore]"]
    assert not run.called("mount") and not run.called("ndctl")
    assert nb.recover().called("upload") == [], "uploaded once"


def test_failed_upload_unmounts_the_window(tmp_path: Path) -> None:
    nb = NextBoot(tmp_path, "qemu-4g")
    window_fs(nb.fs)
    run = nb.recover(STUB_UPLOAD_RC="1")
    assert run.code == 34 and run.called("umount"), "exit leaves nothing mounted (a retry can mount again)"


def test_run_after_a_stop_between_ndctl_and_daxctl(tmp_path: Path) -> None:
    """The namespace is devdax already (no /dev/pmem): finish with daxctl, never touch ndctl again."""
    nb = NextBoot(tmp_path, "qemu-4g")
    (nb.root / "sys/block/pmem0/device").unlink()
    (nb.root / "sys/block/pmem0").rmdir()
    run = nb.recover()
    assert run.code == 0, run.err
    assert not run.called("mount") and not run.called("ndctl")
    assert run.called("daxctl") == ["daxctl [reconfigure-device] [--mode=system-ram] [dax0.0]"]
    assert run.called("arm.sh") == ["arm.sh [recovery]"]


def test_checksums_with_busybox_sha256sum(tmp_path: Path) -> None:
    """busybox sha256sum -c knows no --quiet (only -s/-w): recover.sh must verify with plain -c."""
    real = tool("sha256sum")
    nb = NextBoot(tmp_path, "qemu-4g")
    stub(nb.bin, "sha256sum", 'for a in "$@"; do case $a in --*) echo "sha256sum: unrecognized option" >&2; '
                              f'exit 1;; esac; done\nexec {real} "$@"')
    window_fs(nb.fs)
    run = nb.recover()
    assert run.code == 0, run.err
    assert all("--quiet" not in c for c in run.called("sha256sum")), run.called("sha256sum")
    assert (nb.stored() / "vmcore").exists()


def test_dax_claim_from_an_earlier_boot_is_not_taken_for_an_interrupted_run(tmp_path: Path) -> None:
    """Hotplug, warm reboot: the last release's info block survived, so the kernel made a dax device and no
    /dev/pmem. Only this boot's own ndctl marker means "an earlier run stopped after ndctl"; otherwise the
    surviving claim proves no capture wrote to the window since (capture.sh zeroes it first)."""
    nb = NextBoot(tmp_path, "chromebook-4g")
    (nb.root / "sys/block/pmem0/device").unlink()
    (nb.root / "sys/block/pmem0").rmdir()
    run = nb.recover()
    assert run.code == 0, run.err
    assert "from an earlier boot's release" in run.err and "stopped after ndctl" not in run.err
    assert not run.called("ndctl") and run.called("daxctl")


def test_ndctl_marker_is_written_before_ndctl(tmp_path: Path) -> None:
    nb = NextBoot(tmp_path, "chromebook-4g")
    nb.filesystem(False)
    run = nb.recover(STUB_DAXCTL_RC="1")
    assert run.code == 35 and run.called("ndctl")
    assert (nb.root / f"var/lib/layoutc/ndctl-{BOOT_ID}").exists()
    # the namespace is devdax now: the retry in the same boot finishes with daxctl
    (nb.root / "sys/block/pmem0/device").unlink()
    (nb.root / "sys/block/pmem0").rmdir()
    retry = nb.recover()
    assert retry.code == 0, retry.err
    assert "an earlier run in this boot stopped after ndctl" in retry.err and not retry.called("ndctl")


def test_filesystem_with_files_but_no_marker_is_kept(tmp_path: Path) -> None:
    """A window filesystem holding anything but lost+found without COMPLETE/INCOMPLETE is not provably
    dump-free: it is kept (exit 32), never returned to RAM."""
    nb = NextBoot(tmp_path, "chromebook-4g")
    window_fs(nb.fs)
    (nb.fs / "COMPLETE").unlink()
    run = nb.recover()
    assert run.code == 32, run.err
    assert not run.called("ndctl") and not run.called("daxctl")


def test_empty_filesystem_is_returned(tmp_path: Path) -> None:
    """capture.sh made the filesystem, then failed to mount it (exit 42): nothing was written."""
    nb = NextBoot(tmp_path, "chromebook-4g")
    (nb.fs / "lost+found").mkdir(parents=True)
    run = nb.recover()
    assert run.code == 0, run.err
    assert "a filesystem but no dump" in run.err and run.called("daxctl")


def _held(run: Run) -> None:
    """The window stays out of RAM: nothing of the release ran."""
    assert not run.called("ndctl") and not run.called("daxctl") and not run.called("arm.sh"), run.calls
    assert not run.called("systemctl"), run.calls


def _no_node(nb: NextBoot) -> None:
    (nb.root / "dev/pmem0").unlink()


def _read_error(nb: NextBoot) -> None:
    (nb.root / "dev/pmem0").unlink()
    (nb.root / "dev/pmem0").mkdir()  # read(2) fails (EISDIR), as it does on a media error (EIO)


def _short(nb: NextBoot) -> None:
    put(nb.root, "dev/pmem0", bytes(1081))  # one byte of the magic


def _truncated(nb: NextBoot) -> None:
    put(nb.root, "dev/pmem0", bytes(512))  # the magic lies past the end


@pytest.mark.parametrize("name", ["qemu-4g", "chromebook-4g"])
@pytest.mark.parametrize("damage", [_no_node, _read_error, _short, _truncated], ids=lambda f: f.__name__[1:])
def test_unreadable_window_is_kept(tmp_path: Path, name: str, damage: Callable[[NextBoot], None]) -> None:
    """Only two bytes read without error may say "no ext4 magic, no dump": a failed or short read of the
    window is not a reading that it is empty, so it is kept (37), never returned to RAM."""
    nb = NextBoot(tmp_path, name)
    window_fs(nb.fs)
    damage(nb)
    run = nb.recover()
    assert run.code == 37, (run.code, run.err)
    assert "holds no dump" not in run.err and "kept, not returned to RAM" in run.err, run.err
    assert any("[daemon.err]" in c and "/dev/pmem0" in c for c in run.called("logger")), run.calls
    _held(run)


def test_window_listing_failure_keeps_the_window(tmp_path: Path) -> None:
    """A filesystem without markers is dump-free only if its listing succeeded and showed nothing."""
    nb = NextBoot(tmp_path, "chromebook-4g")
    (nb.fs / "lost+found").mkdir(parents=True)
    find = tool("find")
    stub(nb.bin, "find", f'case " $* " in *" -delete "*) exec {find} "$@" ;; esac\n{find} "$@" >/dev/null; exit 1')
    run = nb.recover()
    assert run.code == 37 and "cannot list" in run.err, (run.code, run.err)
    _held(run)


def test_unreadable_boot_id_keeps_the_window(tmp_path: Path) -> None:
    """State markers are per boot_id: a run that cannot name its boot must not release (a made-up id would
    match a later boot's markers and skip it)."""
    nb = NextBoot(tmp_path, "chromebook-4g")
    nb.filesystem(False)
    (nb.root / "proc/sys/kernel/random/boot_id").unlink()
    run = nb.recover()
    assert run.code == 37 and "boot id" in run.err, (run.code, run.err)
    _held(run)
    assert not list((nb.root / "var/lib/layoutc").glob("*-unknown"))


def _covered(directory: Path) -> None:
    """Every stored file but SHA256SUMS is named in SHA256SUMS, and sha256sum -c passes."""
    sums = (directory / "SHA256SUMS").read_text().splitlines()
    listed = {line.split(None, 1)[1].lstrip("*") for line in sums}
    stored = {p.name for p in directory.iterdir()} - {"SHA256SUMS"}
    assert stored == listed, (stored, listed)
    subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=directory, check=True, capture_output=True)


@pytest.mark.parametrize("complete", [True, False])
def test_every_stored_file_is_covered_by_sha256sums(tmp_path: Path, complete: bool) -> None:
    nb = NextBoot(tmp_path, "qemu-4g")
    window_fs(nb.fs, complete=complete)
    run = nb.recover()
    assert run.code == 0, run.err
    dest = nb.stored("" if complete else "-incomplete")
    _covered(dest)
    marker = "COMPLETE" if complete else "INCOMPLETE"
    assert (dest / marker).read_bytes() == (nb.fs / marker).read_bytes()
    # the capture's own lines come first, unchanged: the lab reads the vmcore's line from the store
    assert (dest / "SHA256SUMS").read_text().startswith((nb.fs / "SHA256SUMS").read_text())


def test_file_not_covered_by_sha256sums_keeps_the_window(tmp_path: Path) -> None:
    """A file in the window that SHA256SUMS does not name cannot be verified: nothing is stored or released."""
    nb = NextBoot(tmp_path, "chromebook-4g")
    window_fs(nb.fs)
    (nb.fs / "vmcore.1").write_bytes(b"more of the dump")
    run = nb.recover()
    assert run.code == 32 and "vmcore.1" in run.err and "does not cover" in run.err, (run.code, run.err)
    _held(run)
    assert not run.called("upload") and not nb.stored().exists()
    assert not list(nb.stored().parent.iterdir()), "no partial copy left"


@pytest.mark.parametrize("line", ["../etc/passwd", "sub/vmcore", "-rf"])
def test_sha256sums_naming_other_paths_keeps_the_window(tmp_path: Path, line: str) -> None:
    nb = NextBoot(tmp_path, "chromebook-4g")
    window_fs(nb.fs)
    target = nb.fs / line.lstrip("./")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"x")
    digest = subprocess.run(["sha256sum", "--", line.lstrip("./")], cwd=nb.fs, capture_output=True, text=True,
                            check=True).stdout.split()[0]
    with (nb.fs / "SHA256SUMS").open("a") as sums:
        sums.write(f"{digest}  {line}\n")
    run = nb.recover()
    assert run.code == 32, (run.code, run.err)
    _held(run)


def test_missing_sha256sums_keeps_the_window(tmp_path: Path) -> None:
    """The crash kernel died before SHA256SUMS: the INCOMPLETE dump cannot be verified, so it is kept."""
    nb = NextBoot(tmp_path, "chromebook-4g")
    window_fs(nb.fs, complete=False)
    (nb.fs / "SHA256SUMS").unlink()
    run = nb.recover()
    assert run.code == 32 and "no SHA256SUMS" in run.err, (run.code, run.err)
    _held(run)


def test_complete_tmp_is_not_stored(tmp_path: Path) -> None:
    """The crash kernel died between writing COMPLETE.tmp and its rename: the dump is INCOMPLETE, and the
    temporary marker (an id and a time) is not stored, so the store stays covered by SHA256SUMS."""
    nb = NextBoot(tmp_path, "qemu-4g")
    window_fs(nb.fs, complete=False)
    (nb.fs / "COMPLETE.tmp").write_text(f"id={DUMP_ID}\nstamp=20261126T180000Z\n")
    run = nb.recover()
    assert run.code == 0, run.err
    _covered(nb.stored("-incomplete"))
    assert not (nb.stored("-incomplete") / "COMPLETE.tmp").exists()


def test_hanging_upload_times_out_and_keeps_the_window(tmp_path: Path) -> None:
    """timeout(1) bounds the upload: a hung upload ends with 34, the dump stored and the window held."""
    nb = NextBoot(tmp_path, "qemu-4g")
    window_fs(nb.fs)
    began = time.monotonic()
    run = nb.recover(STUB_UPLOAD_SLEEP="30", LAYOUTC_UPLOAD_TIMEOUT="1")
    assert time.monotonic() - began < 20, "the upload was not stopped"
    assert run.code == 34 and "timed out after 1 s" in run.err, (run.code, run.err)
    _held(run)
    assert (nb.stored() / "vmcore").exists() and (nb.root / f"var/lib/layoutc/stored-{DUMP_ID}").exists()
    assert not (nb.root / f"var/lib/layoutc/uploaded-{DUMP_ID}").exists()
    # a later production boot retries it; hanging again is logged as a timeout, and said by the exit
    put(nb.root, "proc/cmdline", f"console=ttyS0 {nb.doc['cmdline']['production']}\n")
    again = nb.recover(STUB_UPLOAD_SLEEP="30", LAYOUTC_UPLOAD_TIMEOUT="1")
    assert again.code == 34 and "timed out after 1 s again" in again.err, (again.code, again.err)


def test_upload_bound_is_rendered_and_the_unit_does_not_cut_it() -> None:
    """recover.sh bounds the upload with timeout(1) (the documented 1800 s default); the unit's start
    timeout must never stop the script before that bound (infinity: it would stop it between ndctl and
    daxctl)."""
    produced = artifacts(with_recovery(profile("qemu-4g"), upload=("/usr/bin/up", "{dump}")), layout("qemu-4g"))
    script = produced["device/recover.sh"].decode()
    assert "UPLOAD_TIMEOUT=${LAYOUTC_UPLOAD_TIMEOUT:-1800}" in script
    assert re.search(r'timeout -k 30 "\$UPLOAD_TIMEOUT" ', script), script
    unit = produced["device/systemd/layoutc-recover.service"].decode()
    (value,) = re.findall(r"^TimeoutStartSec=(.*)$", unit, re.M)
    assert value == "infinity" or int(value) > 1800 + 30
