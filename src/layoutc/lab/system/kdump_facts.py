"""Facts of the kdump-tools cycle (kdump_cycle.py): what kdump-tools.service loaded with layoutc's files, what its
crash boot saved, and the dump read back on the host (pure but for the host tools the dump check runs)."""

from __future__ import annotations

import hashlib
import re
import shlex
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from layoutc.lab.boot.serial import GuestOutput
from layoutc.lab.facts import dumpcheck
from layoutc.lab.facts.boot_facts import Fact
from layoutc.lab.system.kdump_tasks import walk_tasks
from layoutc.lab.system.system_facts import parse_show

KDUMP_UNIT = "kdump-tools.service"
READY = "ready to kdump"  # kdump-config show's line when the crash kernel is loaded


def sh_values(text: str) -> dict[str, str]:
    """``NAME='value'`` assignments of a generated sh file (``/etc/default/kdump-tools``), read as sh reads them."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Z_][A-Z0-9_]*)=(.*)$", line)
        if match:
            words = shlex.split(match.group(2))
            values[match.group(1)] = words[0] if words else ""
    return values


def state_line(show: str) -> str:
    """``current state:`` of ``kdump-config show`` (``ready to kdump``, ``Not ready to kdump``)."""
    return next((ln.split(":", 1)[1].strip() for ln in show.splitlines() if ln.startswith("current state:")), "")


def crash_command_line(kexec_cmd: str) -> list[str]:
    """The words of ``--command-line="…"`` in the kexec command kdump-config saved (``$KDUMP_COREDIR/kexec_cmd``)."""
    match = re.search(r'--command-line="([^"]*)"', kexec_cmd)
    return match.group(1).split() if match else []


def arm_facts(out: GuestOutput, values: Mapping[str, str], crash_size: int) -> list[Fact]:
    """kdump-tools.service's result, ``kdump-config show``, the reservation it loaded into and its crash cmdline."""
    unit = parse_show(out.text("kdump-unit") or "").get(KDUMP_UNIT, {})
    state = f"{unit.get('ActiveState', 'absent')}/{unit.get('Result', '?')} exit {unit.get('ExecMainStatus', '?')}"
    show = out.text("kdump-show") or ""
    loaded = (out.text("kexec_crash_loaded") or "").strip()
    facts = [
        Fact(f"{KDUMP_UNIT} loaded its crash kernel at boot (not masked for this stack)",
             "pass" if state == "active/success exit 0" and loaded == "1" else "fail",
             "active/success exit 0, kexec_crash_loaded 1", f"{state}, kexec_crash_loaded {loaded or '?'}",
             "systemctl show; kdump-config load from the package's unit"),
        Fact("kdump-config show: ready to kdump", "pass" if state_line(show) == READY else "fail", READY,
             state_line(show) or "no current state line",
             " | ".join(ln.strip() for ln in show.splitlines() if ln.strip())[:600]),
    ]  # fmt: skip
    size = (out.text("kexec_crash_size") or "").strip()
    facts.append(Fact("crash reservation kdump-tools loaded into (/sys/kernel/kexec_crash_size)",
                      "pass" if size == str(crash_size) else "fail", f"{crash_size} (the layout's crashkernel=)",
                      size or "missing"))  # fmt: skip
    words = crash_command_line(out.text("kdump-kexec-cmd") or "")
    want = values.get("KDUMP_CMDLINE_APPEND", "").split()
    missing = [w for w in want if w not in words]
    stray = [w for w in words if w.startswith("crashkernel=")]
    facts.append(
        Fact(
            "crash cmdline carries layoutc's KDUMP_CMDLINE_APPEND",
            "pass" if words and not missing and not stray else "fail",
            " ".join(want),
            " ".join(words) or "no kexec_cmd",
            f"missing: {' '.join(missing) or 'none'}; crashkernel= words: {' '.join(stray) or 'none'}",
        )
    )
    lib = out.text("kdump-lib") or ""
    facts.append(Fact("kdump initrd built by kdump-tools' kernel hook at boot (/var/lib/kdump)", "info", "",
                      " | ".join(ln.split(None, 8)[-1] for ln in lib.splitlines() if "initrd" in ln) or "none",
                      "mkinitramfs -d /var/lib/kdump/initramfs-tools (MODULES=dep)"))  # fmt: skip
    return facts


def collector_fact(console: str, values: Mapping[str, str]) -> Fact:
    """The crash boot's console: kdump-config ran makedumpfile with layoutc's MAKEDUMP_ARGS (plus its ``-F``)."""
    args = values.get("MAKEDUMP_ARGS", "")
    runs = [ln.strip() for ln in console.splitlines() if "running makedumpfile" in ln and "--dump-dmesg" not in ln]
    want = f"running makedumpfile {args} -F /proc/vmcore"
    ok = any(want in r for r in runs)
    fell_back = any("falling back to 'cp'" in ln for ln in console.splitlines())
    return Fact("crash boot ran makedumpfile with layoutc's MAKEDUMP_ARGS", "pass" if ok and not fell_back else "fail",
                want, runs[-1] if runs else "no makedumpfile line on the console",
                "fell back to cp" if fell_back else "kdump-config savecore in kdump-tools-dump.service")  # fmt: skip


