"""A small typed view of a ``layout.json`` document, as the review tools read it.

The review room depends on the document, not on the solver's Python types, so it works on
compiled output, on two revisions of it, and on hand-written fixtures alike. Missing optional
fields read as empty; the view never guesses a value that is not in the document.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

GUARD_KINDS = ("guard",)
CRASH_KINDS = ("crashkernel", "crashkernel_low", "crash_cma")


@dataclass(frozen=True, slots=True)
class MapEntry:
    start: int
    end: int
    type: str
    node: int | None


@dataclass(frozen=True, slots=True)
class Region:
    name: str
    kind: str
    node: int | None
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Zone:
    node: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Window:
    start: int
    size: int
    blocks_returned: int | None

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass(frozen=True, slots=True)
class Rule:
    """One provenance entry: why the value at ``pointer`` is what it is."""

    pointer: str
    rule: str
    source: str
    inputs: tuple[Input, ...]


@dataclass(frozen=True, slots=True)
class Input:
    path: str
    file: str
    line: int
    col: int

    def position(self) -> str:
        return f"{self.file}:{self.line}:{self.col}" if self.file else "(no position)"


@dataclass(frozen=True, slots=True)
class LayoutDoc:
    """The fields of layout.json the review tools use, typed; ``raw`` keeps the whole document."""

    raw: Mapping[str, Any]
    board: str
    arch: str
    kernel_version: str
    block_size: int
    memory_map: tuple[MapEntry, ...]
    board_cmdline: str
    cmdline: Mapping[str, str]
    crash_memory: str
    target: str
    window_mode: str | None
    movable_zone: tuple[Zone, ...]
    regions: tuple[Region, ...]
    dump_window: Window | None
    kaslr: bool | None
    armed_overhead: int | None
    unsafe: tuple[Mapping[str, Any], ...]
    warnings: tuple[str, ...]  # layout.json "warnings" (if the document carries them)
    notes: tuple[str, ...]  # layout.json "notes": informational, from the solver
    provenance: Mapping[str, Rule]

    @property
    def total_ram(self) -> int:
        return sum(e.end - e.start for e in self.memory_map if e.type == "ram")

    @property
    def strategy_name(self) -> str:
        parts = [self.crash_memory, self.target]
        if self.window_mode:
            parts.append(self.window_mode)
        return "/".join(p for p in parts if p)

    def regions_of(self, *kinds: str) -> tuple[Region, ...]:
        return tuple(r for r in self.regions if r.kind in kinds)

    def bytes_of(self, *kinds: str) -> int:
        return sum(r.size for r in self.regions_of(*kinds))


def view(doc: Mapping[str, Any]) -> LayoutDoc:
    """Wrap a parsed layout.json in the typed view."""
    memory = _map(doc.get("memory"))
    cmdline = _map(doc.get("cmdline"))
    strategy = _map(doc.get("strategy"))
    window = doc.get("dump_window")
    return LayoutDoc(
        raw=doc,
        board=str(doc.get("board", "")),
        arch=str(doc.get("arch", "")),
        kernel_version=str(doc.get("kernel_version", "")),
        block_size=_int(memory.get("block_size")),
        memory_map=tuple(
            MapEntry(_int(e.get("start")), _int(e.get("end")), str(e.get("type", "")),
                     _opt_int(e.get("node")))
            for e in _list(memory.get("map"))
        ),
        board_cmdline=str(doc.get("board_cmdline", "")),
        cmdline={stage: str(cmdline.get(stage, "") or "") for stage in ("production", "crash", "recovery")},
        crash_memory=str(strategy.get("crash_memory", "") or ""),
        target=str(strategy.get("target", "") or ""),
        window_mode=None if strategy.get("window_mode") is None else str(strategy.get("window_mode")),
        movable_zone=tuple(Zone(_int(z.get("node")), _int(z.get("start")), _int(z.get("end")))
                           for z in _list(doc.get("movable_zone"))),
        regions=tuple(sorted(
            (Region(str(r.get("name", r.get("kind", ""))), str(r.get("kind", "")), _opt_int(r.get("node")),
                    _int(r.get("start")), _int(r.get("end"))) for r in _list(doc.get("regions"))),
            key=lambda r: (r.start, r.end, r.name))),
        dump_window=None if not isinstance(window, Mapping) else Window(
            _int(window.get("start")), _int(window.get("size")), _opt_int(window.get("blocks_returned"))),
        kaslr=doc.get("kaslr") if isinstance(doc.get("kaslr"), bool) else None,
        armed_overhead=_opt_int(doc.get("armed_overhead")),
        unsafe=tuple(u for u in _list(doc.get("unsafe"))),
        warnings=tuple(str(w) for w in _plain_list(doc.get("warnings"))),
        notes=tuple(str(n) for n in _plain_list(doc.get("notes"))),
        provenance=provenance(doc),
    )


def provenance(doc: Mapping[str, Any]) -> dict[str, Rule]:
    """The provenance table (JSON Pointer -> Rule); entries that are not rule objects are ignored."""
    out: dict[str, Rule] = {}
    table = doc.get("provenance")
    if not isinstance(table, Mapping):
        return out
    for pointer, entry in table.items():
        if not isinstance(pointer, str) or not pointer.startswith("/") or not isinstance(entry, Mapping):
            continue
        inputs = tuple(
            Input(str(i.get("path", "")), str(i.get("file", "") or ""), _int(i.get("line")),
                  _int(i.get("col")))
            for i in _list(entry.get("inputs"))
        )
        out[pointer] = Rule(pointer, str(entry.get("rule", "")), str(entry.get("source", "")), inputs)
    return out


def leaves(value: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    """Every scalar of a JSON value with its JSON Pointer (RFC 6901), in document order."""
    if isinstance(value, Mapping):
        for key in value:
            yield from leaves(value[key], f"{pointer}/{escape(str(key))}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, f"{pointer}/{index}")
    else:
        yield pointer, value


def resolve(doc: Mapping[str, Any], pointer: str) -> Any:
    """The value at ``pointer``; KeyError when it does not exist."""
    value: Any = doc
    for part in pointer.split("/")[1:]:
        token = part.replace("~1", "/").replace("~0", "~")
        if isinstance(value, Mapping) and token in value:
            value = value[token]
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            raise KeyError(pointer)
    return value


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _plain_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
