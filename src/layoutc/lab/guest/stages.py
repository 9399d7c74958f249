"""What runs inside the guest: ``/init`` and the observation stages.

``/init`` mounts the pseudo file systems, turns printk off the console (so kernel messages cannot interleave
with our frames), loads ``/lab/modules`` with ``insmod``, sources ``/lab/plan`` and runs every
``/lab/stages/*`` in name order, then prints ``LAYOUTC-DONE`` and powers off. The scripts are real files in
``sh/`` (``init.sh``, then one per stage, named as the stage: ``00-common.sh`` …).

Stages print only machine-readable lines on the serial console:

* ``LAYOUTC-BEGIN <name>`` / base64 lines / ``LAYOUTC-END <name>``: a file's raw bytes;
* ``LAYOUTC-OBS {json}``: one observation the guest itself made (an offline test, a hotplug step);
* ``LAYOUTC-MISSING <name>``: a file that does not exist on this kernel.

The crash cycle adds stages (``35-disks``, ``40-arm`` …, ``cycle_stages``) beside these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

SCRIPTS = "sh"  # the guest's shell, beside this module (shipped in the wheel; shellcheck runs on it in tests/lab)


def script(name: str) -> str:
    """The text of ``sh/NAME``, byte for byte what the guest runs."""
    return (resources.files("layoutc.lab.guest") / SCRIPTS / name).read_text(encoding="utf-8")


INIT = script("init.sh")
COMMON = script("00-common.sh")
FACTS = script("10-facts.sh")
OFFLINE = script("20-offline.sh")
HOTPLUG = script("30-hotplug.sh")
FINAL = script("90-final.sh")
DEVICETREE = script("12-devicetree.sh")  # arm64 guests only (run.py adds it)
KEXEC_PROBE = script("45-kexec-probe.sh")  # arm64 6.1's broken crash load, measured on demand (tests/lab)


@dataclass(frozen=True, slots=True)
class GuestPlan:
    """Host-computed instructions for the guest."""

    offline_blocks: tuple[int, ...] = ()
    hotplug_start: int | None = None
    hotplug_map: str = "mem"
    hotplug_align: str = "2M"

    def render(self) -> str:
        start = f"{self.hotplug_start:#x}" if self.hotplug_start is not None else ""
        return (
            f"OFFLINE_BLOCKS='{' '.join(str(b) for b in self.offline_blocks)}'\n"
            f"HOTPLUG_START='{start}'\nHOTPLUG_MAP='{self.hotplug_map}'\nHOTPLUG_ALIGN='{self.hotplug_align}'\n"
        )


def stages(plan: GuestPlan, *, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The stage scripts for ``plan``; ``extra`` (the crash cycle) adds or replaces stages by name."""
    table = {
        "00-common": COMMON,
        "10-facts": FACTS,
        "20-offline": OFFLINE if plan.offline_blocks else "",
        "30-hotplug": HOTPLUG if plan.hotplug_start is not None else "",
        "90-final": FINAL,
    }
    table.update(extra or {})
    return {name: text for name, text in table.items() if text}


def lab_files(plan: GuestPlan) -> dict[str, bytes]:
    return {"lab/plan": plan.render().encode()}


def blocks_in(start: int, end: int, block_size: int) -> tuple[int, ...]:
    """Indices of every memory block that intersects ``[start, end)``."""
    if end <= start:
        return ()
    return tuple(range(start // block_size, (end - 1) // block_size + 1))
