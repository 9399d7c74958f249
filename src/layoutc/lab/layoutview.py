"""A small typed view of ``layout.json`` (what ``layoutc compile`` writes), as the lab needs it.

Only the fields the lab reads are typed here; everything else stays in the file. Reading never guesses: a
missing or ill-typed field the lab needs raises ``LabError("invalid-layout", …)`` naming the JSON path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layoutc.lab.errors import LabError

LAYOUT_FILE = "layout.json"
SUPPORTED_SCHEMA = 1


@dataclass(frozen=True, slots=True)
class MapEntry:
    start: int
    end: int  # exclusive
    type: str  # ram | reserved | acpi | nvs | unusable | pmem
    node: int | None


@dataclass(frozen=True, slots=True)
class NodeSpan:
    node: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Region:
    name: str
    kind: str
    node: int | None
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class DumpWindow:
    start: int
    size: int
    blocks_returned: int | None
    devdax_map: str  # ndctl --map for the devdax step (mem|dev)
    devdax_align: int

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass(frozen=True, slots=True)
class Memory:
    block_size: int
    srat: bool
    nodes: tuple[int, ...]
    map: tuple[MapEntry, ...]

    @property
    def ram(self) -> tuple[MapEntry, ...]:
        return tuple(e for e in self.map if e.type == "ram")


@dataclass(frozen=True, slots=True)
class Strategy:
    crash_memory: str  # classic | cma
    target: str  # pmem-window | disk
    window_mode: str | None  # movable | hotplug | None


@dataclass(frozen=True, slots=True)
class LayoutView:
    board: str
    arch: str
    kernel_version: str
    memory: Memory
    board_cmdline: str
    cmdline: Mapping[str, str]
    strategy: Strategy
    movable_zone: tuple[NodeSpan, ...]
    regions: tuple[Region, ...]
    dump_window: DumpWindow | None
    kaslr: bool
    armed_overhead: int | None
    unsafe: tuple[Any, ...]

    def regions_of(self, kind: str) -> tuple[Region, ...]:
        return tuple(r for r in self.regions if r.kind == kind)

    def production_cmdline(self) -> str:
        return " ".join(p for p in (self.board_cmdline, self.cmdline.get("production", "")) if p.strip())


class _Reader:
    """Typed accessors that name the JSON path on failure."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, expected: str, value: object) -> LabError:
        return LabError("invalid-layout", f"{self.source}: {path}: expected {expected}, got {value!r}")

    def obj(self, data: object, path: str) -> Mapping[str, Any]:
        if not isinstance(data, Mapping):
            raise self.fail(path, "an object", data)
        return data

    def int_(self, data: Mapping[str, Any], key: str, path: str) -> int:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{path}.{key}", "an integer", value)
        return value

    def opt_int(self, data: Mapping[str, Any], key: str, path: str) -> int | None:
        return None if data.get(key) is None else self.int_(data, key, path)

    def str_(self, data: Mapping[str, Any], key: str, path: str, default: str | None = None) -> str:
        value = data.get(key, default)
        if not isinstance(value, str):
            raise self.fail(f"{path}.{key}", "a string", value)
        return value

    def list_(self, data: Mapping[str, Any], key: str, path: str) -> list[Any]:
        value = data.get(key, [])
        if not isinstance(value, list):
            raise self.fail(f"{path}.{key}", "a list", value)
        return value


