"""arm.sh against fake sysfs/procfs trees: it arms when the layout holds, and each wrong layout is
refused with its own exit code and a one-line reason (stderr and logger), without calling kexec.

The trees start from a real capture (trees/qemu-k7-pc-4G-movablecore-512M: zoneinfo, iomem) of the
machine qemu-4g describes, with the layout's parameters and crash reservation added.
"""

from __future__ import annotations

import dataclasses
import fcntl
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .helpers import HERE, Run, layout, profile, put, run_script, stub, tool, write_artifacts

CAPTURE = HERE / "trees" / "qemu-k7-pc-4G-movablecore-512M"
BS = 128 << 20


class Board:
    """A rendered board plus a fake root that satisfies its layout, and kexec/logger stubs."""

    def __init__(self, tmp: Path, name: str, prof: Any = None, doc: dict[str, Any] | None = None) -> None:
        tool("sh")
        self.doc = doc or layout(name)
        self.device = write_artifacts(prof or profile(name), self.doc, tmp / "out")
        self.root = tmp / "root"
        self.bin = tmp / "bin"
        stub(self.bin, "logger", "")
        stub(self.bin, "dmesg", 'cat "$LAYOUTC_ROOT/dmesg.txt" 2>/dev/null || :')
        loaded = '"$LAYOUTC_ROOT/sys/kernel/kexec_crash_loaded"'
        stub(self.bin, "kexec", 'if [ -n "${STUB_KEXEC_FAIL:-}" ]; then exit 1; fi\n'
                                f'[ -n "${{STUB_KEXEC_NOLOAD:-}}" ] || echo 1 >{loaded}')
        w = self.doc.get("dump_window")
        self.window = (w["start"], w["end"]) if w else None
        ck = next(r for r in self.doc["regions"] if r["kind"] == "crashkernel")
        iomem = (CAPTURE / "iomem").read_text().replace(
            "00100000-bffdffff : System RAM\n",
            f"00100000-bffdffff : System RAM\n  {ck['start']:x}-{ck['end'] - 1:x} : Crash kernel\n")
        put(self.root, "proc/iomem", iomem)
        put(self.root, "proc/zoneinfo", (CAPTURE / "zoneinfo").read_text())
        self.cmdline(self.doc["cmdline"]["production"])
        block = self.doc["memory"]["block_size"]
        put(self.root, "sys/devices/system/memory/block_size_bytes", f"{block:x}\n")
        put(self.root, "sys/kernel/kexec_crash_size", f"{self.doc['crashkernel']['size']}\n")
        put(self.root, "sys/kernel/kexec_crash_loaded", "0\n")
        put(self.root, "boot/crash/vmlinuz", "kernel")
        put(self.root, "boot/crash/initrd.img", "initrd")
        put(self.root, "proc/kallsyms", "0000000000000000 T _text\n")  # arm64 boards check for it (exit 23)
        for block in range(32, 40):  # 0x100000000-0x13fffffff: Normal below 0x120000000, then Movable
            self.block(block, "online", "Normal" if block < 36 else "Movable")

    def cmdline(self, params: str) -> None:
        put(self.root, "proc/cmdline", f"console=ttyS0 {params}\n")

    def block(self, index: int, state: str, zones: str) -> None:
        put(self.root, f"sys/devices/system/memory/memory{index}/state", state + "\n")
        put(self.root, f"sys/devices/system/memory/memory{index}/valid_zones", zones + "\n")

    def arm(self, *args: str, **env: str) -> Run:
        return run_script(self.device / "arm.sh", self.root, self.bin, *args, env=env)


def refused(run: Run, code: int, words: str) -> None:
    assert run.code == code, (run.code, run.err)
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("layoutc-arm: ") and words in lines[0], run.err
    assert not run.called("kexec"), "a wrong layout must never arm"
    assert any(words in c for c in run.called("logger")), "the reason goes to the journal too"


def test_production_arms(tmp_path: Path) -> None:
    b = Board(tmp_path, "qemu-4g")
    run = b.arm("production")
    assert run.code == 0, run.err
    (kexec,) = run.called("kexec")
    boot = f"{b.root}/boot/crash"
    assert kexec.startswith(f"kexec [-p] [{boot}/vmlinuz] [--initrd={boot}/initrd.img]")
    assert "[--append=console=ttyS0 memmap=272M!0x127000000 irqpoll nr_cpus=1 reset_devices]" in kexec


