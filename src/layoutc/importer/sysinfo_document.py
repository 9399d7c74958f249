"""SysInfo as JSON: what ``layoutc probe`` prints and ``layoutc import`` reads back.

Addresses are ``0x`` hex strings (people read them), counts are integers, ends are exclusive.
Keys are sorted, so two probes of the same device print the same bytes. Raw capture texts and the
``fdt.dtb`` blob are not part of the JSON (``probe --raw`` writes them); the device tree's memory facts
are (``devicetree``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.importer import parse_report as report
from layoutc.importer.sysinfo_types import (
    FORMAT,
    BootFacts,
    CrashReservation,
    DmesgFacts,
    DtMemory,
    DtRange,
    E820Entry,
    InitrdFile,
    IomemEntry,
    KconfigOption,
    KernelModule,
    Lsmem,
    LsmemRow,
    MovableStart,
    SratRange,
    SysInfo,
    ZoneStats,
)

_HEX_RE = re.compile(r"^0x[0-9a-f]+$")
KINDS = ("ram", "reserved", "acpi", "nvs", "unusable", "pmem")  # the profile's range types


def sysinfo_json(info: SysInfo) -> str:
    """Serialize ``info`` (without raw texts) as deterministic, indented JSON."""
    return json.dumps(_encode(info), indent=2, sort_keys=True) + "\n"


def _hex(value: int | None) -> str | None:
    return None if value is None else f"0x{value:x}"


ADDRESS_FIELDS = ("start", "end")  # printed as 0x hex; every other int stays a number


def _encode(info: SysInfo) -> dict[str, Any]:
    encoded = _plain(info)
    assert isinstance(encoded, dict)
    del encoded["raw"]
    del encoded["fdt"]
    return {"format": FORMAT, **encoded}


def _plain(value: object, name: str = "") -> object:
    """Dataclasses become objects (field names as keys), tuples lists, addresses hex strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name), f.name) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if name in ADDRESS_FIELDS and isinstance(value, int):
        return _hex(value)
    return value


class _Bad(Exception):
    """A field of the JSON has the wrong shape; carries the key path and what was expected."""

    def __init__(self, path: str, expected: str, value: object) -> None:
        super().__init__(path)
        self.path = path
        self.expected = expected
        self.value = value


class _Obj:
    """Typed, path-aware access to one JSON object."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, dict):
            raise _Bad(path, "an object", data)
        self.data: dict[str, Any] = data
        self.path = path

    def _get(self, key: str, optional: bool) -> Any:
        if key not in self.data and not optional:
            raise _Bad(f"{self.path}.{key}", "present", None)
        return self.data.get(key)

    def num(self, key: str, optional: bool = False) -> int | None:
        value = self._get(key, optional)
        if value is None and optional:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _Bad(f"{self.path}.{key}", "a non-negative integer", value)
        return value

    def addr(self, key: str, optional: bool = False) -> int | None:
        value = self._get(key, optional)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not _HEX_RE.match(value):
            raise _Bad(f"{self.path}.{key}", "a lower-case 0x hex string", value)
        return int(value, 16)

    def req_int(self, key: str) -> int:
        value = self.num(key)
        assert value is not None
        return value

    def span(self) -> tuple[int, int]:
        """``start`` and ``end`` of a range, with end above start (ends are exclusive)."""
        start, end = self.req_addr("start"), self.req_addr("end")
        if end <= start:
            raise _Bad(f"{self.path}.end", f"an end above start ({_hex(start)})", _hex(end))
        return start, end

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        value = self.req_str(key)
        if value not in allowed:
            raise _Bad(f"{self.path}.{key}", "one of " + ", ".join(allowed), value)
        return value

    def req_addr(self, key: str) -> int:
        value = self.addr(key)
        assert value is not None
        return value

    def text(self, key: str, optional: bool = False) -> str | None:
        value = self._get(key, optional)
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise _Bad(f"{self.path}.{key}", "a string", value)
        return value

    def req_str(self, key: str) -> str:
        value = self.text(key)
        assert value is not None
        return value

    def flag(self, key: str, optional: bool = False) -> bool | None:
        value = self._get(key, optional)
        if value is None and optional:
            return None
        if not isinstance(value, bool):
            raise _Bad(f"{self.path}.{key}", "true or false", value)
        return value

    def seq(self, key: str, optional: bool = False) -> list[Any] | None:
        value = self._get(key, optional)
        if value is None and optional:
            return None
        if not isinstance(value, list):
            raise _Bad(f"{self.path}.{key}", "a list", value)
        return value

    def items(self, key: str) -> list[_Obj]:
        return [_Obj(item, f"{self.path}.{key}[{i}]") for i, item in enumerate(self.seq(key) or [])]


def decode_sysinfo(text: str, display: str, diags: Diagnostics) -> SysInfo | None:
    """Read SysInfo JSON strictly: one diagnostic naming the key path of the first bad field."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        report.error(
            diags,
            "LC407",
            f"not JSON: {exc.msg}",
            file=display,
            line=exc.lineno,
            col=exc.colno,
            hint="pass the output of 'layoutc probe', or a raw capture directory",
        )
        return None
    except RecursionError:
        report.error(
            diags,
            "LC407",
            "JSON nested too deeply",
            file=display,
            hint="pass the output of 'layoutc probe' (a few levels deep), or a raw capture directory",
        )
        return None
    if isinstance(doc, dict) and doc.get("format") != FORMAT:
        report.error(
            diags,
            "LC420",
            f"{json.dumps(doc.get('format'))} is not {FORMAT}",
            file=display,
            path="format",
            value=json.dumps(doc.get("format")),
            hint="probe the device again with this version of layoutc",
        )
        return None
    try:
        return _decode(_Obj(doc, "$"), display)
    except _Bad as bad:
        shown = json.dumps(bad.value)
        report.error(
            diags,
            "LC407",
            f"expected {bad.expected}, got {report.shown(shown)}",
            file=display,
            path=bad.path,
            value=shown,
            hint="pass the output of 'layoutc probe' unchanged",
        )
        return None


