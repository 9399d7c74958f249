"""arm64 crash-cycle facts: what differs from the x86 cycle's (``cycle_facts``).

* **The crash kernel's device tree.** ``arm.sh`` builds it from ``/sys/firmware/fdt`` and the compiled edit
  (``device/crash-dt.json``) and loads it with ``kexec -p --dtb``; the guest sends the file back
  (``41-crash-dtb``) and the host reads it with ``layoutc.devicetree``: the ``pmem-region`` node with the
  layout's reg and numa-node-id, and no ``kaslr-seed``/``rng-seed`` (kexec-tools refuses a non-zero
  kaslr-seed, LNX:arch/arm64/kernel/machine_kexec_file.c and kexec-tools' setup_2nd_dtb).
* **No legacy PMEM in the crash kernel's /proc/iomem**: the window is a device-tree region that ``of_pmem``
  turns into ``/dev/pmem0`` once capture-init.sh loads it, so the crash fact is the capture's own line
  ("dump window is /dev/pmemN") instead of x86's e820 ``Persistent Memory``.
* **Boot selection.** A direct ``-kernel`` boot has no firmware, so a board that selects its recovery boot
  through EFI (``LoaderEntryOneShot``) cannot in the lab: capture.sh keeps the dump and exits 44, and the host
  plays the boot loader (the recovery boot's ``-append`` and ``-dtb``).
* **The window back as System RAM**: MemTotal grows by the blocks dax/kmem hot-adds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from layoutc.devicetree.edit import SEEDS, edit_from_json, verify
from layoutc.devicetree.fdt import parse
from layoutc.devicetree.tree import FdtError
from layoutc.lab.boot.serial import GuestOutput
from layoutc.lab.facts import procfs
from layoutc.lab.facts.boot_facts import Fact, hexr
from layoutc.lab.facts.cycle_facts import ok_fact
from layoutc.model.layout import Layout

CAPTURE_DEVICE = re.compile(r"layoutc-capture: dump window is /dev/(pmem\d+)")
SELECTION_FAILED = 44  # capture.sh: dump COMPLETE, the recovery boot not selected


def crash_dtb_facts(layout: Layout, out: GuestOutput, edit_json: object) -> list[Fact]:
    """The DTB arm.sh passed to ``kexec -p --dtb`` against the layout's window."""
    w = layout.dump_window
    data = out.files.get("crash-dtb")
    if w is None:
        return []
    name = "crash kernel DTB: pmem-region = the window, numa-node-id, no seeds"
    predicted = f"pmem@{w.start:x} reg {hexr(w.start, w.end)} numa-node-id {w.node}"
    if data is None:
        return [Fact(name, "fail", predicted, "no /run/layoutc/crash.dtb", "arm.sh did not build it")]
    try:
        tree = parse(data)
    except FdtError as exc:
        return [Fact(name, "fail", predicted, f"unreadable DTB: {exc}")]
    path = f"/pmem@{w.start:x}"
    node = tree.find(path)
    chosen = tree.find("/chosen")
    seeds = [s for s in SEEDS if chosen is not None and chosen.has(s)]
    if node is None:
        observed = f"no {path}"
    else:
        regs = ", ".join(hexr(a, a + s) for a, s in tree.reg(path))
        numa = node.u32("numa-node-id") if node.has("numa-node-id") else None
        observed = f"pmem@{w.start:x} reg {regs} numa-node-id {numa}"
    observed += f"; seeds {', '.join(seeds) or 'none'}"
    problems = verify(data, edit_from_json(edit_json))
    detail = f"{len(data)} bytes; layoutc.devicetree verify: {'; '.join(problems) or 'ok'}"
    return [ok_fact(name, not problems and not seeds and observed.startswith(predicted), predicted, observed, detail)]


def capture_device_fact(layout: Layout, out: GuestOutput) -> Fact:
    """The crash kernel found the window as a pmem device (of_pmem on the DT region)."""
    found = CAPTURE_DEVICE.findall(out.console)
    w = layout.dump_window
    predicted = f"/dev/pmem* at {hexr(w.start, w.end)}" if w else "a pmem device"
    return ok_fact("crash kernel: the DT pmem-region is a pmem device (of_pmem)", bool(found), predicted,
                   f"/dev/{found[-1]}" if found else "no 'dump window is' line",
                   "capture.sh finds it by its resource and size (pmem_by_address)")  # fmt: skip


def expected_capture_exit(boot_selection: str) -> int:
    """What capture.sh exits in the lab's direct boot: 44 when the board selects its recovery boot through EFI
    (no firmware here, so no efivarfs), else 0."""
    return SELECTION_FAILED if boot_selection == "efi" else 0


