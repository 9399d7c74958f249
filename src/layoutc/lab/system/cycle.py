"""``--system debian --stage full``: the crash cycle in the Debian system, in one QEMU through real GRUB BIOS.

The production boot runs the boot stage's facts, then ``sh/95-crash.sh`` marks the root and panics; the kernel
the installed ``layoutc-arm.service`` loaded boots the crash initramfs ``layoutc initramfs --root`` built, whose
``capture-init.sh`` runs ``capture.sh`` (the dump into the window, the grubenv one-shot) and reboots; SeaBIOS and
GRUB boot again, the entry GRUB picks (the recovery entry when the one-shot was written) boots systemd, whose
``layoutc-recover.service`` stores the dump and returns the window, and the stage unit's ``sh/05-after-crash.sh``
reports that boot and powers off. The host cuts the serial log at GRUB's ``Booting`` lines, reads each part, and
reads the stored dump back from the boot disk (``debugfs`` at the partition's offset).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

from layoutc.lab.boot.grubboot import booted_titles, split_serial
from layoutc.lab.boot.serial import parse_serial
from layoutc.lab.facts.boot_facts import Fact
from layoutc.lab.facts.dumpcheck import read_kdump
from layoutc.lab.facts.status_facts import status_fact
from layoutc.lab.system import build, system_facts
from layoutc.lab.system.disk import PART_START
from layoutc.model.layout import Layout

PANIC = b"LAYOUTC-PANIC"
CAPTURE_EXIT = re.compile(rb"layoutc: capture\.sh exited (\d+)")
# a boot after the crash that cannot reach the stage unit: stop QEMU instead of waiting for the timeout
STUCK = (b"No root device specified", b"(initramfs)", b"Kernel panic", b"end Kernel panic")
RECOVER_UNIT = "layoutc-recover.service"


def extra_stages() -> dict[str, str]:
    """The stages the full cycle adds on the stage disk: 05 (the boot after the crash), 95 (the panic)."""
    return {"05-after-crash": build.script("05-after-crash.sh"), "95-crash": build.script("95-crash.sh")}


def watch(seconds: float, serial: bytes) -> bool:
    """Stop QEMU at a third GRUB boot (a loop), or when the boot after the crash is stuck before systemd."""
    parts = split_serial(serial)
    if len(parts) > 3:
        return True
    if len(parts) == 3:
        after = parts[2][1]
        return any(mark in after for mark in STUCK) and b"LAYOUTC-START" not in after
    return False


def crash_facts(production_part: bytes) -> list[Fact]:
    """The panic, the crash kernel's boot and capture.sh's exit code, from the production boot's serial part."""
    _, marker, crash = production_part.partition(PANIC)
    if not marker:
        return [Fact("panic in the armed production system", "fail", "LAYOUTC-PANIC after the boot facts",
                     "no panic (kexec_crash_loaded was not 1, or the stage stopped earlier)")]  # fmt: skip
    booted = b"Linux version" in crash
    facts = [Fact("crash kernel booted (kexec -p of layoutc-arm.service)", "pass" if booted else "fail",
                  "a second 'Linux version' after the panic", "booted" if booted else "not seen")]  # fmt: skip
    found = CAPTURE_EXIT.findall(crash)
    rc = int(found[-1]) if found else None
    tail = [ln.strip() for ln in crash.decode(errors="replace").splitlines() if "layoutc" in ln][-3:]
    facts.append(Fact("capture.sh in the crash initramfs (layoutc initramfs --root)", "pass" if rc == 0 else "fail",
                      "exit 0 (dump written, recovery entry selected)", "not seen" if rc is None else f"exit {rc}",
                      " | ".join(tail) or "capture-init.sh printed nothing"))  # fmt: skip
    return facts


def _expected_title(layout_dir: Path) -> str:
    doc = json.loads((layout_dir / "layout.json").read_text())
    return str((doc.get("recovery_boot") or {}).get("title", ""))


def recovery_facts(layout: Layout, layout_dir: Path, serial: bytes) -> tuple[list[Fact], bytes]:
    """The boot after the crash: GRUB's entry, /proc/cmdline, layoutc-recover.service, the re-armed crash kernel,
    ``layoutc status``; also the stored dump's checksums as the guest computed them (``store-sums``)."""
    titles = booted_titles(serial)
    want = _expected_title(layout_dir)
    seen = titles[1] if len(titles) > 1 else "no second GRUB boot"
    facts = [Fact("GRUB booted the recovery entry after the crash (grubenv next_entry)",
                  "pass" if seen == want else "fail", want, seen,
                  "45_layoutc_recovery; capture.sh's one-shot")]  # fmt: skip
    parts = split_serial(serial)
    if len(parts) < 3:
        return facts, b""
    out = parse_serial(parts[2][1])
    if not out.done:
        lines = [ln for ln in parts[2][1].decode(errors="replace").splitlines() if ln.strip()][-2:]
        facts.append(Fact("the boot after the crash reached the stage unit", "fail", "LAYOUTC-DONE",
                          "stopped before it", " | ".join(ln.strip() for ln in lines)))  # fmt: skip
        return facts, b""
    cmdline = (out.text("cmdline-after") or "").split()
    missing = [w for w in layout.cmdline.recovery.split() if w not in cmdline]
    facts.append(Fact("/proc/cmdline of the boot after the crash is the recovery entry's",
                      "pass" if not missing else "fail", layout.cmdline.recovery, " ".join(cmdline),
                      f"missing: {' '.join(missing)}" if missing else "every recovery word"))  # fmt: skip
    if missing:  # a production boot: recover.sh rightly does nothing, the window's dump is not recovered
        return facts, b""
    units = system_facts.parse_show(out.text("units-after") or "")
    rec = units.get(RECOVER_UNIT, {})
    state = f"{rec.get('ActiveState', 'absent')}/{rec.get('Result', '?')} exit {rec.get('ExecMainStatus', '?')}"
    journal = [ln for ln in (out.text("journal-after") or "").splitlines() if "recover" in ln][-2:]
    facts.append(Fact(f"{RECOVER_UNIT} stored the dump and returned the window",
                      "pass" if state == "active/success exit 0" else "fail", "active/success exit 0", state,
                      " | ".join(journal)))  # fmt: skip
    armed = (out.text("kexec_crash_loaded-after") or "").strip()
    settled = [o for o in out.of_kind("rearm-settled") if o.get("boot") == "after-crash"]
    facts.append(Fact("crash kernel armed again after the recovery (arm.sh recovery)", "pass" if armed == "1" else
                      "fail", "kexec_crash_loaded 1", f"kexec_crash_loaded {armed or '?'}",
                      f"read after udev and the re-arms settled ({settled[0].get('waited_s')} s)" if settled
                      else ""))  # fmt: skip
    status = status_fact(layout, out, "recovered")
    if status is not None:
        facts.append(status)
    return facts, (out.text("store-sums") or "").encode()


