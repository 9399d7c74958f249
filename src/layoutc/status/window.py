"""The dump window's state, the dump it may hold, and what recover.sh left in /var/lib/layoutc (pure).

Order of evidence, as recover.sh and capture.sh leave the window: a dax device inside the window (driver
``kmem``: returned to RAM; else devdax), a raw /dev/pmemN whose namespace starts at the window, then the
memory blocks covering it (online in ZONE_MOVABLE, online elsewhere, offline, missing).
"""

from __future__ import annotations

from layoutc.status.checks import EXT4_MAGIC, Check, DumpState, Level, WindowState, parse_int, size_text
from layoutc.status.expected import Expected, Window
from layoutc.status.facts import Facts, Pmem

HELD = (WindowState.PMEM, WindowState.DEVDAX, WindowState.OFFLINE)


def window_pmem(f: Facts, w: Window) -> Pmem | None:
    """The /dev/pmemN whose namespace starts at the window (resource "%#llx",
    LNX:drivers/nvdimm/namespace_devs.c resource_show, v6.1)."""
    return next((p for p in f.pmem if parse_int(p.resource) == w.start), None)


def _blocks_state(f: Facts, w: Window, block_size: int) -> tuple[WindowState, str]:
    first, last = w.start // block_size, (w.end - 1) // block_size
    span = f"memory blocks {first}-{last}"
    have = {b.index: b for b in f.blocks if first <= b.index <= last}
    if not have:
        return WindowState.ABSENT, f"no {span}"
    missing = [i for i in range(first, last + 1) if i not in have]
    if missing:
        return WindowState.ABSENT, f"{span}: {len(missing)} missing"
    states = {(b.state or "unreadable").strip() for b in have.values()}
    if states != {"online"}:
        return WindowState.OFFLINE, f"{span}: " + ", ".join(sorted(states))
    zones = {(b.zones or "unreadable").strip() for b in have.values()}
    if zones == {"Movable"}:
        return WindowState.MOVABLE_RAM, f"{span} online in ZONE_MOVABLE"
    return WindowState.RAM, f"{span} online, valid_zones " + ", ".join(sorted(zones))


def classify(f: Facts, w: Window, block_size: int) -> tuple[WindowState, str]:
    """The window's state and the evidence (a dax device's driver: LNX:drivers/dax/kmem.c dev_dax_kmem_probe)."""
    for d in f.dax:
        start = parse_int(d.resource)
        if start is not None and w.start <= start < w.end:
            if d.driver == "kmem":
                return WindowState.SYSTEM_RAM, f"{d.name} (dax/kmem)"
            return WindowState.DEVDAX, f"{d.name} (driver {d.driver or 'none'})"
    p = window_pmem(f, w)
    if p is not None:
        size = parse_int(p.size, 10)
        extra = "" if size == w.size else f", size {size} where the layout has {w.size}"
        return WindowState.PMEM, f"/dev/{p.name}{extra}"
    return _blocks_state(f, w, parse_int(f.block_size, 16) or block_size)


def expected_state(e: Expected, w: Window, boot: str) -> WindowState:
    """Movable windows are RAM in production; after a recovery (every boot of a hotplug window) they are
    returned through kmem, or stay pmem until recover.sh reboots (release: reboot). The same on arm64, whose
    recovery boot is the one with the layout's recovery mem= (``checks.recovery_marks``)."""
    if w.mode == "movable" and boot != "recovery":
        return WindowState.MOVABLE_RAM
    return WindowState.SYSTEM_RAM if w.release == "kmem" else WindowState.PMEM


def check_window(f: Facts, e: Expected, boot: str) -> tuple[Check, WindowState]:
    assert e.window is not None
    w = e.window
    state, evidence = classify(f, w, e.block_size)
    want = expected_state(e, w, boot)
    where = f"[{w.start:#x}, {w.end:#x}) {size_text(w.size)}: {evidence}"
    if state in HELD:
        level = Level.HELD
    elif state is want and "where the layout has" not in evidence:
        level = Level.OK
    else:
        level = Level.MISMATCH
    return Check("window", level, want.value, state.value, where), state


def released_here(f: Facts) -> bool:
    boot = (f.boot_id or "").strip()
    return bool(boot) and f"released-{boot}" in f.state_files


def check_dump(f: Facts, e: Expected, state: WindowState) -> tuple[Check, DumpState]:
    """recover.sh's rule: two bytes 0xef53 at 1080 mean capture.sh's filesystem; a window whose bytes cannot
    be read holds an unknown dump and is kept."""
    assert e.window is not None
    if state is not WindowState.PMEM:
        return Check("dump in window", Level.OK, "none", "none", f"the window is {state.value}"), DumpState.NONE
    p = window_pmem(f, e.window)
    assert p is not None
    if p.magic is None:
        why = f"cannot read /dev/{p.name}: {p.read_error}; recover.sh keeps the window"
        return Check("dump in window", Level.UNREADABLE, "none", "unreadable", why), DumpState.UNREADABLE
    if p.magic != EXT4_MAGIC:
        return Check("dump in window", Level.OK, "none", "none", f"/dev/{p.name}: no filesystem"), DumpState.NONE
    if released_here(f):
        detail = f"/dev/{p.name}: a dump recover.sh stored in this boot (released-{(f.boot_id or '').strip()})"
        return Check("dump in window", Level.INFO, "none", "handled", detail), DumpState.HANDLED
    detail = f"/dev/{p.name} holds capture.sh's filesystem (ext4 magic at byte 1080) not yet recovered"
    return Check("dump in window", Level.PENDING, "none", "pending", detail), DumpState.PENDING


def pending_uploads(f: Facts) -> tuple[str, ...]:
    """Dumps recover.sh stored (stored-ID) whose upload has not succeeded (no uploaded-ID)."""
    names = set(f.state_files)
    return tuple(sorted(n[len("stored-"):] for n in names if n.startswith("stored-")
                        and f"uploaded-{n[len('stored-'):]}" not in names))  # fmt: skip


def check_uploads(f: Facts) -> Check:
    waiting = pending_uploads(f)
    if waiting:
        return Check("uploads", Level.PENDING, "none pending", ", ".join(waiting), "stored, upload not done yet")
    return Check("uploads", Level.OK, "none pending", "none pending", "/var/lib/layoutc")


def last_recovery(f: Facts) -> tuple[tuple[str, str], ...]:
    """recover.sh's last-recovery file: key=value lines (rc, boot, time, dump, capture)."""
    pairs = []
    for line in (f.last_recovery or "").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip().isidentifier():
            pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


def check_last(f: Facts) -> list[Check]:
    pairs = dict(last_recovery(f))
    if not pairs:
        return [Check("last recovery", Level.INFO, "-", "none recorded", "/var/lib/layoutc/last-recovery")]
    when = f"at {pairs.get('time', '?')}, boot {pairs.get('boot', '?')}"
    checks = [Check("last recovery", Level.INFO, "exit 0", f"exit {pairs.get('rc', '?')}", when)]
    if pairs.get("dump"):
        checks.append(Check("last capture", Level.INFO, "COMPLETE", pairs.get("capture") or "?",
                            f"dump {pairs['dump']}, as recover.sh found its marker"))  # fmt: skip
    return checks
