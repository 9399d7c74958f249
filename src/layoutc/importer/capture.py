"""Raw captures: the files of a SYSINFO directory, parsed into a ``SysInfo``, and back.

Layout (the one ``layoutc probe --raw`` writes; the repository's captures in tests/captures use it
too): ``iomem`` (required, unless an lsmem file is the only source - then the map is block-granular),
``lsmem.json`` or ``lsmem.txt``, ``block_size_bytes`` (hex, no 0x), ``cmdline``, ``uname-r``,
``zoneinfo``, ``dmesg``, ``config`` (the kernel's .config text), ``modules`` (its module directory,
``importer/kconfig.py``) and ``boot`` (the initrd's size and whether UEFI started the kernel,
``importer/boot_capture.py``), and on device-tree machines (arm64) ``fdt.dtb``, the binary tree the
kernel booted with (/sys/firmware/fdt, ``importer/dt_memory.py``). Other files (``offline-test.json``,
...) are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.importer import parse_report as report
from layoutc.importer.boot_capture import parse_boot, render_boot
from layoutc.importer.dmesg import parse_dmesg, render_dmesg
from layoutc.importer.dt_memory import parse_fdt_memory
from layoutc.importer.iomem import parse_iomem, render_iomem
from layoutc.importer.kconfig import kept_options, parse_kconfig, parse_modules
from layoutc.importer.lsmem import parse_lsmem_json, parse_lsmem_text, render_lsmem_json
from layoutc.importer.sysinfo_types import RawFile, SysInfo
from layoutc.importer.zoneinfo import parse_zoneinfo, render_zoneinfo

FILES = (
    "iomem", "lsmem.json", "lsmem.txt", "block_size_bytes", "cmdline", "uname-r", "zoneinfo", "dmesg",
    "config", "modules", "boot",
)
MAX_CAPTURE_BYTES = 16 << 20  # a dmesg is well below this; anything bigger is the wrong file
FDT_FILE = "fdt.dtb"
MAX_FDT_BYTES = 2 << 20  # the arm64 boot protocol's DTB limit (layoutc.devicetree.fdt.MAX_TOTAL_SIZE)


def read_capture_dir(path: Path, display: str, diags: Diagnostics) -> SysInfo | None:
    """Read and parse a raw capture directory. Returns None (with diagnostics) when it is invalid."""
    texts: dict[str, str] = {}
    ok = True
    for name in FILES:
        file = path / name
        if not file.is_file():
            continue
        text = _read_text(file, f"{display}/{name}", diags)
        ok = ok and text is not None
        if text is not None:
            texts[name] = text
    fdt = _read_fdt(path / FDT_FILE, f"{display}/{FDT_FILE}", diags) if (path / FDT_FILE).is_file() else None
    if not ok or fdt is False:
        return None
    if "iomem" not in texts and "lsmem.json" not in texts and "lsmem.txt" not in texts:
        report.error(
            diags,
            "LC401",
            f"{display} has no 'iomem' (nor an lsmem.json/lsmem.txt to fall back on)",
            file=None,
            value=display,
            hint="capture /proc/iomem as root into 'iomem', or run 'layoutc probe --raw DIR' on the device",
        )
        return None
    return parse_capture(texts, display, diags, fdt=fdt if isinstance(fdt, bytes) else None)


def _read_fdt(file: Path, display: str, diags: Diagnostics) -> bytes | bool:
    """fdt.dtb's bytes, or False (with LC401) when unreadable or larger than a DTB may be."""
    try:
        with file.open("rb") as handle:
            raw = handle.read(MAX_FDT_BYTES + 1)
    except OSError as exc:
        report.error(diags, "LC401", f"cannot read {display}: {exc.strerror}", file=None, value=display,
                     hint="check the file's permissions")
        return False
    if len(raw) > MAX_FDT_BYTES:
        report.error(diags, "LC430", f"{display} is larger than {MAX_FDT_BYTES >> 20} MiB, the most a DTB may be",
                     file=display, hint="capture /sys/firmware/fdt, the tree the kernel booted with")
        return False
    return raw


def _read_text(file: Path, display: str, diags: Diagnostics) -> str | None:
    try:
        with file.open("rb") as handle:
            raw = handle.read(MAX_CAPTURE_BYTES + 1)
    except OSError as exc:
        report.error(
            diags,
            "LC401",
            f"cannot read {display}: {exc.strerror}",
            file=None,
            value=display,
            hint="check the file's permissions",
        )
        return None
    if len(raw) > MAX_CAPTURE_BYTES:
        report.error(
            diags,
            "LC401",
            f"{display} is larger than {MAX_CAPTURE_BYTES >> 20} MiB",
            file=display,
            hint="is this the right file?",
        )
        return None
    text = raw.decode("utf-8", errors="replace")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        report.error(
            diags,
            "LC401",
            f"{display} holds NUL bytes; it is not a text capture",
            file=display,
            line=line,
            hint="capture the file again as text (cat /proc/...)",
        )
        return None
    return text