def _decode(root: _Obj, display: str) -> SysInfo:
    iomem = (
        None
        if root.seq("iomem", True) is None
        else tuple(IomemEntry(*o.span(), o.req_str("name"), o.req_int("depth")) for o in root.items("iomem"))
    )
    lsmem = None
    if root.data.get("lsmem") is not None:
        ls = _Obj(root.data["lsmem"], "$.lsmem")
        rows = tuple(
            LsmemRow(
                *o.span(),
                o.req_str("state"),
                o.flag("removable", True),
                o.num("first_block", True),
                o.num("last_block", True),
                o.num("node", True),
                tuple(_strings(o, "zones")),
            )
            for o in ls.items("rows")
        )
        lsmem = Lsmem(rows, ls.req_str("source"), ls.num("block_size", True))
    zones = (
        None
        if root.seq("zones", True) is None
        else tuple(
            ZoneStats(
                o.req_int("node"),
                o.req_str("name"),
                o.num("start_pfn", True),
                o.req_int("spanned"),
                o.req_int("present"),
                o.req_int("managed"),
            )
            for o in root.items("zones")
        )
    )
    dmesg = None if root.data.get("dmesg") is None else _dmesg(_Obj(root.data["dmesg"], "$.dmesg"))
    return SysInfo(
        source=root.text("source", True) or display,
        iomem=iomem,
        lsmem=lsmem,
        block_size=root.num("block_size", True),
        cmdline=root.text("cmdline", True),
        kernel_release=root.text("kernel_release", True),
        zones=zones,
        dmesg=dmesg,
        notes=tuple(_strings(root, "notes")),
        kconfig=None
        if root.seq("kconfig", True) is None
        else tuple(KconfigOption(o.req_str("name"), o.choice("value", ("y", "m", "n"))) for o in root.items("kconfig")),
        modules=None
        if root.seq("modules", True) is None
        else tuple(KernelModule(o.req_str("name"), bool(o.flag("builtin"))) for o in root.items("modules")),
        boot=_boot(root),
        devicetree=_devicetree(root),
    )


def _devicetree(root: _Obj) -> DtMemory | None:
    if root.data.get("devicetree") is None:
        return None
    dt = _Obj(root.data["devicetree"], "$.devicetree")

    def ranges(key: str) -> tuple[DtRange, ...]:
        return tuple(_dt_range(o) for o in dt.items(key))

    header = dt.data.get("elfcorehdr")
    return DtMemory(
        ranges("memory"),
        ranges("reserved"),
        ranges("pmem"),
        ranges("usable"),
        None if header is None else _dt_range(_Obj(header, "$.devicetree.elfcorehdr")),
        dt.text("model", True),
    )


def _dt_range(o: _Obj) -> DtRange:
    return DtRange(
        *o.span(), o.req_str("path"), o.num("node", True), bool(o.flag("no_map")), bool(o.flag("volatile"))
    )


def _boot(root: _Obj) -> BootFacts | None:
    if root.data.get("boot") is None:
        return None
    boot = _Obj(root.data["boot"], "$.boot")
    initrd = None
    if boot.data.get("initrd") is not None:
        o = _Obj(boot.data["initrd"], "$.boot.initrd")
        initrd = InitrdFile(o.req_str("path"), o.req_str("target"), o.req_int("size"))
    return BootFacts(initrd, boot.flag("efi", True))


def _strings(obj: _Obj, key: str) -> list[str]:
    values = obj.seq(key, True) or []
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise _Bad(f"{obj.path}.{key}[{i}]", "a string", value)
    return values


def _dmesg(d: _Obj) -> DmesgFacts:
    return DmesgFacts(
        e820=tuple(
            E820Entry(*o.span(), o.choice("kind", KINDS), o.req_str("label")) for o in d.items("e820")
        ),
        srat_table=bool(d.flag("srat_table")),
        srat=tuple(
            SratRange(
                o.req_int("node"),
                o.req_int("pxm"),
                *o.span(),
                bool(o.flag("hotplug")),
            )
            for o in d.items("srat")
        ),
        numa_off=bool(d.flag("numa_off")),
        movable_start=tuple(
            MovableStart(o.req_int("node"), o.req_addr("start")) for o in d.items("movable_start")
        ),
        crash=tuple(
            CrashReservation(o.req_str("kind"), o.addr("start", True), o.addr("end", True), o.req_int("size"))
            for o in d.items("crash")
        ),
        command_line=d.text("command_line", True),
        linux_version=d.text("linux_version", True),
    )
