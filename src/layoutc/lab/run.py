"""``run_lab``: boot a compiled layout in a real kernel and compare every observable fact.

Two boots per run (``--stage boot``): the *production* boot with the board's and layoutc's production
cmdline (the guest reports facts and offline-tests the window's blocks, or for a ``hotplug`` window turns it
into movable RAM), and a *baseline* boot with only the board's cmdline, whose MemTotal gives the armed
overhead. Baselines are cached per kernel and machine in the lab cache, so a test matrix boots each board's
baseline once.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from layoutc.lab.boot import machine as board
from layoutc.lab.boot import qemu
from layoutc.lab.boot.serial import GuestOutput, parse_serial
from layoutc.lab.errors import LabError
from layoutc.lab.facts import arm64_facts
from layoutc.lab.facts import boot_facts as compare
from layoutc.lab.facts.roundtrip import import_roundtrip, probe_roundtrip
from layoutc.lab.guest import stages as guest
from layoutc.lab.image import initramfs, kernels, probezip, sysroot
from layoutc.lab.layout_dir import load_layout
from layoutc.lab.report import BootRecord, Report, timeout_tail
from layoutc.lab.system.run import run_system
from layoutc.model.layout import Layout

STAGES = ("boot", "arm", "full")  # arm and full: cycle.py
_BASELINE_LOCK = threading.Lock()
_BASELINE_KEYS: dict[str, threading.Lock] = {}  # one lock per baseline: concurrent runs boot it once

# The import round trip (probe → import → compile → lab): receives the layout, the SYSINFO directory the production
# guest's ``layoutc probe --raw`` wrote (probezip) and the output directory, and returns extra facts. The
# default imports it, compiles the imported profile and compares the board. Without a guest probe
# (LabOptions.guest_probe False) the baseline boot's shell capture goes through IMPORT_ROUNDTRIP instead.
ProbeRoundTrip = Callable[[Layout, Path, Path], list[compare.Fact]]
PROBE_ROUNDTRIP: ProbeRoundTrip = probe_roundtrip
IMPORT_ROUNDTRIP: ProbeRoundTrip = import_roundtrip


@dataclass(frozen=True, slots=True)
class LabOptions:
    accel: str = "tcg"  # tcg | kvm | auto
    timeout: float = 300.0  # per boot, seconds
    jobs: int = 2  # boots run concurrently within one run_lab call
    baseline_cache: bool = True
    roundtrip: bool = True  # import the guest's capture and compare the board (PROBE_ROUNDTRIP)
    guest_probe: bool = True  # run layoutc probe in the production guest (probezip) for the round trip
    keep_vmcore: bool = False  # --stage full: save the guest's /proc/vmcore under the cache's vmcores/
    profile: Path | None = None  # the profile the layout came from (device artifacts are rendered from it)
    negative: bool = False  # --stage arm|full on an unsafe layout: expect arm.sh to refuse, then force the crash
    grub: bool = False  # --stage full: boot through real GRUB (the grubenv one-shot), one QEMU (grubboot.py)
    efi: bool = False  # --stage full: OVMF + systemd-boot (the LoaderEntryOneShot one-shot), one QEMU (efiboot.py)
    system: str = "busybox"  # --stage boot in the busybox initramfs guest, or "debian": a Debian 12 system (system/)
    panic_cpu: int = 0  # --stage full: the CPU the production guest panics on (a guest has crash.cpus CPUs)


def resolve_kernel(kernel: str | Path | kernels.Kernel, arch: str = "amd64") -> kernels.Kernel:
    """``"6.1"``/``"7"`` → cached Debian kernel of ``arch`` (downloaded if needed); a Path → that bzImage."""
    if isinstance(kernel, kernels.Kernel):
        return kernel
    if isinstance(kernel, Path):
        if arch != "amd64":
            raise LabError("usage", f"--kernel PATH boots x86 bzImages only; use --debian for {arch}")
        return kernels.kernel_from_path(kernel)
    return kernels.ensure_kernel(kernel, arch=arch)


def debian_arch(layout: Layout) -> str:
    """The Debian architecture of the kernels and guest userland a layout boots with."""
    return "arm64" if layout.arch == "arm64" else "amd64"


def _guest_image(k: kernels.Kernel, plan: guest.GuestPlan, out: Path, *, probe: bool = False) -> Path:
    root = sysroot.ensure_userland(k.arch) if k.arch != "amd64" else None  # arm64: a foreign userland
    extra_stages = {"15-probe": probezip.STAGE} if probe else {}
    if root is not None:
        extra_stages["12-devicetree"] = guest.DEVICETREE
    stages = guest.stages(plan, extra=extra_stages)
    extra = {**guest.lab_files(plan), **(probezip.guest_files(kernels.cache_dir() / "probezip", root) if probe else {})}
    modules = initramfs.ARM64_MODULES if root is not None else initramfs.DEFAULT_MODULES
    spec = initramfs.InitramfsSpec(init=guest.INIT, module_dir=k.module_dir, modules=modules, stages=stages,
                                   extra=extra, sysroot=root)  # fmt: skip
    return initramfs.build_initramfs(spec, out)


def plan_for(layout: Layout) -> guest.GuestPlan:
    w = layout.dump_window
    if w is None:
        return guest.GuestPlan()
    if layout.strategy.window_mode == "hotplug":
        dax = w.devdax
        align = f"{dax.align >> 20}M" if dax.align >= 1 << 20 else f"{dax.align >> 10}K"
        return guest.GuestPlan(hotplug_start=w.start, hotplug_map=dax.map, hotplug_align=align)
    return guest.GuestPlan(offline_blocks=guest.blocks_in(w.start, w.end, layout.memory.block_size))


def _boot(name: str, k: kernels.Kernel, plan: guest.GuestPlan, cmdline: str, machine: board.Machine,
          out_dir: Path, opts: LabOptions, accel: str,
          probe: bool = False, pad_to: int = 0) -> tuple[BootRecord, GuestOutput, int]:  # fmt: skip
    """One QEMU direct boot; the image is padded with zeros to ``pad_to`` bytes (the production initrd's size
    the layout assumes: the kernel's unpacker skips zero bytes between archives), and its size returned."""
    image = _guest_image(k, plan, out_dir / f"initramfs-{name}.img", probe=probe)
    if image.stat().st_size < pad_to:
        with image.open("ab") as f:
            f.truncate(pad_to)
    size = image.stat().st_size
    log = out_dir / f"serial-{name}.log"
    result = qemu.run_boot(qemu.QemuBoot(k.vmlinuz, image, cmdline, machine, log, accel, opts.timeout))
    image.unlink(missing_ok=True)  # rebuilt in half a second; not worth keeping per run
    serial = log.read_bytes()
    record = BootRecord(name, round(result.seconds, 2), result.returncode, str(log), result.argv,
                        timeout_tail(result.returncode, serial))  # fmt: skip
    return record, parse_serial(serial), size


def initrd_region_size(layout: Layout) -> int:
    """Bytes of the production initrd the layout assumes (its exact ``initrd`` region), 0 when none."""
    return sum(r.size for r in layout.regions if r.kind == "initrd")


def _baseline_key(k: kernels.Kernel, machine: board.Machine, cmdline: str) -> str:
    protocol = guest.INIT + guest.COMMON + guest.FACTS + guest.FINAL + guest.DEVICETREE  # a changed guest: rebooted
    blob = json.dumps([k.release, machine.ram, machine.node_sizes, cmdline, protocol], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _baseline(k: kernels.Kernel, machine: board.Machine, cmdline: str, out_dir: Path, opts: LabOptions,
              accel: str) -> tuple[BootRecord | None, GuestOutput]:  # fmt: skip
    """The baseline boot, from the cache when an identical one was recorded before."""
    key = _baseline_key(k, machine, cmdline)
    cached = kernels.cache_dir() / "baselines" / f"{key}.log"
    with _BASELINE_LOCK:
        lock = _BASELINE_KEYS.setdefault(key, threading.Lock())
    with lock:
        if opts.baseline_cache and cached.is_file():
            out = parse_serial(cached.read_bytes())
            if out.done:
                (out_dir / "serial-baseline.log").write_bytes(cached.read_bytes())
                return None, out
        record, out, _ = _boot("baseline", k, guest.GuestPlan(), cmdline, machine, out_dir, opts, accel)
        if out.done and opts.baseline_cache:
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_bytes(Path(record.serial_log).read_bytes())
    return record, out


def _accel(requested: str, k: kernels.Kernel, out_dir: Path) -> str:
    """``auto``: KVM only when a smoke boot under it finished; the verdict is cached per host boot."""
    if requested != "auto" or k.arch != "amd64":  # arm64 guests always run under TCG
        return requested if k.arch == "amd64" else "tcg"
    try:
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot_id = "unknown"
    verdict_file = kernels.cache_dir() / f"accel-{boot_id}.txt"
    if verdict_file.is_file():
        return verdict_file.read_text().strip()
    image = _guest_image(k, guest.GuestPlan(), out_dir / "initramfs-smoke.img")
    tiny = board.Machine(512 << 20, (), (), (), ())
    smoke = qemu.QemuBoot(k.vmlinuz, image, "console=ttyS0 panic=-1", tiny, out_dir / "serial-kvm-smoke.log")
    accel = "kvm" if qemu.kvm_usable(smoke) else "tcg"
    image.unlink(missing_ok=True)
    verdict_file.parent.mkdir(parents=True, exist_ok=True)
    verdict_file.write_text(accel + "\n")
    return accel


def write_sysinfo(out: GuestOutput, dest: Path) -> Path:
    """Write the guest's raw files as a SYSINFO directory (the layout ``layoutc import`` reads)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("iomem", "zoneinfo", "cmdline", "dmesg", "block_size_bytes", "lsmem.json", "lsmem.txt"):
        data = out.files.get(name)
        if data is not None:
            (dest / name).write_bytes(data)
    if out.release:
        (dest / "uname-r").write_text(out.release + "\n")
    return dest


def write_probe_files(out: GuestOutput, dest: Path) -> Path:
    """Write the raw files the guest's ``layoutc probe --raw`` wrote (``probe/NAME`` frames) to ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name, data in out.files.items():
        if name.startswith("probe/") and "/" not in name[6:] and name[6:] not in ("", ".", ".."):
            (dest / name[6:]).write_bytes(data)
    return dest


def probe_fact(out: GuestOutput) -> compare.Fact:
    """The fact "probe ran in the guest": exit 0 and at least iomem written, naming the exit code and run time."""
    runs = out.of_kind("probe")
    if not runs:
        return compare.Fact("probe ran in the guest", "fail", "exit 0", "no probe observation",
                            "the production guest did not run /usr/lib/layoutc/probe.pyz")  # fmt: skip
    rc, obs = runs[-1].get("rc"), runs[-1]
    try:
        took = f"{float(obs.get('end', 0)) - float(obs.get('start', 0)):.2f} s"
    except (TypeError, ValueError):
        took = "?"
    written = sorted(n[6:] for n in out.files if n.startswith("probe/"))
    ok = rc == 0 and "iomem" in written
    tail = " | ".join((out.text("probe-output") or "").strip().splitlines()[-3:])
    detail = f"python3 probe.pyz --raw in {took}; wrote {', '.join(written) or 'nothing'}"
    detail += f"; {tail}" if tail else ""
    return compare.Fact("probe ran in the guest", "pass" if ok else "fail", "exit 0", f"exit {rc}", detail)


def run_lab(
    layout_dir: Path,
    *,
    kernel: str | Path | kernels.Kernel,
    stage: str = "boot",
    out_dir: Path,
    options: LabOptions | None = None,
) -> Report:
    """Boot ``layout_dir/layout.json`` in ``kernel`` and report predicted vs observed.

    :param layout_dir: a ``layoutc compile`` output directory.
    :param kernel: ``"6.1"`` or ``"7"`` (Debian kernels from the cache), a bzImage path, or a ``Kernel``.
    :param stage: ``"boot"`` (``"arm"`` and ``"full"`` run the crash cycle).
    :param out_dir: receives serial logs, ``report.txt`` and ``report.json``.
    :param options: accelerator, per-boot timeout, concurrency.
    Raises ``LabError`` for unusable input or a missing environment; mismatches are data in the report.
    """
    opts = options or LabOptions()
    if stage not in STAGES:
        raise LabError("usage", f"--stage {stage}: this lab implements {', '.join(STAGES)}")
    if opts.system != "busybox" and stage not in ("boot", "full"):
        raise LabError("usage", f"--system {opts.system} runs --stage boot or full")
    for flag, on in (("--grub", opts.grub), ("--efi", opts.efi)):
        if on and stage != "full":
            raise LabError("usage", f"{flag} needs --stage full")
    layout = load_layout(layout_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    machine = board.machine_for(layout)
    if machine.unfaithful:  # decided before any kernel is fetched (a 64 GiB server stays compile-only)
        report = Report(layout.board, "n/a", True, "none", stage, "cannot-emulate", notes=machine.notes,
                        problems=machine.unfaithful)  # fmt: skip
        report.write(out_dir)
        return report
    k = resolve_kernel(kernel, debian_arch(layout))
    base_cmdline = " ".join([layout.board_cmdline, *machine.memmap, "panic=-1"]).split()
    prod_words = [layout.board_cmdline, *machine.memmap, layout.cmdline.production, "panic=-1"]
    cmdline = " ".join(" ".join(prod_words).split())
    head = Report(layout.board, k.release, k.pinned, "none", stage, "cannot-emulate", notes=machine.notes)
    problems = _cannot_run(layout, k, cmdline, stage)
    if problems:
        report = replace(head, problems=tuple(problems))
        report.write(out_dir)
        return report
    accel = _accel(opts.accel, k, out_dir)
    if opts.system == "debian":
        return run_system(layout_dir, layout, k, machine, out_dir, opts, replace(head, accel="tcg"), stage)
    if stage in ("arm", "full"):
        return _run_cycle(layout_dir, layout, k, machine, out_dir, opts, stage, replace(head, accel=accel))
    with ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as pool:
        probe = opts.roundtrip and opts.guest_probe
        prod_f = pool.submit(_boot, "production", k, plan_for(layout), cmdline, machine, out_dir, opts, accel, probe,
                             initrd_region_size(layout))
        base_f = pool.submit(_baseline, k, machine, " ".join(base_cmdline), out_dir, opts, accel)
        prod_rec, prod, initrd_size = prod_f.result()
        base_rec, base = base_f.result()
    report = _assess(replace(head, accel=accel), layout, cmdline, (prod_rec, prod), (base_rec, base), opts, out_dir,
                     initrd_size)  # fmt: skip
    report = _with_initrd_fact(report, layout, prod, initrd_size) if k.arch == "amd64" else report
    report.write(out_dir)
    return report


def _cannot_run(layout: Layout, k: kernels.Kernel, cmdline: str, stage: str) -> list[str]:
    """Why this kernel cannot run this layout's ``stage`` faithfully (nothing is booted then)."""
    problems: list[str] = []
    if (msg := board.check_cmdline_length(cmdline)) is not None:
        problems.append(msg)
    if layout.strategy.crash_memory == "cma" and not k.has_cma:
        problems.append(f"kernel {k.release} has no crashkernel=,cma (6.17+); this layout needs it")
    return problems


def _with_initrd_fact(report: Report, layout: Layout, prod: GuestOutput, initrd_size: int) -> Report:
    """The direct boot's initrd placement fact (QEMU -initrd; layoutc.kernel.bootloader)."""
    if not prod.done:
        return report
    fact = compare.initrd_fact(layout, prod, "direct", initrd_size)
    verdict = "fail" if report.verdict == "pass" and fact.status == "fail" else report.verdict
    return replace(report, facts=(*report.facts, fact), verdict=verdict)


def _assess(
    head: Report,
    layout: Layout,
    cmdline: str,
    production: tuple[BootRecord, GuestOutput],
    baseline: tuple[BootRecord | None, GuestOutput],
    opts: LabOptions,
    out_dir: Path,
    initrd_size: int = 0,
) -> Report:
    (prod_rec, prod), (base_rec, base) = production, baseline
    boots = tuple(b for b in (prod_rec, base_rec) if b is not None)
    if layout.arch == "arm64":
        facts = arm64_facts.production_facts(layout, prod, base if base.done else None, cmdline, initrd_size)
    else:
        facts = compare.production_facts(layout, prod, base if base.done else None, cmdline)
    notes = list(head.notes)
    if base_rec is None:
        notes.append("baseline boot taken from the lab cache (identical kernel, machine and cmdline)")
    if base.done:
        sysinfo = write_sysinfo(base, out_dir / "sysinfo-baseline")
        if opts.roundtrip and not opts.guest_probe:
            facts += IMPORT_ROUNDTRIP(layout, sysinfo, out_dir)
    if opts.roundtrip and opts.guest_probe and prod.done:
        ran = probe_fact(prod)
        facts.append(ran)
        if ran.status == "pass":
            facts += PROBE_ROUNDTRIP(layout, write_probe_files(prod, out_dir / "sysinfo-probe"), out_dir)
    errors = [f"boot {b.name} timed out after {opts.timeout:.0f} s" for b in boots if b.returncode is None]
    if not prod.done and prod_rec.returncode is not None:
        errors.append(f"production guest stopped before LAYOUTC-DONE (see {prod_rec.serial_log})")
    verdict = "error" if errors else ("fail" if any(f.status == "fail" for f in facts) else "pass")
    return replace(head, verdict=verdict, facts=tuple(facts), boots=boots, notes=tuple(notes), problems=tuple(errors))


def _run_cycle(layout_dir: Path, layout: Layout, k: kernels.Kernel, machine: board.Machine, out_dir: Path,
               opts: LabOptions, stage: str, head: Report) -> Report:  # fmt: skip
    from layoutc.lab.cycle import run_cycle
    from layoutc.lab.facts.cycle_facts import CycleOptions

    negative = opts.negative or bool(layout.unsafe)
    copts = CycleOptions(keep_vmcore=opts.keep_vmcore, profile=opts.profile, negative=negative,
                         timeout=opts.timeout, accel=head.accel, grub=opts.grub, efi=opts.efi,
                         panic_cpu=opts.panic_cpu)  # fmt: skip
    res = run_cycle(layout_dir, layout, k, machine, out_dir, copts, stage=stage)
    errors = list(res.problems)
    errors += [f"boot {b.name} timed out after {opts.timeout:.0f} s" for b in res.boots if b.returncode is None]
    verdict = "error" if errors else ("fail" if any(f.status == "fail" for f in res.facts) else "pass")
    report = replace(head, verdict=verdict, facts=tuple(res.facts), boots=tuple(res.boots),
                     notes=(*head.notes, *res.notes), problems=tuple(errors))  # fmt: skip
    report.write(out_dir)
    return report