def capture_exit_fact(console: str, boot_selection: str) -> Fact:
    rc = None
    for line in console.splitlines():
        if "capture.sh exited" in line:
            rc = line.split("capture.sh exited", 1)[1].split(";")[0].strip()
    want = expected_capture_exit(boot_selection)
    detail = ("boot_selection efi: a direct -kernel boot has no EFI runtime, so the dump is kept COMPLETE and the "
              "host plays the boot loader" if want else "")  # fmt: skip
    return ok_fact("capture.sh (via capture-init.sh) exit", rc == str(want), str(want), str(rc), detail)


def memtotal_kb(meminfo: str | None) -> int | None:
    m = re.search(r"^MemTotal:\s+(\d+) kB", meminfo or "", re.M)
    return int(m.group(1)) if m else None


def memtotal_fact(layout: Layout, out: GuestOutput, block_size: int) -> Fact | None:
    """MemTotal after the release minus at the recovery boot's start = the blocks kmem hot-added."""
    w = layout.dump_window
    if w is None:
        return None
    before, after = memtotal_kb(out.text("meminfo")), memtotal_kb(out.text("meminfo-recovered"))
    want = w.devdax.blocks_returned * block_size // 1024
    grew = None if before is None or after is None else after - before
    return ok_fact("MemTotal grew by the returned blocks (System RAM (kmem))", grew == want, f"+{want} kB",
                   "unreadable" if grew is None else f"+{grew} kB ({before} -> {after} kB)")  # fmt: skip


def modules_fact(layout: Layout, config: Path, added: Sequence[str]) -> Fact:
    """The modules the lab had to add beside layout.json's crash and recovery lists, because this kernel builds
    them ``=m`` (its shipped config) and the generated scripts need them. None: the assumed arm64 configuration
    builds ext4 as a module as Debian's arm64 kernels do (``kernel/capabilities.py``), so the layout loads it;
    a module named here is one a device with this kernel would lack in its crash kernel or recovery boot."""
    text = config.read_text(errors="replace") if config.is_file() else ""
    states = {m: ("m" if re.search(rf"^CONFIG_{m.upper()}_FS=m$", text, re.M) else "?") for m in added}
    observed = ", ".join(f"{m} (CONFIG_{m.upper()}_FS={s})" for m, s in states.items()) or "none"
    detail = (f"layout.json modules.crash {' '.join(layout.boot_modules.crash) or '(none)'}; modules.recovery "
              f"{' '.join(layout.boot_modules.recovery) or '(none)'}"
              + ("; the lab loads the missing ones itself so the cycle can run" if added else ""))
    return ok_fact("kernel modules the layout lacks (this kernel builds them =m)", not added, "none", observed,
                   detail)  # fmt: skip


def give_back_facts(layout: Layout, out: GuestOutput, block_size: int) -> list[Fact]:
    """A recovery boot over an empty window (``Arm64Cycle.give_back``): recover.sh finds no dump, returns the
    window through devdax and dax/kmem and arms with ``arm.sh recovery``."""
    w = layout.dump_window
    runs = {int(o.get("run", 0)): o for o in out.of_kind("recover")}
    if w is None or 1 not in runs:
        return [Fact("recover.sh ran on the recovery boot", "fail", "3 runs", f"{len(runs)} runs", "serial log")]
    r1 = runs[1]
    text = (out.text("recover-1") or "").strip().replace("\n", " | ")
    facts = [ok_fact("recover.sh, empty window: released and re-armed (arm.sh recovery)",
                     r1.get("rc") == 0 and str(r1.get("loaded")) == "1", "exit 0, kexec_crash_loaded 1",
                     f"exit {r1.get('rc')}, loaded {r1.get('loaded')}", text[-400:])]  # fmt: skip
    before = {b.index for b in procfs.parse_blocks(out.text("blocks-recovery-0") or "") if b.state == "online"}
    after = procfs.parse_blocks(out.text("blocks-recovery-1") or "")
    new = sorted(b.index for b in after if b.state == "online" and b.index not in before)
    zones = sorted({b.zones for b in after if b.index in new})
    want = [w.devdax.kmem_start // block_size + i for i in range(w.devdax.blocks_returned)]
    facts.append(ok_fact("blocks returned to RAM (System RAM (kmem), Movable)", new == want and zones == ["Movable"],
                         f"{', '.join(map(str, want))} Movable",
                         f"{', '.join(map(str, new)) or 'none'} {'/'.join(zones) or '-'}"))  # fmt: skip
    grew = memtotal_fact(layout, out, block_size)
    return [*facts, *([grew] if grew is not None else [])]
