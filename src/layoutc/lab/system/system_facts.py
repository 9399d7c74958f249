"""Facts only a full system shows: GRUB's setup and entry, PID 1, the units' order and results (systemd's own
``systemctl show`` properties), the crash kernel the installed ``layoutc-arm.service`` loaded."""

from __future__ import annotations

from collections.abc import Mapping

from layoutc.lab.boot.grubboot import booted_titles
from layoutc.lab.boot.serial import GuestOutput
from layoutc.lab.facts.boot_facts import Fact

ENTRY_TITLE = "Debian GNU/Linux"  # 10_linux's simple entry with GRUB_DISTRIBUTOR=Debian
ARM_UNIT, STAGE_UNIT, LOCAL_FS = "layoutc-arm.service", "layoutc-lab-stage.service", "local-fs.target"


def parse_show(text: str) -> dict[str, dict[str, str]]:
    """``systemctl show -p … UNIT…``: one block of ``KEY=VALUE`` lines per unit, blocks separated by a blank
    line; keyed by the block's ``Id``."""
    units: dict[str, dict[str, str]] = {}
    for block in text.replace("\r", "").split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if props.get("Id"):
            units[props["Id"]] = props
    return units


def _int(props: Mapping[str, str], key: str) -> int:
    try:
        return int(props.get(key, "0"))
    except ValueError:
        return 0


def setup_facts(out: GuestOutput) -> list[Fact]:
    """The first boot's ``grub-install /dev/vda`` and ``update-grub`` (sh/grub-setup.sh)."""
    facts = []
    for kind, log in (("grub-install", "grub-install.log"), ("update-grub", "update-grub.log")):
        runs = out.of_kind(kind)
        rc = runs[-1].get("rc") if runs else None
        tail = " | ".join((out.text(log) or "").strip().splitlines()[-2:])
        facts.append(Fact(f"{kind} in the system (first boot)", "pass" if rc == 0 else "fail", "exit 0",
                          "not run" if rc is None else f"exit {rc}", tail))  # fmt: skip
    return facts


def unit_facts(units: Mapping[str, Mapping[str, str]], crash_loaded: str) -> list[Fact]:
    """The arm unit's result and the crash kernel it loaded; the units' order (monotonic µs since boot)."""
    arm = units.get(ARM_UNIT, {})
    state = f"{arm.get('ActiveState', 'absent')}/{arm.get('Result', '?')} exit {arm.get('ExecMainStatus', '?')}"
    armed = state == "active/success exit 0" and crash_loaded == "1"
    facts = [Fact(f"{ARM_UNIT} armed the crash kernel at boot", "pass" if armed else "fail",
                  "active/success exit 0, kexec_crash_loaded 1", f"{state}, kexec_crash_loaded {crash_loaded or '?'}",
                  "installed and enabled by layoutc install; systemctl show")]  # fmt: skip
    local_fs = _int(units.get(LOCAL_FS, {}), "ActiveEnterTimestampMonotonic")
    arm_start = _int(arm, "InactiveExitTimestampMonotonic")
    arm_done = _int(arm, "ActiveEnterTimestampMonotonic")
    stage_start = _int(units.get(STAGE_UNIT, {}), "InactiveExitTimestampMonotonic")
    ordered = 0 < local_fs <= arm_start <= arm_done <= stage_start
    seen = (f"{LOCAL_FS} {local_fs / 1e6:.2f} s, {ARM_UNIT} {arm_start / 1e6:.2f}–{arm_done / 1e6:.2f} s, "
            f"{STAGE_UNIT} {stage_start / 1e6:.2f} s")  # fmt: skip
    facts.append(Fact("units' order (local-fs.target → layoutc-arm → the lab's stage unit)",
                      "pass" if ordered else "fail", f"{LOCAL_FS} ≤ arm start ≤ arm active ≤ stage start", seen,
                      "seconds after the kernel started (ActiveEnter/InactiveExitTimestampMonotonic)"))  # fmt: skip
    return facts


def system_facts(out: GuestOutput, serial: bytes, release: str, seconds: float) -> list[Fact]:
    """PID 1, GRUB's entry, the failed units, the units' facts and the time to the stage unit."""
    if not out.done:
        return []
    titles = booted_titles(serial)
    facts = [
        Fact("GRUB (MBR, grub-install) booted Debian's entry", "pass" if titles[:1] == [ENTRY_TITLE] else "fail",
             ENTRY_TITLE, " → ".join(titles) or "no GRUB boot on the serial console", "update-grub's 10_linux"),
        Fact("PID 1", "pass" if (out.text("pid1") or "").strip() == "systemd" else "fail", "systemd",
             (out.text("pid1") or "missing").strip()),
    ]  # fmt: skip
    failed = [ln.split()[0] for ln in (out.text("failed-units") or "").splitlines() if ln.strip()]
    ours = [u for u in failed if u.startswith("layoutc-")]
    settled = out.of_kind("rearm-settled")
    waited = f"; read after udev and the re-arms settled ({settled[0].get('waited_s')} s)" if settled else ""
    facts.append(Fact("no failed layoutc units", "pass" if not ours else "fail", "none", ", ".join(ours) or "none",
                      f"systemctl list-units --failed: {', '.join(failed) or 'none'}{waited}"))  # fmt: skip
    units = parse_show(out.text("units") or "")
    facts += unit_facts(units, (out.text("kexec_crash_loaded") or "").strip())
    stage = _int(units.get(STAGE_UNIT, {}), "InactiveExitTimestampMonotonic")
    facts.append(Fact("boot time to the stage unit", "info", "", f"{stage / 1e6:.1f} s after the kernel started",
                      f"{seconds:.1f} s of QEMU from SeaBIOS to the system's poweroff; {release}"))  # fmt: skip
    return facts
