"""The crash cycle: the predicted-vs-observed facts of the arm, crash and recovery boots (see ``cycle``).

Pure readers of what the guests reported (``GuestOutput``) and of the images the host pulled out of
them; ``cycle`` drives the boots and calls these.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layoutc.kernel.cmdline import value_of
from layoutc.kernel.sizing import ImageSizes, crash_reserve_auto, kernel_footprint
from layoutc.lab.boot.serial import GuestOutput
from layoutc.lab.facts import dumpcheck, procfs, windowcensus
from layoutc.lab.facts.boot_facts import Fact, hexr
from layoutc.lab.image import kernels
from layoutc.lab.image.crashrd import CrashImage
from layoutc.lab.report import BootRecord
from layoutc.model.layout import Layout
from layoutc.model.profile import Profile

MiB = 1 << 20


def observation(out: GuestOutput, kind: str) -> Mapping[str, Any]:
    """The last observation of ``kind`` the guest reported (empty when none)."""
    found = out.of_kind(kind)
    return found[-1] if found else {}


def debugfs_dump(image: Path, name: str, dest: Path) -> bool:
    """Copy ``name`` out of the ext4 ``image`` with debugfs (no mount, no root needed)."""
    proc = subprocess.run(["debugfs", "-R", f"dump {name} {dest}", str(image)], capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    return proc.returncode == 0 and dest.is_file() and dest.stat().st_size > 0


@dataclass(frozen=True, slots=True)
class CycleOptions:
    keep_vmcore: bool = False
    reference: bool = True  # a reference dump before capture (the negative control's comparison)
    negative: bool = False
    timeout: float = 400.0
    accel: str = "tcg"
    profile: Path | None = None
    grub: bool = False  # recovery boot through real GRUB in the same QEMU (grubboot.py), not played by the host
    efi: bool = False  # through OVMF + systemd-boot and the LoaderEntryOneShot variable, one QEMU (efiboot.py)
    panic_cpu: int = 0  # the CPU the production guest panics on (50-panic.sh; guests with crash.cpus > 1)


@dataclass
class CycleResult:
    facts: list[Fact]
    boots: list[BootRecord]
    notes: list[str]
    problems: list[str]


def ok_fact(name: str, cond: bool, predicted: str, observed: str, detail: str = "") -> Fact:
    return Fact(name, "pass" if cond else "fail", predicted, observed, detail)


def arm_facts(res: CycleResult, layout: Layout, out: GuestOutput, *, negative: bool) -> None:
    arm = observation(out, "arm")
    text = (out.text("arm-output") or "").strip().replace("\n", " | ")
    if not arm:
        res.problems.append(
            f"production guest never ran arm.sh (see serial-production.log; its console ended: {out.last_words()})"
        )
        return
    if negative:
        res.facts.append(
            ok_fact(
                "arm.sh refuses the unsafe layout",
                arm.get("rc") != 0,
                "non-zero exit, nothing loaded",
                f"exit {arm.get('rc')}, kexec_crash_loaded {arm.get('loaded')}",
                text,
            )
        )
        forced = observation(out, "forced-arm")
        if forced:
            res.facts.append(
                Fact(
                    "negative control: crash kernel loaded by the lab",
                    "info",
                    "1",
                    str(forced.get("loaded")),
                    f"kexec exit {forced.get('rc')}",
                )
            )
        return
    name = "recover.sh + arm.sh recovery (hotplug, first boot)" if arm.get("mode") == "hotplug" else "arm.sh production"
    res.facts.append(ok_fact(f"{name} verdict", arm.get("rc") == 0, "exit 0", f"exit {arm.get('rc')}", text))
    res.facts.append(ok_fact("kexec_crash_loaded", str(arm.get("loaded")) == "1", "1", str(arm.get("loaded"))))


def reservation_fact(
    res: CycleResult, profile: Profile | None, doc: Mapping[str, Any], vmlinuz: Path, crash: CrashImage, built: float
) -> None:
    """The layout's crash reservation against layoutc's sizing model fed the lab's real files (what
    ``layoutc estimate --kernel VMLINUZ --initrd INITRD`` prints): the kernel's in-RAM size from its bzImage
    header and the crash initramfs as built. Measured: chromebook-4g's 144M (sized for a 10M kernel and a 6M
    initrd) left Debian's kernel and this initramfs 62 MiB, and the dumper was OOM-killed once python3-zstandard
    was added; the model with the real files asked for 176M."""
    ck = doc.get("crashkernel") or {}
    reserve, cma = int(ck.get("size") or 0), int(ck.get("cma_size") or 0)
    data = vmlinuz.read_bytes()
    footprint = kernel_footprint(data)
    detail = (
        f"kernel in RAM {(footprint or 0) / MiB:.1f} MiB (bzImage init_size; file {len(data) / MiB:.1f} MiB), "
        f"initramfs {crash.size / MiB:.1f} MiB compressed, {crash.unpacked / MiB:.1f} MiB unpacked (python3.11 + "
        f"stdlib + libraries {crash.python_bytes / MiB:.1f} MiB, zipapp {crash.zipapp_bytes} B); built in "
        f"{built:.1f} s; modules {' '.join(crash.modules)}"
    )
    if profile is None:
        res.facts.append(Fact("crash reservation holds the real crash kernel and initramfs", "fail", "", "no profile",
                              detail))  # fmt: skip
        return
    model = crash_reserve_auto(profile, ImageSizes(footprint, len(data), crash.size))
    is_cma = model.crash_memory == "cma"
    res.facts.append(
        ok_fact(
            "crash reservation holds the real crash kernel and initramfs (sizing model)",
            0 < model.reserve <= reserve and (not is_cma or model.cma_minimum <= cma),
            f"crashkernel={reserve // MiB}M" + (f", ,cma {cma // MiB}M" if is_cma else ""),
            f"the lab's files need {model.reserve // MiB}M"
            + (f", ,cma >= {-(-model.cma_minimum // MiB)}M" if is_cma else ""),
            detail,
        )
    )


def crash_facts(res: CycleResult, layout: Layout, out: GuestOutput, opts: CycleOptions) -> None:
    ck = observation(out, "crash-kernel")
    if not ck:
        res.problems.append(
            f"the crash kernel never reached its /init (see serial-production.log; its console ended: "
            f"{out.last_words()})"
        )
        return
    res.facts.append(
        ok_fact(
            "/proc/vmcore present in the crash kernel",
            ck.get("vmcore") is True,
            "present",
            f"{'present' if ck.get('vmcore') else 'absent'}, {int(ck.get('vmcore_bytes', 0)) / MiB:.0f} MiB; "
            f"crash kernel MemTotal {int(ck.get('memtotal_kb', 0)) // 1024} MiB",
        )
    )
    w = layout.dump_window
    if w is not None and layout.strategy.target == "pmem-window":
        iomem = procfs.parse_iomem(out.text("iomem-crash") or "")
        pmem = [(r.start, r.end) for r in iomem if r.name.startswith("Persistent Memory")]
        res.facts.append(
            ok_fact(
                "crash kernel: legacy PMEM is exactly the window",
                pmem == [(w.start, w.end)],
                hexr(w.start, w.end),
                ", ".join(hexr(s, e) for s, e in pmem) or "none",
            )
        )
    ref = observation(out, "reference-dump")
    if ref:
        res.facts.append(
            Fact(
                "reference dump (before capture)",
                "info" if ref.get("rc") == 0 else "fail",
                "exit 0",
                f"exit {ref.get('rc')}, {int(ref.get('bytes', 0)) / MiB:.1f} MiB in {ref.get('seconds')} s",
                (out.text("reference-output") or "")[-300:],
            )
        )
    cap = [line for line in out.console.splitlines() if "layoutc-capture:" in line or "capture.sh exited" in line]
    if cap:
        res.notes.append("crash kernel: " + " | ".join(line.strip() for line in cap[-6:]))
    rc = None
    for line in out.console.splitlines():
        if "capture.sh exited" in line:
            rc = line.split("capture.sh exited", 1)[1].split(";")[0].strip()
    if not opts.negative:
        res.facts.append(ok_fact("capture.sh (via capture-init.sh) exit", rc == "0", "0", str(rc)))
    workers = _dump_workers(out.console)
    if workers is not None:  # the layoutc dumper (makedumpfile says nothing of workers)
        nr_cpus = value_of(layout.cmdline.crash, "nr_cpus")
        want = int(nr_cpus) if nr_cpus is not None and nr_cpus.isdigit() else 1  # absent: capture.sh's 1
        res.facts.append(ok_fact("dumper workers = the crash kernel's CPUs (nr_cpus=; capture.sh online_cpus)",
                                 workers == want, str(want), str(workers)))  # fmt: skip


def _dump_workers(console: str) -> int | None:
    """N of capture.sh's "dumping with N worker(s)" line, None without one."""
    for line in console.splitlines():
        head, sep, _ = line.partition(" worker(s)")
        words = head.split()
        if sep and len(words) >= 2 and words[-2] == "with" and words[-1].isdigit():
            return int(words[-1])
    return None