def parse_layout(data: object, source: str = LAYOUT_FILE) -> LayoutView:
    """Build the typed view from decoded JSON."""
    rd = _Reader(source)
    top = rd.obj(data, "$")
    version = top.get("schema_version")
    if version != SUPPORTED_SCHEMA:
        raise rd.fail("$.schema_version", f"{SUPPORTED_SCHEMA} (this lab reads layout schema v1)", version)
    mem = rd.obj(top.get("memory"), "$.memory")
    entries = []
    for i, raw in enumerate(rd.list_(mem, "map", "$.memory")):
        e = rd.obj(raw, f"$.memory.map[{i}]")
        path = f"$.memory.map[{i}]"
        entries.append(MapEntry(rd.int_(e, "start", path), rd.int_(e, "end", path), rd.str_(e, "type", path),
                                rd.opt_int(e, "node", path)))  # fmt: skip
    nodes = tuple(int(n) for n in rd.list_(mem, "nodes", "$.memory")) or (0,)
    memory = Memory(rd.int_(mem, "block_size", "$.memory"), bool(mem.get("srat", True)), nodes, tuple(entries))
    strat = rd.obj(top.get("strategy", {}), "$.strategy")
    mode = strat.get("window_mode")
    strategy = Strategy(
        rd.str_(strat, "crash_memory", "$.strategy", "classic"),
        rd.str_(strat, "target", "$.strategy", "pmem-window"),
        mode if isinstance(mode, str) else None,
    )
    cmd = rd.obj(top.get("cmdline", {}), "$.cmdline")
    cmdline = {k: rd.str_(cmd, k, "$.cmdline") for k in cmd}
    movable = []
    for i, raw in enumerate(rd.list_(top, "movable_zone", "$")):
        m, path = rd.obj(raw, f"$.movable_zone[{i}]"), f"$.movable_zone[{i}]"
        movable.append(NodeSpan(rd.int_(m, "node", path), rd.int_(m, "start", path), rd.int_(m, "end", path)))
    regions = []
    for i, raw in enumerate(rd.list_(top, "regions", "$")):
        r, path = rd.obj(raw, f"$.regions[{i}]"), f"$.regions[{i}]"
        name, kind, node = rd.str_(r, "name", path, ""), rd.str_(r, "kind", path), rd.opt_int(r, "node", path)
        regions.append(Region(name, kind, node, rd.int_(r, "start", path), rd.int_(r, "end", path)))
    return LayoutView(
        board=rd.str_(top, "board", "$", ""),
        arch=rd.str_(top, "arch", "$", "x86_64"),
        kernel_version=str(top.get("kernel_version", "")),
        memory=memory,
        board_cmdline=rd.str_(top, "board_cmdline", "$", ""),
        cmdline=cmdline,
        strategy=strategy,
        movable_zone=tuple(movable),
        regions=tuple(regions),
        dump_window=_window(rd, top.get("dump_window")),
        kaslr=bool(top.get("kaslr", True)),
        armed_overhead=rd.opt_int(top, "armed_overhead", "$"),
        unsafe=tuple(top.get("unsafe") or ()),
    )


def _window(rd: _Reader, raw: object) -> DumpWindow | None:
    if raw is None:
        return None
    w = rd.obj(raw, "$.dump_window")
    devdax = w.get("devdax") if isinstance(w.get("devdax"), Mapping) else {}
    assert isinstance(devdax, Mapping)
    dmap = devdax.get("map", w.get("map", "mem"))
    align = devdax.get("align", w.get("align", 2 << 20))
    return DumpWindow(
        start=rd.int_(w, "start", "$.dump_window"),
        size=rd.int_(w, "size", "$.dump_window"),
        blocks_returned=rd.opt_int(w, "blocks_returned", "$.dump_window"),
        devdax_map=dmap if dmap in ("mem", "dev") else "mem",
        devdax_align=align if isinstance(align, int) and not isinstance(align, bool) else 2 << 20,
    )


def load_layout(layout_dir: Path) -> LayoutView:
    """Read ``layout_dir/layout.json``."""
    path = layout_dir / LAYOUT_FILE
    try:
        text = path.read_text()
    except OSError as exc:
        raise LabError("invalid-layout", f"{path}: {exc.strerror}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LabError("invalid-layout", f"{path}:{exc.lineno}:{exc.colno}: {exc.msg}") from exc
    return parse_layout(data, str(path))
