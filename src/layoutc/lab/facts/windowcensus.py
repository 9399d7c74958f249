"""Host side of the window census: what the pages the capture lacks were, read with drgn from the reference.

The reference dump (made in the crash kernel before the window is touched, with the window *not* excluded)
keeps every page of the window that the dump level keeps, and the vmemmap (struct pages are kernel data).
For each pfn the reference has and the capture lacks, drgn reads the crashed kernel's struct page through
the dump's own page tables (``SYMBOL(vmemmap)`` + pfn × ``SIZE(page)``): ``_refcount`` 0 and no
``mapping`` is a free page (per-CPU free lists: no page type, so dump level 16 keeps it), anything else was
in use.  This is independent of the dumper, whose own census (``layoutc.dump.classify.windowloss``, printed as a
``layoutc dump: note: dump window: …`` line) must agree.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layoutc.lab.facts import dumpcheck

NOTE = re.compile(
    r"layoutc dump: note: dump window: (?:(?P<none>held no page)|(?P<pages>\d+) pages the dump level keeps were "
    r"overwritten by the dump: (?P<free>\d+) free \(.*?\), (?P<in_use>\d+) in use)"
)


@dataclass(frozen=True, slots=True)
class Census:
    pages: int
    free: int
    in_use: int
    unread: int
    detail: str = ""


def dumper_census(text: str) -> tuple[int, int, int] | None:
    """(pages, free, in use) from the dumper's last window note in ``text`` (None: no note)."""
    found = list(NOTE.finditer(text))
    if not found:
        return None
    m = found[-1]
    if m.group("none"):
        return 0, 0, 0
    return int(m.group("pages")), int(m.group("free")), int(m.group("in_use"))


def host_census(reference: Path, pfns: list[int]) -> Census:
    """Classify ``pfns`` by their struct pages in ``reference`` (a kdump file drgn opens)."""
    if not pfns:
        return Census(0, 0, 0, 0)
    try:
        import drgn  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return Census(len(pfns), 0, 0, len(pfns), "drgn is not importable")
    with reference.open("rb") as fh:
        info = dumpcheck.vmcoreinfo(fh.read(1 << 20))
    try:
        vmemmap = int(info["SYMBOL(vmemmap)"], 16)
        size = int(info["SIZE(page)"])
        ref_off, map_off = int(info["OFFSET(page._refcount)"]), int(info["OFFSET(page.mapping)"])
    except (KeyError, ValueError) as exc:
        return Census(len(pfns), 0, 0, len(pfns), f"VMCOREINFO lacks {exc}")
    prog: Any = drgn.Program()
    prog.set_core_dump(str(reference))
    free = in_use = unread = 0
    for pfn in pfns:
        try:
            raw = bytes(prog.read(vmemmap + pfn * size, size, False))
        except Exception:  # noqa: BLE001 - drgn.FaultError: the struct page is not in the reference
            unread += 1
            continue
        refcount = struct.unpack_from("<i", raw, ref_off)[0]
        mapping = struct.unpack_from("<Q", raw, map_off)[0]
        if refcount == 0 and mapping == 0:
            free += 1
        else:
            in_use += 1
    return Census(len(pfns), free, in_use, unread, f"struct pages read by drgn at vmemmap {vmemmap:#x}")