def keep_vmcore(res: CycleResult, out: GuestOutput, work: Path, k: kernels.Kernel, layout: Layout) -> None:
    kept = observation(out, "keep-vmcore")
    img = work / "vmcore.img"
    if not kept or kept.get("rc") != 0 or not img.is_file():
        res.facts.append(Fact("--keep-vmcore", "fail", "copied", json.dumps(dict(kept)) if kept else "not run"))
        return
    size = int(kept["bytes"])
    with img.open("r+b") as fh:
        fh.truncate(size)
    dest_dir = kernels.cache_dir() / "vmcores"
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"{k.release}-{layout.board}.vmcore"
    os.replace(img, dest)
    res.facts.append(Fact("--keep-vmcore", "info", "saved", f"{dest} ({size / MiB:.0f} MiB, {kept.get('seconds')} s)"))


def reference_dump(work: Path) -> Path | None:
    dest = work / "reference.vmcore"
    return dest if debugfs_dump(work / "scratch.img", "/reference.vmcore", dest) else None


def window_loss(
    res: CycleResult,
    ref: Path,
    dump: Path,
    window: tuple[int, int] | None,
    *,
    negative: bool,
    dumper_text: str = "",
) -> None:
    """Pages the reference (window not excluded) keeps that the capture lacks, what they were, and whether
    the dumper's own census (its ``dump window`` note) says the same."""
    cmp = dumpcheck.compare_dumps(ref, dump)
    lost = dumpcheck.only_in_first(ref, dump)
    inside = [p for p in lost if window and window[0] <= p * 4096 < window[1]]
    host = windowcensus.host_census(ref, inside)
    outside = len(lost) - len(inside)
    where = (
        f"{len(lost)} pages kept by the reference are missing from the capture, {len(inside)} of them in the "
        f"window: {host.free} free (refcount 0, no mapping), {host.in_use} in use, {host.unread} unread"
    )
    detail = f"{cmp.summary}; {where}; {host.detail}"
    own = windowcensus.dumper_census(dumper_text)
    if negative:
        res.facts.append(
            ok_fact(
                "negative control: the window took pages in use that the dump level keeps",
                host.in_use > 0 and cmp.pfns_only_in_b == 0,
                "in-use pages lost in the window",
                f"{host.in_use} in-use pages lost",
                detail,
            )
        )
    else:
        res.facts.append(
            ok_fact(
                "no page in use lost: dump = reference made before the window was written, but free pages",
                outside == 0 and host.in_use == 0 and host.unread == 0 and cmp.pfns_only_in_b == 0
                and cmp.pages_differing == 0,
                "0 in use lost, 0 changed",
                f"{host.in_use + host.unread + outside} in use lost, {cmp.pages_differing} changed, "
                f"{host.free} free pages overwritten",
                detail,
            )
        )  # fmt: skip
    if window is None:
        return  # a disk target: no window, so no census (the dumper prints none)
    res.facts.append(
        ok_fact(
            "dumper's window census = the host's (drgn on the reference)",
            own == (len(inside), host.free, host.in_use),
            f"{len(inside)} pages, {host.free} free, {host.in_use} in use",
            "no census note" if own is None else f"{own[0]} pages, {own[1]} free, {own[2]} in use",
        )
    )