def dump_facts(disk_img: Path, sums: bytes, release: str, work: Path) -> list[Fact]:
    """The stored vmcore read back from the boot disk on the host: its sha256 against the guest's and its kdump
    header (facts/dumpcheck.py)."""
    lines = [ln.split(None, 1) for ln in sums.decode(errors="replace").splitlines() if ln.strip()]
    vmcores = [(s, p.strip()) for s, p in lines if p.strip().endswith("/vmcore")]
    if not vmcores:
        return [Fact("dump stored on the system's disk", "fail", "/var/crash/*/vmcore", "no vmcore in the store")]
    guest_sha, path = vmcores[-1]
    host = work / "vmcore"
    image = f"{disk_img}?offset={PART_START}"
    subprocess.run(["debugfs", "-R", f"dump -p {path} {host}", image], capture_output=True, timeout=300, check=False)
    if not host.exists():
        return [Fact("dump read back from the disk image (debugfs)", "fail", path, "debugfs wrote nothing")]
    digest = hashlib.sha256()
    with host.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    same = digest.hexdigest() == guest_sha
    facts = [Fact("dump read back from the disk image equals the stored copy (sha256)", "pass" if same else "fail",
                  guest_sha[:16], digest.hexdigest()[:16], f"{path}, {host.stat().st_size} bytes")]  # fmt: skip
    try:
        info, *_ = read_kdump(host)
    except (ValueError, OSError) as exc:
        return [*facts, Fact("stored dump is a complete kdump file of the crashed kernel", "fail", release, str(exc))]
    ok = info.release == release and not info.incomplete and info.dumped > 0
    facts.append(Fact("stored dump is a complete kdump file of the crashed kernel", "pass" if ok else "fail",
                      f"{release}, complete", f"{info.release}, {'INCOMPLETE' if info.incomplete else 'complete'}",
                      f"dump_level {info.dump_level}, {info.dumped} of {info.present} pages"))  # fmt: skip
    return facts


def grub_cfg_text(disk_img: Path) -> str:
    """``/boot/grub/grub.cfg`` of the boot disk (debugfs at the partition's offset)."""
    done = subprocess.run(["debugfs", "-R", "cat /boot/grub/grub.cfg", f"{disk_img}?offset={PART_START}"],
                          capture_output=True, timeout=120, check=False)  # fmt: skip
    return done.stdout.decode(errors="replace")


def entry_linux_line(grub_cfg: str, entry_id: str) -> str | None:
    """The ``linux`` line of the menu entry with ``--id ENTRY_ID`` (quoted or not) in grub.cfg text."""
    inside = False
    for line in grub_cfg.splitlines():
        if line.startswith("menuentry ") and (f"--id '{entry_id}'" in line or f"--id {entry_id} " in line):
            inside = True
        elif inside and line.strip().startswith("linux"):
            return line.strip()
        elif inside and line.strip() == "}":
            return None
    return None


def recovery_entry_fact(layout_dir: Path, disk_img: Path) -> Fact:
    """Can the recovery entry update-grub wrote (45_layoutc_recovery) boot this system: does its ``linux`` line
    name the root file system (``root=``, a GRUB word, quoted or not) as 10_linux's entries do? initramfs-tools'
    local script panics without one ("No root device specified")."""
    doc = json.loads((layout_dir / "layout.json").read_text())
    entry_id = str((doc.get("recovery_boot") or {}).get("grub_id", ""))
    line = entry_linux_line(grub_cfg_text(disk_img), entry_id)
    has_root = line is not None and any(w.strip("'\"").startswith("root=") for w in line.split())
    return Fact("the recovery entry in grub.cfg names the root (root=)", "pass" if has_root else "fail",
                "root= on its linux line, as 10_linux's entry has", line or f"no entry --id {entry_id}",
                "/boot/grub/grub.cfg on the boot disk; read back with debugfs")


def full_facts(layout: Layout, layout_dir: Path, serial: bytes, disk_img: Path, release: str,
               work: Path) -> list[Fact]:  # fmt: skip
    """Every fact of the cycle after the production boot's."""
    parts = split_serial(serial)
    production = parts[1][1] if len(parts) > 1 else b""
    facts = [recovery_entry_fact(layout_dir, disk_img), *crash_facts(production)]
    more, sums = recovery_facts(layout, layout_dir, serial)
    facts += more
    if sums:
        facts += dump_facts(disk_img, sums, release, work)
    return facts