def test_lockdown_uses_kexec_file_load(tmp_path: Path) -> None:
    b = Board(tmp_path, "qemu-4g")
    put(b.root, "sys/kernel/security/lockdown", "none [integrity] confidentiality\n")
    run = b.arm("production")
    assert run.code == 0 and run.called("kexec")[0].startswith("kexec [-s] [-p]"), run.err


def _movable_start_late(b: Board) -> None:
    text = (b.root / "proc/zoneinfo").read_text().replace("start_pfn:           1179648",
                                                          "start_pfn:           1245184")
    put(b.root, "proc/zoneinfo", text)


def _kernel_in_window(b: Board) -> None:
    assert b.window
    put(b.root, "proc/iomem", (b.root / "proc/iomem").read_text().replace(
        "100000000-13fffffff : System RAM\n",
        f"100000000-13fffffff : System RAM\n"
        f"  {b.window[0] + 0x200000:x}-{b.window[0] + 0x3fffff:x} : Kernel code\n"))


def _pmem_in_window(b: Board) -> None:
    assert b.window
    put(b.root, "proc/iomem", (b.root / "proc/iomem").read_text() +
        f"{b.window[0]:x}-{b.window[1] - 1:x} : Persistent Memory (legacy)\n")


def _iomem_zeroed(b: Board) -> None:
    """What a reader without CAP_SYS_ADMIN sees: every address printed as 0 (kernel/resource.c r_show)."""
    text = (b.root / "proc/iomem").read_text()
    put(b.root, "proc/iomem", re.sub(r"[0-9a-f]+-[0-9a-f]+ :", lambda m: re.sub("[0-9a-f]", "0", m.group()), text))


def _iomem_missing(b: Board) -> None:
    (b.root / "proc/iomem").unlink()


def _iomem_empty(b: Board) -> None:
    put(b.root, "proc/iomem", "")