def negative_facts(res: CycleResult, work: Path, layout: Layout, out: GuestOutput) -> None:
    ref = reference_dump(work)
    after = work / "after.vmcore"
    if ref is None or not debugfs_dump(work / "scratch.img", "/after.vmcore", after):
        res.facts.append(Fact("negative control: dump corrupted silently", "fail", "both dumps", "a dump is missing"))
        return
    cap = observation(out, "capture")
    res.facts.append(
        Fact("negative control: capture.sh exit", "info", "0 (nothing notices)", str(cap.get("rc")),
             (out.text("capture-output") or "").strip().replace("\n", " | ")[-300:])
    )  # fmt: skip
    w = layout.dump_window
    window_loss(res, ref, after, (w.start, w.end) if w else None, negative=True,
                dumper_text=out.text("capture-output") or "")  # fmt: skip


def recovery_facts(
    res: CycleResult,
    layout: Layout,
    out: GuestOutput,
    doc: Mapping[str, Any],
    k: kernels.Kernel,
    work: Path,
    store: str = "/var/crash",
    crash_console: str = "",
) -> None:
    w = layout.dump_window
    runs = {int(o.get("run", 0)): o for o in out.of_kind("recover")}
    if not runs:
        res.problems.append(
            f"the recovery boot never ran recover.sh (see serial-recovery.log; its console ended: {out.last_words()})"
        )
        return
    if w is not None:
        pm = [line.split() for line in (out.text("pmem-recovery") or "").splitlines() if line.strip()]
        seen = [(int(p[1], 16), int(p[1], 16) + int(p[2])) for p in pm if len(p) == 3]
        res.facts.append(
            ok_fact(
                "/dev/pmem* covers exactly the window (recovery boot)",
                seen == [(w.start, w.end)],
                hexr(w.start, w.end),
                ", ".join(f"{p[0]} {hexr(s, e)}" for p, (s, e) in zip(pm, seen, strict=False)) or "none",
            )
        )
    _recover_run_facts(res, layout, out, runs, store)
    _block_facts(res, layout, out, runs)
    dump_facts(res, layout, out, doc, k, work, crash_console)


