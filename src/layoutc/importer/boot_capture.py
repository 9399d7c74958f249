"""The ``boot`` capture file: what probe found about how the device boots (its initrd, UEFI or not).

Standard library only (probe ships it). One fact per line, written by ``probe --raw``:

- ``initrd SIZE PATH TARGET``: the running kernel's initrd, ``SIZE`` bytes (decimal), found as device path
  ``PATH`` (``/boot/initrd.img-RELEASE``, ``/boot/initramfs-RELEASE.img``, ``/boot/initrd.img``,
  ``/initrd.img``), which is the regular file ``TARGET`` once symbolic links are followed;
- ``initrd none``: none of those names is a regular file;
- ``efi yes`` or ``efi no``: whether ``/sys/firmware/efi`` exists (the kernel was started through UEFI,
  LNX:drivers/firmware/efi/efi.c efisubsys_init).

Paths hold no white space (probe does not record one that does).
"""

from __future__ import annotations

import re

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.importer import parse_report as report
from layoutc.importer.sysinfo_types import BootFacts, InitrdFile

_INITRD_RE = re.compile(r"^initrd ([1-9][0-9]{0,15}) (/\S*) (/\S*)$")
_EFI_RE = re.compile(r"^efi (yes|no)$")


def parse_boot(text: str, display: str, diags: Diagnostics) -> BootFacts | None:
    """Read a ``boot`` capture file; None (with LC426) on a line of another shape."""
    initrd: InitrdFile | None = None
    efi: bool | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        found = _INITRD_RE.match(line)
        flag = _EFI_RE.match(line)
        if found:
            initrd = InitrdFile(found.group(2), found.group(3), int(found.group(1)))
        elif flag:
            efi = flag.group(1) == "yes"
        elif line != "initrd none":
            report.error(
                diags,
                "LC426",
                f"not a boot capture line: '{report.shown(line)}'",
                file=display,
                line=number,
                value=line,
                hint="write it with 'layoutc probe --raw DIR' on the device",
            )
            return None
    return BootFacts(initrd, efi)


def render_boot(facts: BootFacts) -> str:
    """The ``boot`` file for these facts (what ``parse_boot`` reads back)."""
    initrd = facts.initrd
    lines = [f"initrd {initrd.size} {initrd.path} {initrd.target}" if initrd else "initrd none"]
    if facts.efi is not None:
        lines.append(f"efi {'yes' if facts.efi else 'no'}")
    return "".join(line + "\n" for line in lines)