def diverted_fact(console: str) -> Fact:
    """A diverted collector: the vmcore's makedumpfile run (between kdump-config's ``running makedumpfile`` line
    and its ``saved vmcore``) is layoutc's dumper, which prints nothing on success, not the distribution's
    makedumpfile, which ends with ``makedumpfile Completed.``."""
    lines = console.splitlines()
    start = next((i for i, ln in enumerate(lines) if "running makedumpfile" in ln and "--dump-dmesg" not in ln), None)
    if start is None:
        return Fact("the diverted collector (layoutc's dumper) wrote the vmcore", "fail", "layoutc's dumper",
                    "no makedumpfile line on the console", "")  # fmt: skip
    end = next((i for i in range(start, len(lines)) if "saved vmcore" in lines[i]), len(lines))
    theirs = [ln.strip() for ln in lines[start + 1 : end] if "makedumpfile Completed" in ln
              or "The kernel version is not supported" in ln]  # fmt: skip
    return Fact("the diverted collector (layoutc's dumper) wrote the vmcore", "fail" if theirs else "pass",
                "layoutc's dumper (silent on success)",
                "the distribution's makedumpfile" if theirs else "no makedumpfile banner between run and save",
                " | ".join(theirs[:2]) or "kdump-config savecore's vmcore run")  # fmt: skip


def dump_obs(out: GuestOutput) -> Mapping[str, Any] | None:
    runs = out.of_kind("kdump-dump")
    return runs[-1] if runs else None


def readback_facts(seen: Mapping[str, Any], flat: Path, kdump: Path, unflatten: subprocess.CompletedProcess[str],
                   spec: Mapping[str, Any], release: str) -> list[Fact]:  # fmt: skip
    """The dump read back from the disk image: its bytes as the guest hashed them, and the reassembled kdump file
    against the filter spec (dump level, codec), opened by drgn."""
    got = hashlib.sha256(flat.read_bytes()).hexdigest() if flat.is_file() else "missing"
    facts = [
        Fact(
            "dump read back from the disk image (debugfs) as the guest hashed it",
            "pass" if got == seen.get("sha256") else "fail",
            f"sha256 {seen.get('sha256')}, {seen.get('size')} bytes",
            f"sha256 {got}, {flat.stat().st_size if flat.is_file() else 0} bytes",
            str(seen.get("path")),
        )
    ]
    if unflatten.returncode != 0 or not kdump.is_file():
        facts.append(Fact("makedumpfile -R (the flattened dump reassembled)", "fail", "exit 0",
                          f"exit {unflatten.returncode}", unflatten.stderr.strip()[-300:]))  # fmt: skip
        return facts
    info = dumpcheck.read_kdump(kdump)[0]
    level, codec = int(spec.get("dump_level", -1)), str(spec.get("compression", ""))
    facts.append(Fact("dump level and codec as in the filter spec", "pass" if info.dump_level == level and
                      dumpcheck.compression(info.status) == codec and not info.incomplete else "fail",
                      f"level {level}, {codec}, complete",
                      f"level {info.dump_level}, {dumpcheck.compression(info.status)}"
                      f"{', incomplete' if info.incomplete else ', complete'}",
                      f"{info.dumped} of {info.present} present pages dumped; release {info.release}"))  # fmt: skip
    ok, note = dumpcheck.drgn_open(kdump, release, absent=())
    facts.append(Fact("drgn opens the dump", "pass" if ok else "fail", f"Linux {release}", note))
    facts.append(drgn_tasks(kdump))
    return facts


def drgn_tasks(path: Path) -> Fact:
    """drgn's walk of ``init_task.tasks`` over the dump (kallsyms and BTF from the dump itself: kdump_tasks.py);
    the task that wrote ``c`` to sysrq-trigger is the stage unit's runner."""
    name = "drgn walks the task list (init_task.tasks; kallsyms and BTF from the dump)"
    try:
        import drgn  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return Fact(name, "fail", "tasks", "drgn is not importable")
    prog: Any = drgn.Program()
    try:
        prog.set_core_dump(str(path))
        tasks = walk_tasks(prog)
    except Exception as exc:  # noqa: BLE001 - any drgn failure is the observation
        return Fact(name, "fail", "pid 1 systemd, the stage runner", f"{type(exc).__name__}: {str(exc)[:300]}")
    first = tasks[0] if tasks else None
    runner = [pid for pid, comm in tasks if comm == "stage-runner"]
    ok = first == (1, "systemd") and bool(runner)
    return Fact(name, "pass" if ok else "fail", "pid 1 systemd, the stage runner",
                f"{len(tasks)} tasks; first {first}; stage-runner pid {runner or 'none'}",
                ", ".join(sorted({comm for _, comm in tasks})[:24]))  # fmt: skip