def _recover_run_facts(
    res: CycleResult, layout: Layout, out: GuestOutput, runs: Mapping[int, Mapping[str, Any]], store: str
) -> None:
    """recover.sh's first run (the upload fails: the dump is kept) and its second (the upload works)."""
    w = layout.dump_window
    r1, r2 = runs.get(1, {}), runs.get(2, {})
    prefix = f"{store.rstrip('/')}/"
    kept_store = any(prefix in line and line.endswith("/vmcore") for line in (out.text("state-1") or "").splitlines())
    kept = ("window", r1.get("magic") == "53ef", "ext4 in window", f"window magic {r1.get('magic')}")
    if w is None:  # a disk target: the guest mounted the crash disk after the run and counted COMPLETE dumps
        kept = ("disk", r1.get("disk") == "1", "1 complete dump on the disk", f"dumps on the disk {r1.get('disk')}")
    res.facts.append(
        ok_fact(
            f"upload fails: recover.sh exit 34, dump kept in the {kept[0]} and the store",
            r1.get("rc") == 34 and kept[1] and kept_store,
            f"exit 34, {kept[2]}, stored",
            f"exit {r1.get('rc')}, {kept[3]}, stored {kept_store}",
            (out.text("recover-1") or "").strip().replace("\n", " | ")[-400:],
        )
    )
    rearm = w is not None  # disk targets: recover.sh only stores and uploads (arm.sh production is its own unit)
    res.facts.append(
        ok_fact(
            "recover.sh after the upload works",
            r2.get("rc") == 0
            and (str(r2.get("loaded")) == "1" if rearm else int(r2.get("uploads", 0)) > int(r1.get("uploads", 0))),
            "exit 0, re-armed (kexec_crash_loaded 1)" if rearm else "exit 0, uploaded",
            f"exit {r2.get('rc')}, loaded {r2.get('loaded')}, uploads {r2.get('uploads')}",
            (out.text("recover-2") or "").strip().replace("\n", " | ")[-400:],
        )
    )