FAILURES: dict[str, tuple[Callable[[Board], None], int, str]] = {
    "cmdline-missing-crashkernel": (lambda b: b.cmdline("movablecore=512M nokaslr"), 10, "crashkernel=256M"),
    "production-on-recovery-boot": (lambda b: b.cmdline(b.doc["cmdline"]["recovery"]), 10, "recovery boot"),
    "block-size": (lambda b: put(b.root, "sys/devices/system/memory/block_size_bytes", "80000000\n"), 11,
                   "block size"),
    "block-size-garbage": (lambda b: put(b.root, "sys/devices/system/memory/block_size_bytes", "x\n"), 11,
                           "not a hex number"),
    "block-in-normal": (lambda b: b.block(37, "online", "Normal"), 12, "memory block 37"),
    "block-offline": (lambda b: b.block(38, "offline", "Movable"), 12, "memory block 38"),
    "block-missing": (lambda b: (b.root / "sys/devices/system/memory/memory36/state").unlink()
                      or (b.root / "sys/devices/system/memory/memory36/valid_zones").unlink()
                      or (b.root / "sys/devices/system/memory/memory36").rmdir(), 12, "does not exist"),
    "zoneinfo-movable-late": (_movable_start_late, 13, "Movable zone"),
    "kernel-code-in-window": (_kernel_in_window, 14, "'Kernel code'"),
    "pmem-in-window": (_pmem_in_window, 14, "'Persistent Memory (legacy)'"),
    "iomem-unreadable": (_iomem_missing, 21, "cannot read /proc/iomem"),
    "iomem-empty": (_iomem_empty, 21, "/proc/iomem is empty"),
    "iomem-zeroed": (_iomem_zeroed, 21, "no non-zero address"),
    "no-crash-reservation": (lambda b: put(b.root, "sys/kernel/kexec_crash_size", "0\n"), 15,
                             "no crash memory"),
    "small-crash-reservation": (lambda b: put(b.root, "sys/kernel/kexec_crash_size", "134217728\n"), 15,
                                "at least 268435456"),
    "crash-kernel-missing": (lambda b: (b.root / "boot/crash/vmlinuz").unlink(), 18, "crash kernel"),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_production_refuses(tmp_path: Path, case: str) -> None:
    b = Board(tmp_path, "qemu-4g")
    mutate, code, words = FAILURES[case]
    mutate(b)
    refused(b.arm("production"), code, words)


def test_crash_size_on_v619_path(tmp_path: Path) -> None:
    """/sys/kernel/kexec/crash_size (6.19+) wins over the obsolete file."""
    b = Board(tmp_path, "qemu-4g")
    put(b.root, "sys/kernel/kexec/crash_size", "1024\n")
    refused(b.arm("production"), 15, "1024 bytes")


def test_kexec_failure(tmp_path: Path) -> None:
    b = Board(tmp_path, "qemu-4g")
    run = b.arm("production", STUB_KEXEC_FAIL="1")
    assert run.code == 19 and "kexec -p failed" in run.err


def test_not_loaded_after_kexec(tmp_path: Path) -> None:
    b = Board(tmp_path, "qemu-4g")
    run = b.arm("production", STUB_KEXEC_NOLOAD="1")
    assert run.code == 20 and "is not 1" in run.err


def test_usage(tmp_path: Path) -> None:
    b = Board(tmp_path, "qemu-4g")
    assert b.arm().code == 2
    assert b.arm("bogus").code == 2


def _recovery_tree(b: Board) -> None:
    """After dax/kmem: the window is legacy PMEM, its returned blocks online Movable."""
    assert b.window
    b.cmdline(b.doc["cmdline"]["recovery"] or b.doc["cmdline"]["production"])
    dax = b.doc["dump_window"]["devdax"]
    put(b.root, "proc/iomem", (b.root / "proc/iomem").read_text().replace(
        "100000000-13fffffff : System RAM\n",
        f"100000000-{b.window[0] - 1:x} : System RAM\n"
        f"{b.window[0]:x}-{b.window[1] - 1:x} : Persistent Memory (legacy)\n"
        f"  {dax['dax_start']:x}-{b.window[1] - 1:x} : dax0.0\n"
        f"    {dax['kmem_start']:x}-{dax['kmem_end'] - 1:x} : System RAM (kmem)\n"))
    for block in range(dax["kmem_start"] // BS, dax["kmem_end"] // BS):
        b.block(block, "online", "Movable")


def test_recovery_mode_arms(tmp_path: Path) -> None:
    b = Board(tmp_path, "qemu-4g")
    _recovery_tree(b)
    run = b.arm("recovery")
    assert run.code == 0, run.err
    assert run.called("kexec")


def test_recovery_mode_refuses_kernel_blocks(tmp_path: Path) -> None:
    b = Board(tmp_path, "qemu-4g")
    _recovery_tree(b)
    b.block(37, "online", "Normal")  # daxctl --no-movable, or auto_online_blocks=online_kernel
    refused(b.arm("recovery"), 12, "memory block 37")


def test_hotplug_board_has_no_production_mode(tmp_path: Path) -> None:
    b = Board(tmp_path, "chromebook-4g")
    assert b.arm("production").code == 2


def test_rearm(tmp_path: Path) -> None:
    b = Board(tmp_path, "qemu-4g")
    run = b.arm("rearm")
    assert run.code == 0 and not run.called("kexec"), "nothing loaded: nothing to re-arm"
    put(b.root, "sys/kernel/kexec_crash_loaded", "1\n")
    run = b.arm("rearm")
    assert run.code == 0 and run.called("kexec"), run.err
    put(b.root, "sys/devices/system/memory/crash_hotplug", "1\n")
    (b.root / "run/layoutc/armed-ram").unlink()
    assert b.arm("rearm").called("kexec"), "kexec_load (no -s): the kernel cannot update it; reload"


def test_rearm_skips_a_reload_when_system_ram_is_what_was_armed(tmp_path: Path) -> None:
    """A reload unloads the crash kernel for its duration (kernel/kexec.c do_kexec_load frees the loaded image
    first): the udev events of a hand-back or a movability probe reload only when System RAM changed."""
    b = Board(tmp_path, "qemu-4g")
    assert b.arm("production").code == 0
    armed = b.root / "run/layoutc/armed-ram"
    iomem = (b.root / "proc/iomem").read_text()
    assert armed.read_text() == "".join(line + "\n" for line in iomem.splitlines() if "System RAM" in line)
    run = b.arm("rearm")
    assert run.code == 0 and not run.called("kexec"), run.err
    assert "the loaded crash kernel describes the System RAM online now; nothing to re-arm" in run.err
    # a window block offlined, its range gone from the resource tree: a rearm checks the layout again
    put(b.root, "proc/iomem", iomem.replace("100000000-13fffffff : System RAM",
                                            "100000000-12fffffff : System RAM\n138000000-13fffffff : System RAM"))
    b.block(38, "offline", "Movable")
    run = b.arm("rearm")
    assert run.code == 12 and not run.called("kexec"), "a window block offline: refused, the record kept"
    put(b.root, "proc/iomem", iomem)  # and back online: the crash kernel loaded before describes it
    b.block(38, "online", "Movable")
    assert not b.arm("rearm").called("kexec")
    put(b.root, "proc/iomem", iomem + "140000000-147ffffff : System RAM (kmem)\n")  # more memory: reload
    run = b.arm("rearm")
    assert run.code == 0 and run.called("kexec"), run.err
    assert "140000000-147ffffff : System RAM (kmem)" in armed.read_text()
    # unreadable or zeroed addresses (not root) are never taken for the armed state
    put(b.root, "proc/iomem", re.sub(r"[0-9a-f]+-[0-9a-f]+ :", "00000000-00000000 :", iomem))
    assert b.arm("rearm").code == 21
    assert not armed.exists() or "00000000-00000000" not in armed.read_text()


def test_one_arm_at_a_time(tmp_path: Path) -> None:
    """A second kexec -p while one loads fails with EBUSY, and the record must be the last load's: arm.sh waits
    for the lock another one holds; without flock (or the lock) it records nothing, so every rearm reloads."""
    b = Board(tmp_path, "qemu-4g")
    (b.root / "run/layoutc").mkdir(parents=True)
    env = {"PATH": f"{b.bin}:/usr/sbin:/usr/bin:/sbin:/bin", "LAYOUTC_ROOT": str(b.root), "LC_ALL": "C",
           "STUB_LOG": str(tmp_path / "stub.log")}  # fmt: skip
    with open(b.root / "run/layoutc/arm.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = subprocess.Popen(["sh", str(b.device / "arm.sh"), "production"], env=env, stderr=subprocess.PIPE)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=1.5)
        assert not (tmp_path / "stub.log").exists() or "kexec" not in (tmp_path / "stub.log").read_text()
    assert proc.wait(timeout=30) == 0
    assert (b.root / "run/layoutc/armed-ram").exists()
    stub(b.bin, "flock", "exit 1")
    assert b.arm("production").code == 0 and not (b.root / "run/layoutc/armed-ram").exists()
    assert b.arm("rearm").called("kexec"), "nothing recorded: the rearm reloads"


def test_a_failed_load_leaves_no_record(tmp_path: Path) -> None:
    b = Board(tmp_path, "qemu-4g")
    assert b.arm("production").code == 0
    run = b.arm("production", STUB_KEXEC_FAIL="1")
    assert run.code == 19 and not (b.root / "run/layoutc/armed-ram").exists()


def _cma_board(tmp: Path) -> Board:
    b = Board(tmp, "qemu-4g-cma")
    put(b.root, "sys/kernel/kexec_crash_cma_ranges", "100000000-10fffffff\n")
    return b


def test_cma_arms_with_kexec_file_load(tmp_path: Path) -> None:
    b = _cma_board(tmp_path)
    run = b.arm("production")
    assert run.code == 0, run.err
    assert run.called("kexec")[0].startswith("kexec [-s] [-p]")
    assert "crash CMA" not in run.err, "the kernel's ranges are the predicted ones: nothing to report"
    put(b.root, "sys/kernel/kexec_crash_loaded", "1\n")
    put(b.root, "sys/devices/system/memory/crash_hotplug", "1\n")
    run = b.arm("rearm")
    assert run.code == 0 and not run.called("kexec"), "kexec -s and crash_hotplug=1: the kernel updates it"


MISPREDICTED = ("layoutc-arm: the kernel placed crash CMA at {placed}, the layout predicted "
                "[0x100000000, 0x110000000) (placement mispredicted; the dump is unaffected: kexec -s leaves the "
                "kernel's crash CMA ranges out of /proc/vmcore)")


@pytest.mark.parametrize(("ranges", "placed"), [
    ("108000000-117ffffff\n", "[0x108000000, 0x118000000)"),  # moved
    ("100000000-107ffffff\n110000000-117ffffff\n",  # split in two, same total
     "[0x100000000, 0x108000000) [0x110000000, 0x118000000)"),
    ("118000000-11fffffff\n100000000-10fffffff\n",  # the predicted one and one more (kernel order kept)
     "[0x118000000, 0x120000000) [0x100000000, 0x110000000)"),
])
def test_cma_placement_mispredicted_warns_and_arms(tmp_path: Path, ranges: str, placed: str) -> None:
    """The kernel places crash CMA itself and kexec -s leaves its real ranges out of /proc/vmcore (the filter
    spec no longer excludes the predicted ones), so other ranges are reported, not refused."""
    b = _cma_board(tmp_path)
    put(b.root, "sys/kernel/kexec_crash_cma_ranges", ranges)
    run = b.arm("production")
    assert run.code == 0, run.err
    assert run.err.splitlines() == [MISPREDICTED.format(placed=placed),
                                    "layoutc-arm: crash kernel armed (kexec -s -p /boot/crash/vmlinuz)"]
    assert run.called("kexec")
    (warning,) = [c for c in run.called("logger") if "predicted" in c]
    assert "[daemon.warning]" in warning and placed in warning


def test_cma_mispredicted_and_too_small_is_refused_without_the_warning(tmp_path: Path) -> None:
    b = _cma_board(tmp_path)
    put(b.root, "sys/kernel/kexec_crash_cma_ranges", "108000000-10fffffff\n")
    refused(b.arm("production"), 16, "crash CMA is 134217728 bytes")


def test_cma_new_sysfs_path_is_compared_too(tmp_path: Path) -> None:
    b = _cma_board(tmp_path)
    (b.root / "sys/kernel/kexec_crash_cma_ranges").unlink()
    put(b.root, "sys/kernel/kexec/crash_cma_ranges", "108000000-117ffffff\n")
    run = b.arm("production")
    assert run.code == 0, run.err
    assert run.err.splitlines()[0] == MISPREDICTED.format(placed="[0x108000000, 0x118000000)")


def test_only_cma_boards_know_a_predicted_cma_placement(tmp_path: Path) -> None:
    assert "CMA_PREDICTED=" not in (Board(tmp_path, "qemu-4g").device / "arm.sh").read_text()


def test_cma_overlapping_window(tmp_path: Path) -> None:
    b = _cma_board(tmp_path)
    assert b.window
    put(b.root, "sys/kernel/kexec_crash_cma_ranges",
        f"{b.window[0] - (128 << 20):x}-{b.window[0] + (128 << 20) - 1:x}\n")
    refused(b.arm("production"), 16, "overlaps the window")


def test_cma_too_small(tmp_path: Path) -> None:
    b = _cma_board(tmp_path)
    put(b.root, "sys/kernel/kexec_crash_cma_ranges", "100000000-107ffffff\n")
    refused(b.arm("production"), 16, "crash CMA is 134217728 bytes")


def test_cma_ranges_not_reported(tmp_path: Path) -> None:
    b = _cma_board(tmp_path)
    (b.root / "sys/kernel/kexec_crash_cma_ranges").unlink()
    run = b.arm("production")
    assert run.code == 0 and "CMA check skipped" in run.err


def test_prove_movability(tmp_path: Path) -> None:
    """Hocko's method writes offline then online_movable to every window block before arming."""
    prof = dataclasses.replace(profile("qemu-4g"), prove_movability=True)
    b = Board(tmp_path, "qemu-4g", prof)
    run = b.arm("production")
    assert run.code == 0, run.err
    for block in (36, 37, 38):
        assert (b.root / f"sys/devices/system/memory/memory{block}/state").read_text() == "online_movable\n"


def test_prove_movability_refuses_busy_block(tmp_path: Path) -> None:
    """A block that cannot be offlined (EBUSY in a real kernel; here an immutable file) is exit 17."""
    chattr = tool("chattr")
    prof = dataclasses.replace(profile("qemu-4g"), prove_movability=True)
    b = Board(tmp_path, "qemu-4g", prof)
    state = b.root / "sys/devices/system/memory/memory37/state"
    if subprocess.run([chattr, "+i", str(state)], capture_output=True).returncode != 0:
        pytest.skip("the test filesystem has no immutable attribute")
    try:
        refused(b.arm("production"), 17, "memory block 37")
    finally:
        subprocess.run([chattr, "-i", str(state)], check=True)


def test_unsafe_pin_forces_the_movability_proof(tmp_path: Path) -> None:
    """A layout whose ``unsafe`` list is non-empty (a pin overrode a safety rule) proves movability even
    when the profile does not ask: online+Movable blocks and a clean iomem do not show early allocations."""
    prof = profile("qemu-4g")
    assert not prof.prove_movability
    doc = layout("qemu-4g")
    doc["unsafe"] = [{"pin": "window_base", "value": hex(doc["dump_window"]["start"]), "rule": 17,
                      "message": "the window is over the early memblock allocations"}]
    b = Board(tmp_path, "qemu-4g", prof, doc)
    assert "prove_movability 36 38" in (b.device / "arm.sh").read_text()
    run = b.arm("production")
    assert run.code == 0, run.err
    for block in (36, 37, 38):
        assert (b.root / f"sys/devices/system/memory/memory{block}/state").read_text() == "online_movable\n"


def test_no_unsafe_pin_no_proof(tmp_path: Path) -> None:
    b = Board(tmp_path, "qemu-4g")
    assert b.doc.get("unsafe") == []
    assert "prove_movability" not in (b.device / "arm.sh").read_text()


def test_disk_boards_arm(tmp_path: Path) -> None:
    for name in ("server-64g-2node", "arm64-8g"):
        b = Board(tmp_path / name, name)
        if name.startswith("server"):
            put(b.root, "sys/kernel/kexec_crash_cma_ranges", "100000000-13fffffff\n")
        run = b.arm("production")
        assert run.code == 0, (name, run.err)
        assert run.called("kexec")[0].startswith("kexec [-p] [-i] " if name.startswith("arm64") else "kexec [-s] [-p] ")


def test_cma_not_activated(tmp_path: Path) -> None:
    b = _cma_board(tmp_path)
    put(b.root, "dmesg.txt", "[    0.000000] CMA area crashkernel could not be activated\n")
    refused(b.arm("production"), 16, "could not be activated")


def test_recovery_mode_refuses_a_zeroed_iomem(tmp_path: Path) -> None:
    b = Board(tmp_path, "qemu-4g")
    _recovery_tree(b)
    _iomem_zeroed(b)
    assert "00000000-00000000 : System RAM" in (b.root / "proc/iomem").read_text()
    refused(b.arm("recovery"), 21, "no non-zero address")


def test_cma_unreadable_kernel_log_is_refused(tmp_path: Path) -> None:
    """dmesg failing (dmesg_restrict for a non-root reader) cannot show the crashkernel CMA area was activated."""
    b = _cma_board(tmp_path)
    stub(b.bin, "dmesg", "echo 'dmesg: read kernel buffer failed: Operation not permitted' >&2; exit 1")
    refused(b.arm("production"), 16, "cannot read the kernel log")


def test_rearm_waits_for_blocks_in_transition(tmp_path: Path) -> None:
    """udev starts a rearm while a hotplug event (or a movability probe) is still moving a window block: arm.sh
    waits for it to settle, says so, and judges it then."""
    b = Board(tmp_path, "qemu-4g")
    put(b.root, "sys/kernel/kexec_crash_loaded", "1\n")
    b.block(38, "going-offline", "Movable Normal")
    state = b.root / "sys/devices/system/memory/memory38/state"
    # the stubbed sleep: the block comes back online on the second second
    slept = tmp_path / "slept"
    stub(b.bin, "sleep", f'n=$(cat "{slept}" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" >"{slept}"\n'
                         f'[ "$n" -lt 2 ] || {{ echo online >"{state}"; echo Movable >"{state.parent}/valid_zones"; }}')
    run = b.arm("rearm")
    assert run.code == 0 and run.called("kexec"), run.err
    assert "memory block 38 (0x130000000) is 'going-offline'; waiting up to 10s" in run.err, run.err
    assert "the window's blocks settled after 2s" in run.err, run.err


def test_rearm_block_stuck_going_offline(tmp_path: Path) -> None:
    b = Board(tmp_path, "qemu-4g")
    put(b.root, "sys/kernel/kexec_crash_loaded", "1\n")
    b.block(38, "going-offline", "Movable Normal")
    stub(b.bin, "sleep", "")
    run = b.arm("rearm")
    assert run.code == 12 and not run.called("kexec"), run.err
    assert run.err.strip().splitlines()[-1] == ("layoutc-arm: memory block 38 (0x130000000) is still 'going-offline' "
                                                 "after 10s, layout needs online in Movable"), run.err
    assert run.called("sleep") == ["sleep [1]"] * 10, "polled once a second, 10 s in all"