def parse_capture(
    texts: Mapping[str, str], display: str, diags: Diagnostics, fdt: bytes | None = None
) -> SysInfo | None:
    """Parse capture texts keyed by file name (the raw layout), and the ``fdt.dtb`` blob when there is one.
    ``display`` prefixes file names."""

    def where(name: str) -> str:
        return f"{display}/{name}"

    before = report.error_count(diags)
    iomem = parse_iomem(texts["iomem"], where("iomem"), diags) if "iomem" in texts else None
    lsmem = None
    if "lsmem.json" in texts:
        lsmem = parse_lsmem_json(texts["lsmem.json"], where("lsmem.json"), diags)
    elif "lsmem.txt" in texts:
        lsmem = parse_lsmem_text(texts["lsmem.txt"], where("lsmem.txt"), diags)
    block_size = (
        _block_size(texts["block_size_bytes"], where("block_size_bytes"), diags)
        if "block_size_bytes" in texts
        else None
    )
    zones = parse_zoneinfo(texts["zoneinfo"], where("zoneinfo"), diags) if "zoneinfo" in texts else None
    dmesg = parse_dmesg(texts["dmesg"], where("dmesg"), diags) if "dmesg" in texts else None
    release = texts["uname-r"].strip() if "uname-r" in texts else None
    kconfig = parse_kconfig(texts["config"], where("config"), diags) if "config" in texts else None
    modules = parse_modules(texts["modules"], where("modules"), diags) if "modules" in texts else None
    boot = parse_boot(texts["boot"], where("boot"), diags) if "boot" in texts else None
    devicetree = parse_fdt_memory(fdt, where(FDT_FILE), diags) if fdt is not None else None
    _check_release(release, where("uname-r"), diags)
    if report.error_count(diags) > before:
        return None
    notes = tuple(
        f"no {name} in the capture" for name in ("dmesg", "zoneinfo", "cmdline") if name not in texts
    )
    cmdline = texts["cmdline"].strip() if "cmdline" in texts else None
    raw = tuple(RawFile(name, texts[name]) for name in FILES if name in texts)
    return SysInfo(
        source=display,
        iomem=iomem,
        lsmem=lsmem,
        block_size=block_size,
        cmdline=cmdline,
        kernel_release=release,
        zones=zones,
        dmesg=dmesg,
        notes=notes,
        raw=raw,
        kconfig=None if kconfig is None else kept_options(kconfig),
        modules=modules,
        boot=boot,
        devicetree=devicetree,
        fdt=fdt,
    )


def _check_release(release: str | None, display: str, diags: Diagnostics) -> None:
    if release is not None and (not release or any(c.isspace() for c in release)):
        report.error(
            diags,
            "LC408",
            f"uname-r is not one release string: '{report.shown(release)}'",
            file=display,
            value=release,
            hint="capture the output of 'uname -r'",
        )


def _block_size(text: str, display: str, diags: Diagnostics) -> int | None:
    value = text.strip()
    try:
        size = int(value, 16)
    except ValueError:
        size = 0
    if value.lower().startswith("0x") or size <= 0 or size & (size - 1):
        report.error(
            diags,
            "LC404",
            f"'{report.shown(value)}' is not a power-of-two hex number",
            file=display,
            value=value,
            hint="block_size_bytes holds hex without 0x, e.g. 8000000 for 128 MiB",
        )
        return None
    return size


def raw_files(info: SysInfo) -> dict[str, bytes]:
    """The capture files for ``probe --raw DIR``: the texts as read, or rendered from the parsed data.

    A SysInfo read from JSON has no raw texts; its files are then rendered in the kernel's
    formats (dmesg holds only the layout lines, zoneinfo only the four counters per zone).
    """
    blob = {FDT_FILE: info.fdt} if info.fdt is not None else {}
    if info.raw:
        return {**{f.name: f.text.encode() for f in info.raw}, **blob}
    files: dict[str, str] = {}
    if info.iomem is not None:
        files["iomem"] = render_iomem(info.iomem)
    if info.lsmem is not None:
        files["lsmem.json"] = render_lsmem_json(info.lsmem)
    if info.block_size is not None:
        files["block_size_bytes"] = f"{info.block_size:x}\n"
    if info.cmdline is not None:
        files["cmdline"] = info.cmdline + "\n"
    if info.kernel_release is not None:
        files["uname-r"] = info.kernel_release + "\n"
    if info.zones is not None:
        files["zoneinfo"] = render_zoneinfo(info.zones)
    if info.dmesg is not None:
        files["dmesg"] = render_dmesg(info.dmesg)
    if info.kconfig is not None:  # JSON keeps the documented options only: a partial .config
        files["config"] = "".join(
            f"CONFIG_{o.name}={o.value}\n" if o.value != "n" else f"# CONFIG_{o.name} is not set\n"
            for o in info.kconfig
        )
    if info.modules is not None:
        files["modules"] = "".join(f"{'builtin' if m.builtin else 'module'} {m.name}\n" for m in info.modules)
    if info.boot is not None:
        files["boot"] = render_boot(info.boot)
    return {**{name: text.encode() for name, text in files.items()}, **blob}