def _block_facts(res: CycleResult, layout: Layout, out: GuestOutput, runs: Mapping[int, Mapping[str, Any]]) -> None:
    """The window's blocks back in RAM after the runs, and the third run changes nothing."""
    w = layout.dump_window
    r2, r3 = runs.get(2, {}), runs.get(3, {})
    b1 = {b.index for b in procfs.parse_blocks(out.text("blocks-recovery-1") or "") if b.state == "online"}
    b2 = procfs.parse_blocks(out.text("blocks-recovery-2") or "")
    new = sorted(b.index for b in b2 if b.state == "online" and b.index not in b1)
    zones = {b.zones for b in b2 if b.index in new}
    if w is not None:
        res.facts.append(
            ok_fact(
                "blocks returned to RAM",
                len(new) == w.devdax.blocks_returned,
                str(w.devdax.blocks_returned),
                f"{len(new)} ({', '.join(map(str, new))}; zones {', '.join(sorted(zones)) or '-'})",
            )
        )
    b3 = procfs.parse_blocks(out.text("blocks-recovery-3") or "")
    same = out.text("state-2") == out.text("state-3") and b2 == b3 and r3.get("uploads") == r2.get("uploads")
    res.facts.append(
        ok_fact(
            "second recovery run is a no-op",
            r3.get("rc") == 0 and same,
            "exit 0, nothing changed",
            f"exit {r3.get('rc')}, state {'unchanged' if same else 'CHANGED'}, uploads {r3.get('uploads')}",
        )
    )


def dump_facts(
    res: CycleResult,
    layout: Layout,
    out: GuestOutput,
    doc: Mapping[str, Any],
    k: kernels.Kernel,
    work: Path,
    crash_console: str = "",
) -> None:
    """``crash_console``: the production/crash serial output, where the dumper printed its notes."""
    up = observation(out, "upload")
    sums = out.text("store-SHA256SUMS") or ""
    complete = "store-COMPLETE" in out.files and "store-INCOMPLETE" not in out.files
    res.facts.append(
        ok_fact(
            "dump complete (COMPLETE marker, no INCOMPLETE)",
            complete,
            "COMPLETE",
            "COMPLETE" if complete else "INCOMPLETE/none",
        )
    )
    if not up:
        res.facts.append(Fact("dump exported by the upload", "fail", "uploaded", "no upload observed"))
        return
    size = int(up["bytes"])
    dump = work / "vmcore.kdump"
    with (work / "export.img").open("rb") as src, dump.open("wb") as dst:
        dst.write(src.read(size))
    digest = hashlib.sha256(dump.read_bytes()).hexdigest()
    listed = {line.split()[1].lstrip("*"): line.split()[0] for line in sums.splitlines() if len(line.split()) == 2}
    res.facts.append(
        ok_fact(
            "dump verifies after the reboot (sha256 = SHA256SUMS)",
            digest == listed.get("vmcore") == up.get("sha256"),
            listed.get("vmcore", "?")[:16],
            digest[:16],
            f"{size / MiB:.1f} MiB",
        )
    )
    try:
        info, *_ = dumpcheck.read_kdump(dump)
    except ValueError as exc:
        res.facts.append(Fact("dump format", "fail", "kdump", str(exc)))
        return
    _kdump_facts(res, info, dump, work, k)
    ref = reference_dump(work)
    if ref is not None:
        w = layout.dump_window
        window_loss(res, ref, dump, (w.start, w.end) if w else None, negative=False, dumper_text=crash_console)
    keep = kernels.cache_dir() / "dumps"
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(dump, keep / f"{k.release}-{layout.board}.kdump")


def _kdump_facts(res: CycleResult, info: dumpcheck.KdumpInfo, dump: Path, work: Path, k: kernels.Kernel) -> None:
    """The exported dump's kdump header against the generated filter spec, and drgn opening it."""
    spec = json.loads((work.parent / "artifacts" / "device" / "filter.json").read_text())
    res.facts.append(
        ok_fact(
            "page classes excluded (kdump dump_level = filter spec)",
            info.dump_level == spec.get("dump_level"),
            str(spec.get("dump_level")),
            str(info.dump_level),
            f"{info.dumped} of {info.present} present pages dumped; release {info.release}",
        )
    )
    codec = dumpcheck.compression(info.status)
    res.facts.append(
        ok_fact(
            "compression (kdump header) = filter spec",
            codec == spec.get("compression"),
            str(spec.get("compression")),
            codec,
            "the crash initramfs ships the codec's Debian package (layoutc.dump.write.compression DEBIAN_MODULES)",
        )
    )
    absent = tuple((int(e["start"]), int(e["end"])) for e in spec.get("exclude", []))
    ok, detail = dumpcheck.drgn_open(dump, k.release, absent=absent)
    res.facts.append(
        ok_fact(
            "dump opens in drgn (init_uts_ns; excluded ranges absent)", ok, "readable", "ok" if ok else "failed", detail
        )
    )
