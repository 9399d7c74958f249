"""The imported profile as YAML text: deterministic, and commented with where each value came from.

The text is written line by line (never templated from a dict dump) so that every value can
carry its provenance comment; values are plain YAML 1.2 scalars the strict loader accepts
(hex addresses, ``128M`` sizes, JSON-quoted strings).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.importer import parse_report as report
from layoutc.importer.board_map import Board, derive_board
from layoutc.importer.sysinfo_types import SysInfo
from layoutc.kernel.capabilities import BY_SYMBOL
from layoutc.model.profile import KernelVersion, Strategy
from layoutc.model.units import format_human, format_size

BOARD_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")  # profile schema: board
CMDLINE_RE = re.compile(r"^[^\x00-\x1f\x7f]{0,1024}$")  # profile schema: kernel.cmdline
CMA_MIN = (6, 17)  # crashkernel=,cma (docs/reference/kernel-rules.md §1.5)
DEFAULT_CMA_SIZE = "256M"
DEFAULT_DISK = "/dev/disk/by-partlabel/crash"


@dataclass(frozen=True, slots=True)
class Design:
    """What a --strategy name means in the profile language."""

    memory: str
    target: str
    mode: str | None


STRATEGY2DESIGN: dict[Strategy, Design] = {
    Strategy.PMEM_MOVABLE: Design("classic", "pmem-window", "movable"),
    Strategy.PMEM_HOTPLUG: Design("classic", "pmem-window", "hotplug"),
    Strategy.CMA: Design("cma", "pmem-window", "movable"),
    Strategy.CMA_DISK: Design("cma", "disk", None),
    Strategy.CLASSIC_DISK: Design("classic", "disk", None),
    Strategy.CMA_HOTPLUG: Design("cma", "pmem-window", "hotplug"),
}


def import_profile(info: SysInfo, board: str, strategy: Strategy, diags: Diagnostics) -> str | None:
    """Turn a device's SysInfo into a v1 profile (YAML text) for ``board`` with the ``strategy`` design.

    Layout parameters on the captured cmdline are recognised and undone, so the map is the
    board's. Returns None, with LC4xx diagnostics, when the capture or the strategy does not
    allow a valid profile (e.g. ``cma`` on a kernel older than 6.17).
    """
    if not BOARD_RE.match(board):
        report.error(
            diags,
            "LC417",
            f"board name '{board}' is not accepted",
            file=None,
            value=board,
            hint="use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit",
        )
        return None
    derived = derive_board(info, diags)
    if derived is None or not _strategy_ok(derived, strategy, info, diags):
        return None
    if not CMDLINE_RE.match(derived.cmdline.board_text):
        report.error(
            diags,
            "LC408",
            "the board's cmdline has control characters or is over 1024 characters",
            file=f"{info.source}/cmdline",
            value=report.shown(derived.cmdline.board_text),
            hint="edit the captured cmdline file, then import again",
        )
        return None
    _check_modules(info, diags)
    if info.boot is not None and info.boot.initrd is None:
        report.note(
            diags,
            "LC425",
            "no initrd of the running kernel was found: the profile gets no boot: section, and the initrd's "
            "place is not modelled",
            file=f"{info.source}/boot",
            hint="run 'layoutc probe' on the device (it measures /boot), or add boot: by hand",
        )
    return "".join(line + "\n" for line in _lines(info, derived, board, strategy))


def _check_modules(info: SysInfo, diags: Diagnostics) -> None:
    """Warn about options built =m whose module file is not installed (the capture has both lists)."""
    if info.kconfig is None or info.modules is None:
        return
    present = {m.name for m in info.modules}
    for option in info.kconfig:
        module = BY_SYMBOL[option.name].module
        if option.value == "m" and module is not None and module not in present:
            report.warning(
                diags,
                "LC424",
                f"CONFIG_{option.name}=m but {module}.ko is not in the kernel's module directory",
                file=f"{info.source}/modules",
                value=module,
                hint="install the kernel's modules package on the device, then capture again",
            )


def _strategy_ok(b: Board, strategy: Strategy, info: SysInfo, diags: Diagnostics) -> bool:
    design = STRATEGY2DESIGN[strategy]
    version = KernelVersion.parse(b.version)
    ok = True
    if b.arch == "arm64" and (design.memory == "cma" or design.mode == "hotplug"):
        report.error(
            diags,
            "LC419",
            f"--strategy {strategy} is not possible on arm64",
            file=None,
            value=str(strategy),
            hint="arm64 has no crashkernel=,cma and no hotplug window: use --strategy pmem-movable (a device-tree "
            "window in ZONE_MOVABLE) or classic-disk",
        )
        ok = False
    elif design.memory == "cma" and (version.major, version.minor) < CMA_MIN:
        report.error(
            diags,
            "LC412",
            f"--strategy {strategy} needs crashkernel=,cma (Linux 6.17 or newer); the "
            f"captured kernel is {b.version}",
            file=f"{info.source}/uname-r",
            value=str(strategy),
            hint="import with --strategy pmem-movable (or pmem-hotplug), or capture the device again "
            "after moving it to a 6.17+ kernel",
        )
        ok = False
    if design.mode == "hotplug" and not b.srat:
        report.error(
            diags,
            "LC413",
            f"--strategy {strategy} needs an SRAT, and the capture shows none ({b.srat_source})",
            file=None,
            value=str(strategy),
            hint="import with --strategy pmem-movable; if the firmware has an SRAT, capture dmesg too",
        )
        ok = False
    return ok


_PLAIN_RE = re.compile(r"^[a-z][a-z0-9._-]*$")
_WORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n"}  # YAML 1.1/1.2 non-strings


def _scalar(text: str) -> str:
    """``text`` as a YAML string: plain when the strict loader reads it back as a string, else quoted."""
    return text if _PLAIN_RE.match(text) and text not in _WORDS else json.dumps(text)


def _comment(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", "?", text)


def _lines(info: SysInfo, b: Board, board: str, strategy: Strategy) -> list[str]:
    out = [
        f"# Imported by 'layoutc import' from {_comment(info.source)}.",
        "# This is the board's memory map, not the captured layout's: layout parameters on the captured",
        "# cmdline are recognised and their effect undone.",
    ]
    out += [f"#   - {_comment(note)}" for note in b.undone] or ["#   (the captured cmdline had none)"]
    out += [f"# Capture note: {_comment(note)}." for note in info.notes]
    out += [
        f"# Crash design from --strategy {strategy}: review it, then run 'layoutc check'.",
        "schema_version: 1",
        f"board: {_scalar(board)}",
        f"arch: {b.arch}  # {_comment(b.arch_source)}",
        "kernel:",
        f'  version: "{b.version}"  # {_comment(b.version_source)}',
    ]
    removed = [*b.cmdline.layout, *b.cmdline.dropped]
    why = f" without {' '.join(removed)}" if removed else ""
    if b.cmdline.board_text:
        out.append(f"  cmdline: {json.dumps(b.cmdline.board_text)}  # the captured cmdline{_comment(why)}")
    else:
        out.append(f"  # no cmdline: the capture has none, or only layout parameters{_comment(why)}")
    out += _config(info)
    out += _boot(info, b)
    out.append("memory:")
    if b.block_size is not None:
        out.append(f"  block_size: {format_size(b.block_size)}  # {_comment(b.block_source)}")
    out.append(f"  srat: {'true' if b.srat else 'false'}  # {_comment(b.srat_source)}")
    out.append(f"  # map: {_comment(b.map_source)}; nodes: {_comment(b.node_source)}")
    out.append("  map:")
    for r in b.ranges:
        node = f", node: {r.node}" if r.kind == "ram" else ""
        out.append(
            f"    - {{start: 0x{r.start:x}, end: 0x{r.end:x}, type: {r.kind}{node}}}"
            f"  # {format_human(r.end - r.start)}"
        )
    out += _design(STRATEGY2DESIGN[strategy], info)
    return out


def _config(info: SysInfo) -> list[str]:
    if info.kconfig is None:
        return ["  # no config: the capture has no kernel configuration; 'layoutc check' assumes a Debian-like one"]
    out = ["  config:  # the captured kernel config: the options layoutc checks (docs/import.md)"]
    return out + [f"    {o.name}: {o.value}" for o in info.kconfig]


def _boot(info: SysInfo, b: Board) -> list[str]:
    """``boot:`` with the measured initrd size and the loader the capture suggests (x86_64 only)."""
    if info.boot is None:
        return ["# no boot: the capture does not say how the device boots (probe measures its initrd)"]
    initrd = info.boot.initrd
    if initrd is None:
        return ["# no boot: no initrd of the running kernel was found; the initrd's place is not modelled"]
    via = f" -> {initrd.target}" if initrd.target != initrd.path else ""
    measured = f"measured {initrd.path}{via}, {format_human(initrd.size)}"
    if b.arch != "x86_64":
        return [f"# no boot: the initrd's place is modelled on x86_64 only ({_comment(measured)})"]
    loader, why = _loader(info, b)
    return [
        "boot:",
        f"  loader: {loader}  # EDIT if it boots otherwise: {why}",
        f"  initrd_size: {format_size(initrd.size)}  # {_comment(measured)}",
    ]


def _loader(info: SysInfo, b: Board) -> tuple[str, str]:
    """The boot loader the capture suggests: GRUB puts BOOT_IMAGE= on the cmdline, UEFI leaves /sys/firmware/efi."""
    grub = any(word.startswith("BOOT_IMAGE=") for word in b.cmdline.dropped)
    said = "BOOT_IMAGE= on the captured cmdline (GRUB)" if grub else "no BOOT_IMAGE= on the captured cmdline"
    efi = info.boot.efi if info.boot is not None else None
    if efi is None:
        firmware = "UEFI unknown (the capture does not say), read as BIOS"
    else:
        firmware = "/sys/firmware/efi (UEFI)" if efi else "no /sys/firmware/efi (BIOS)"
    if efi:
        return ("grub-efi" if grub else "systemd-boot"), f"{said}, {firmware}"
    return ("grub-bios" if grub else "direct"), f"{said}, {firmware}" + ("" if grub else ": QEMU -kernel/-initrd")


def _design(design: Design, info: SysInfo) -> list[str]:
    out = [
        "crash:",
        f"  memory: {design.memory}",
        f"  target: {design.target}",
        "  reserve: auto  # sized from the crash kernel, initrd and dumper",
    ]
    if design.memory == "cma":
        out.append(
            f"  cma_size: {DEFAULT_CMA_SIZE}  # a starting point: crashkernel=X,cma lends it to movable "
            "allocations while armed"
        )
    captured = info.dmesg.crash if info.dmesg is not None else ()
    for c in captured:
        out.append(f"  # the device had a {c.kind} crashkernel reservation of {format_human(c.size)}")
    if design.mode is not None:
        out += ["window:", f"  mode: {design.mode}", "  size: auto"]
    else:
        out += [
            "disk:",
            f"  device: {DEFAULT_DISK}  # EDIT: the partition the crash kernel writes the dump to",
            "  fstype: ext4",
        ]
    return out
