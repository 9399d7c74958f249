"""The kernel log's memory-layout facts: e820, SRAT, NUMA, ZONE_MOVABLE starts, crashkernel.

Lines are matched by their prefix after the optional ``<N>`` level and ``[ seconds]`` stamp.
A line whose prefix is recognised must have the kernel's format (reported, never guessed);
every other line is ignored. Sources: arch/x86/kernel/e820.c ``e820__print_table`` (both the
classic ``usable``/``reserved`` labels and the 2025 ``System RAM``/``device reserved`` ones),
drivers/acpi/numa/srat.c ``acpi_numa_memory_affinity_init``, mm/mm_init.c (``Movable zone
start for each node``), kernel/crash_reserve.c.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.importer import parse_report as report
from layoutc.importer.sysinfo_types import CrashReservation, DmesgFacts, E820Entry, MovableStart, SratRange

_STAMP_RE = re.compile(r"^(?:<\d+>)?(?:\[\s*\d+\.\d+\] ?)?")
_E820_RE = re.compile(r"^BIOS-e820: \[mem 0x([0-9a-fA-F]+)-0x([0-9a-fA-F]+)\]\s+(\S.*?)\s*$")
_E820_GAP_RE = re.compile(r"^BIOS-e820: \[gap 0x[0-9a-fA-F]+-0x[0-9a-fA-F]+\]\s*$")
_SRAT_RE = re.compile(
    r"^ACPI: SRAT: Node (\d+) PXM (\d+) \[mem 0x([0-9a-fA-F]+)-0x([0-9a-fA-F]+)\]"
    r"((?: hotplug| non-volatile)*)\s*$"
)
_MOVABLE_NODE_RE = re.compile(r"^\s+Node (\d+): 0x([0-9a-fA-F]+)\s*$")
_CRASH_RE = re.compile(
    r"^crashkernel (low memory )?reserved: 0x([0-9a-fA-F]+) - 0x([0-9a-fA-F]+) \((\d+) MB\)\s*$"
)
_CRASH_CMA_RE = re.compile(r"^crashkernel CMA reserved: (\d+) MB in (\d+) ranges?\s*$")
_CRASH_OLD_RE = re.compile(r"^Reserving (\d+)MB of (low )?memory at (\d+)MB for crashkernel \(.*\)\s*$")
_VERSION_RE = re.compile(r"^Linux version (\S+)")
_Bad = Callable[[str, str], None]

# e820 labels (old and new spellings) -> profile range type. e820.c e820_print_type().
LABEL2KIND: dict[str, str] = {
    "usable": "ram",
    "System RAM": "ram",
    "reserved": "reserved",
    "device reserved": "reserved",
    "soft reserved": "reserved",
    "Soft Reserved": "reserved",
    "ACPI data": "acpi",
    "ACPI NVS": "nvs",
    "unusable": "unusable",
    "persistent (type 7)": "pmem",
    "persistent (type 12)": "pmem",
    "protected (type 12)": "pmem",
}
_TYPE_N_RE = re.compile(r"^(?:persistent |protected )?\(?type (\d+)\)?$")
_TYPE2KIND = {1: "ram", 2: "reserved", 3: "acpi", 4: "nvs", 5: "unusable", 7: "pmem", 12: "pmem"}


class _State:
    """What the walk has collected so far."""

    def __init__(self) -> None:
        self.e820: list[E820Entry] = []
        self.srat: list[SratRange] = []
        self.movable: list[MovableStart] = []
        self.crash: list[CrashReservation] = []
        self.srat_table = False
        self.numa_off = False
        self.in_movable = False
        self.command_line: str | None = None
        self.version: str | None = None
        self.ok = True


def parse_dmesg(text: str, display: str, diags: Diagnostics) -> DmesgFacts | None:
    """Collect the layout facts of a kernel log. Returns None when a recognised line is malformed."""
    state = _State()
    for lineno, raw in enumerate(text.splitlines(), start=1):
        stamp = _STAMP_RE.match(raw)
        offset = stamp.end() if stamp else 0
        _line(raw[offset:], raw, offset, lineno, display, diags, state)
    if not state.ok:
        return None
    return DmesgFacts(
        tuple(state.e820),
        state.srat_table or bool(state.srat),
        tuple(state.srat),
        state.numa_off,
        tuple(state.movable),
        tuple(state.crash),
        state.command_line,
        state.version,
    )


def _line(msg: str, raw: str, offset: int, lineno: int, display: str, diags: Diagnostics, st: _State) -> None:
    def bad(what: str, hint: str) -> None:
        report.error(
            diags,
            "LC406",
            f"{what}: '{report.shown(raw)}'",
            file=display,
            line=lineno,
            col=offset + 1,
            value=msg,
            hint=hint,
        )
        st.ok = False

    if st.in_movable:
        match = _MOVABLE_NODE_RE.match(msg)
        if match is not None:
            st.movable.append(MovableStart(int(match.group(1)), int(match.group(2), 16)))
            return
        st.in_movable = False
    if msg.startswith("BIOS-e820:"):
        _e820(msg, st, bad)
    elif msg.startswith("ACPI: SRAT: Node "):
        match = _SRAT_RE.match(msg)
        if match is None:
            bad("malformed SRAT memory affinity line", "expected 'ACPI: SRAT: Node N PXM P [mem 0xS-0xE]'")
            return
        node, pxm, first, last, flags = match.groups()
        st.srat.append(SratRange(int(node), int(pxm), int(first, 16), int(last, 16) + 1, "hotplug" in flags))
    elif msg.startswith("ACPI: SRAT "):
        st.srat_table = True
    elif msg.startswith("No NUMA configuration found") or msg.startswith("Faking a node at"):
        st.numa_off = True
    elif msg.startswith("Movable zone start for each node"):
        st.in_movable = True
    elif msg.startswith(
        ("crashkernel reserved:", "crashkernel low memory reserved:", "crashkernel CMA reserved:")
    ):
        _crash(msg, st, bad)
    elif msg.startswith("Reserving ") and "for crashkernel" in msg:
        match = _CRASH_OLD_RE.match(msg)
        if match is None:
            bad(
                "malformed crashkernel message",
                "expected 'Reserving NMB of memory at AMB for crashkernel (...)'",
            )
            return
        size, low, at = int(match.group(1)) << 20, match.group(2), int(match.group(3)) << 20
        st.crash.append(CrashReservation("low" if low else "high", at, at + size, size))
    elif msg.startswith("Command line: ") and st.command_line is None:
        st.command_line = msg[len("Command line: ") :].strip()
    elif msg.startswith("Linux version ") and st.version is None:
        match = _VERSION_RE.match(msg)
        st.version = match.group(1) if match else None


def _e820(msg: str, st: _State, bad: _Bad) -> None:
    if _E820_GAP_RE.match(msg):
        return
    match = _E820_RE.match(msg)
    if match is None:
        bad("malformed BIOS-e820 line", "expected 'BIOS-e820: [mem 0xSTART-0xEND] TYPE'")
        return
    first, last, label = int(match.group(1), 16), int(match.group(2), 16), match.group(3)
    kind = LABEL2KIND.get(label)
    if kind is None:
        number = _TYPE_N_RE.match(label)
        kind = _TYPE2KIND.get(int(number.group(1)), "reserved") if number else None
    if kind is None:
        bad(f"unknown e820 type '{label}'", "known: " + ", ".join(sorted(LABEL2KIND)))
        return
    if last < first:
        bad("e820 range ends before it starts", "the end is inclusive and not below the start")
        return
    st.e820.append(E820Entry(first, last + 1, kind, label))


def _crash(msg: str, st: _State, bad: _Bad) -> None:
    match = _CRASH_RE.match(msg)
    if match is not None:
        low, first, last, _mb = match.groups()
        start, end = int(first, 16), int(last, 16) + 1
        st.crash.append(CrashReservation("low" if low else "high", start, end, end - start))
        return
    cma = _CRASH_CMA_RE.match(msg)
    if cma is not None:
        st.crash.append(CrashReservation("cma", None, None, int(cma.group(1)) << 20))
        return
    bad("malformed crashkernel message", "expected 'crashkernel reserved: 0xS - 0xE (N MB)'")


def render_dmesg(facts: DmesgFacts) -> str:
    """Print the facts as the kernel's log lines (only these lines; enough for parse_dmesg)."""
    out = []
    if facts.linux_version:
        out.append(f"Linux version {facts.linux_version}")
    if facts.command_line is not None:
        out.append(f"Command line: {facts.command_line}")
    for e in facts.e820:
        out.append(f"BIOS-e820: [mem 0x{e.start:016x}-0x{e.end - 1:016x}] {e.label}")
    if facts.srat_table:
        out.append("ACPI: SRAT 0x0000000000000000 000000 (v01 layoutc probe)")
    for s in facts.srat:
        flags = " hotplug" if s.hotplug else ""
        out.append(f"ACPI: SRAT: Node {s.node} PXM {s.pxm} [mem 0x{s.start:08x}-0x{s.end - 1:08x}]{flags}")
    if facts.numa_off:
        out.append("No NUMA configuration found")
    for c in facts.crash:
        if c.kind == "cma":
            out.append(f"crashkernel CMA reserved: {c.size >> 20} MB in 1 ranges")
        elif c.start is not None and c.end is not None:
            low = "low memory " if c.kind == "low" else ""
            out.append(
                f"crashkernel {low}reserved: 0x{c.start:016x} - 0x{c.end - 1:016x} ({c.size >> 20} MB)"
            )
    out.append("Movable zone start for each node")
    out.extend(f"  Node {m.node}: 0x{m.start:016x}" for m in facts.movable_start)
    return "".join(f"[    0.000000] {line}\n" for line in out)
