"""``layout.json``: the one reader and the one writer of the ``Layout`` contract.

``write(layout)`` is the file ``layoutc compile`` writes: ``json.dumps(sort_keys=True, indent=2)``
of ``document(layout)``, integers in bytes, ends exclusive, nothing that depends on time or on
absolute paths. ``read(data)`` turns a decoded layout.json back into the same typed ``Layout``:
the document is first validated against ``schemas/layout/v1/layout.schema.json`` (shape), then the
values layout.json repeats for its readers (``memory.nodes``, ``dump_window.end``,
``blocks_returned``, ``devdax.wasted``, ``guards[].early.total``, ``crash_kexec.file_load``) are
checked against the typed value they are derived from (meaning). Anything wrong raises
``LayoutJsonError`` naming the JSON Pointer, the value and the rule; never a bare exception.

``read(document(L)) == L`` for every layout the solver builds, and ``write(read(doc))`` is
byte-for-byte the compiled file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from jsonschema.validators import extend

from layoutc.kernel.memblock import EarlyTop
from layoutc.kernel.pmem import Devdax
from layoutc.model.layout import (
    BootModules,
    Cmdlines,
    Crashkernel,
    DumpWindow,
    Guard,
    Input,
    KaslrGuard,
    Layout,
    MovableZone,
    Provenance,
    RecoveryBoot,
    Region,
    RegionKind,
    StrategyChoice,
    Unsafe,
)
from layoutc.model.profile import (
    Arch,
    CrashMemory,
    DevdaxMap,
    MemoryMap,
    MemRange,
    RangeType,
    Release,
    Strategy,
    Target,
    WindowMode,
)
from layoutc.model.units import Percent, UnitError, format_size, parse_size_or_percent
from layoutc.resources import schema_path

SCHEMA_VERSION = 1
LAYOUT_FILE = "layout.json"
Document = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a layout.json: where (JSON Pointer), what was there, which rule it breaks."""

    pointer: str
    value: str  # the offending value as JSON text (abridged)
    rule: str

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.value}: {self.rule}"


class LayoutJsonError(ValueError):
    """A layout.json that is not a v1 layout; ``problems`` name each JSON path, value and rule."""

    def __init__(self, source: str, problems: tuple[Problem, ...]) -> None:
        self.source = source
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems[:5])
        more = f"\n  ... and {len(problems) - 5} more" if len(problems) > 5 else ""
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"{source}: not a valid layout (schema v{SCHEMA_VERSION}), {len(problems)} {noun}:\n"
                         f"{shown}{more}")


# ---------------------------------------------------------------- writing


def _devdax(window: DumpWindow) -> Document:
    dax = window.devdax
    return {
        "map": str(dax.map), "align": dax.align, "npfns": dax.npfns, "dataoff": dax.dataoff,
        "end_trunc": dax.end_trunc, "dax_start": dax.dax_start, "dax_end": dax.dax_end,
        "kmem_start": dax.kmem_start, "kmem_end": dax.kmem_end, "wasted": dax.wasted,
    }


def _window(window: DumpWindow) -> Document:
    return {
        "start": window.start, "size": window.size, "end": window.end, "node": window.node,
        "mode": str(window.mode), "release": str(window.release),
        "blocks_returned": window.devdax.blocks_returned, "devdax": _devdax(window),
    }


def _movablecore(value: int | Percent | None) -> str | None:
    if value is None:
        return None
    return str(value) if isinstance(value, Percent) else format_size(value)


def _memory(mem: MemoryMap) -> Document:
    return {
        "block_size": mem.block_size, "srat": mem.srat, "nodes": list(mem.nodes),
        "map": [{"start": r.start, "end": r.end, "type": str(r.type), "node": r.node} for r in mem.ranges],
        "early_reserved": {str(k): v for k, v in sorted(mem.early_reserved.items())},
    }


def _guard(g: Guard) -> Document:
    early = {"memmap": g.early.memmap, "hashes": g.early.hashes, "percpu": g.early.percpu,
             "misc": g.early.misc, "measured": g.early.measured, "total": g.early.total}
    return {"node": g.node, "start": g.start, "end": g.end, "early_start": g.early_start, "early": early}


def _recovery_boot(rb: RecoveryBoot | None) -> Document | None:
    if rb is None:
        return None
    return {"bls_id": rb.bls_id, "grub_id": rb.grub_id, "title": rb.title, "kernel": rb.kernel, "initrd": rb.initrd,
            "kernel_glob": rb.kernel_glob, "initrd_glob": rb.initrd_glob}


def _provenance(entries: tuple[Provenance, ...]) -> Document:
    return {p.pointer: {"rule": p.rule, "source": p.source,
                        "inputs": [{"path": i.path, "file": i.file, "line": i.line, "col": i.col} for i in p.inputs]}
            for p in entries}


def document(layout: Layout) -> Document:
    """The JSON-ready dict of one layout (what ``write`` serializes)."""
    s, ck = layout.strategy, layout.crashkernel
    doc: Document = {
        "schema_version": SCHEMA_VERSION, "board": layout.board, "description": layout.description,
        "profile": layout.profile, "layers": list(layout.layers), "arch": str(layout.arch),
        "kernel_version": layout.kernel_version, "memory": _memory(layout.memory),
        "board_cmdline": layout.board_cmdline, "crash_board_cmdline": layout.crash_board_cmdline,
        "cmdline": {"production": layout.cmdline.production, "crash": layout.cmdline.crash,
                    "recovery": layout.cmdline.recovery},
        "strategy": {"crash_memory": str(s.crash_memory), "target": str(s.target),
                     "window_mode": None if s.window_mode is None else str(s.window_mode), "name": str(s.name)},
        "crashkernel": {"size": ck.size, "offset": ck.offset, "cma_size": ck.cma_size, "needed": ck.needed},
        "crash_kexec": {"kernel": layout.crash_kernel_path, "initrd": layout.crash_initrd_path,
                        "file_load": s.crash_memory is CrashMemory.CMA},
        "movablecore": _movablecore(layout.movablecore),
        "movable_zone": [{"node": z.node, "start": z.start, "end": z.end} for z in layout.movable_zone],
        "regions": [{"name": r.name, "kind": str(r.kind), "node": r.node, "start": r.start, "end": r.end}
                    for r in layout.regions],
        "guards": [_guard(g) for g in layout.guards],
        "kaslr": layout.kaslr, "kaslr_guard": str(layout.kaslr_guard),
        "memmap_on_memory_off": layout.memmap_on_memory_off, "armed_overhead": layout.armed_overhead,
        "recovery_boot": _recovery_boot(layout.recovery_boot),
        "unsafe": [{"pin": u.pin, "value": u.value, "rule": u.rule, "message": u.message} for u in layout.unsafe],
        "provenance": _provenance(layout.provenance),
        "notes": list(layout.notes),
    }
    if layout.dump_window is not None:
        doc["dump_window"] = _window(layout.dump_window)
    if layout.recovery_mem_limit is not None:
        doc["recovery_mem_limit"] = layout.recovery_mem_limit
    if layout.boot_modules.crash or layout.boot_modules.recovery:
        doc["modules"] = {"crash": list(layout.boot_modules.crash), "recovery": list(layout.boot_modules.recovery)}
    return doc


def dumps(doc: Mapping[str, Any]) -> str:
    """layout.json's text of a document: keys sorted, two-space indent, a final newline."""
    return json.dumps(doc, sort_keys=True, indent=2) + "\n"


def write(layout: Layout) -> bytes:
    """The bytes of ``layout.json`` for ``layout``."""
    return dumps(document(layout)).encode()


# ---------------------------------------------------------------- reading


def _whole_integer(checker: object, instance: object) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


_Validator = extend(Draft202012Validator,
                    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _whole_integer))


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    schema = json.loads(schema_path("layout", SCHEMA_VERSION).read_text(encoding="utf-8"))
    validator: Draft202012Validator = _Validator(schema)
    return validator


def _pointer(parts: Iterable[object]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _shown(value: object) -> str:
    text = json.dumps(value, sort_keys=True) if _jsonable(value) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _jsonable(value: object) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _schema_problem(error: ValidationError) -> Problem:
    rule = f"{error.message} (schema: {_pointer(error.absolute_schema_path)})"
    return Problem(_pointer(error.absolute_path), _shown(error.instance), rule)


def schema_problems(data: object) -> tuple[Problem, ...]:
    """Every way ``data`` breaks the layout schema, sorted by JSON Pointer."""
    errors = _validator().iter_errors(data)
    return tuple(sorted((_schema_problem(e) for e in errors), key=lambda p: (p.pointer, p.rule)))


def read(data: object, source: str = LAYOUT_FILE) -> Layout:
    """The typed ``Layout`` of a decoded layout.json; ``LayoutJsonError`` when it is not one."""
    if isinstance(data, Mapping) and "schema_version" in data and data["schema_version"] != SCHEMA_VERSION:
        version = Problem("/schema_version", _shown(data["schema_version"]),
                          f"this reader knows layout schema v{SCHEMA_VERSION} only")
        raise LayoutJsonError(source, (version,))
    problems = schema_problems(data)
    if problems:
        raise LayoutJsonError(source, problems)
    assert isinstance(data, Mapping)
    layout = _layout(data, source)
    derived = _derived_problems(data, document(layout))
    if derived:
        raise LayoutJsonError(source, derived)
    return layout


def read_text(text: str, source: str = LAYOUT_FILE) -> Layout:
    """``read`` of layout.json text; a JSON syntax error is a ``LayoutJsonError`` too."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        where = Problem("", f"line {exc.lineno} column {exc.colno}", f"not JSON: {exc.msg}")
        raise LayoutJsonError(source, (where,)) from None
    return read(data, source)


def load(path: Path) -> Layout:
    """``read`` of the file at ``path``; an unreadable file is a ``LayoutJsonError`` naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise LayoutJsonError(str(path), (Problem("", "(file)", f"cannot read: {reason}"),)) from None
    return read_text(text, str(path))


# Values layout.json repeats for its readers: each must equal what the typed value derives.
DERIVED: tuple[tuple[str, str], ...] = (
    ("/memory/nodes", "the nodes of the RAM ranges of memory.map"),
    ("/crash_kexec/file_load", "true exactly when strategy.crash_memory is cma"),
    ("/dump_window/end", "start + size"),
    ("/dump_window/blocks_returned", "(kmem_end - kmem_start) / memory.block_size"),
    ("/dump_window/devdax/wasted", "size - blocks_returned * memory.block_size"),
)


def _at(doc: Mapping[str, Any], pointer: str) -> object:
    value: object = doc
    for part in pointer.split("/")[1:]:
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _derived_problems(given: Mapping[str, Any], rebuilt: Mapping[str, Any]) -> tuple[Problem, ...]:
    checks = list(DERIVED)
    checks += [(f"/guards/{i}/early/total", "measured if not null, else memmap + hashes + percpu + misc")
               for i in range(len(rebuilt["guards"]))]
    out = []
    for pointer, rule in checks:
        have, want = _at(given, pointer), _at(rebuilt, pointer)
        if have != want:
            out.append(Problem(pointer, _shown(have), f"must be {_shown(want)}: {rule}"))
    return tuple(out)


def _early_reserved(raw: Mapping[str, Any], source: str) -> dict[int, int]:
    out = {}
    for key, value in raw.items():
        if not key.isdigit():
            bad = Problem(f"/memory/early_reserved/{key}", _shown(key), "keys are node numbers (decimal)")
            raise LayoutJsonError(source, (bad,))
        out[int(key)] = value
    return out


def _memory_map(raw: Mapping[str, Any], source: str) -> MemoryMap:
    ranges = tuple(MemRange(r["start"], r["end"], RangeType(r["type"]), r["node"]) for r in raw["map"])
    return MemoryMap(ranges, raw["block_size"], raw["srat"], _early_reserved(raw["early_reserved"], source))


def _dump_window(raw: Mapping[str, Any] | None, block_size: int) -> DumpWindow | None:
    if raw is None:
        return None
    d = raw["devdax"]
    dax = Devdax(raw["start"], raw["size"], DevdaxMap(d["map"]), d["align"], block_size, d["npfns"],
                 d["dataoff"], d["end_trunc"], d["dax_start"], d["dax_end"], d["kmem_start"], d["kmem_end"])
    return DumpWindow(raw["start"], raw["size"], raw["node"], WindowMode(raw["mode"]), Release(raw["release"]), dax)


def _guard_of(raw: Mapping[str, Any]) -> Guard:
    e = raw["early"]
    early = EarlyTop(raw["node"], e["memmap"], e["hashes"], e["percpu"], e["misc"], e["measured"])
    return Guard(raw["node"], raw["start"], raw["end"], early, raw["early_start"])


def _movablecore_of(value: str | None, source: str) -> int | Percent | None:
    if value is None:
        return None
    try:
        return parse_size_or_percent(value)
    except UnitError as exc:
        raise LayoutJsonError(source, (Problem("/movablecore", _shown(value), str(exc)),)) from None


def _strategy(raw: Mapping[str, Any]) -> StrategyChoice:
    mode = raw["window_mode"]
    return StrategyChoice(CrashMemory(raw["crash_memory"]), Target(raw["target"]),
                          None if mode is None else WindowMode(mode), Strategy(raw["name"]))


def _provenance_of(raw: Mapping[str, Any]) -> tuple[Provenance, ...]:
    return tuple(
        Provenance(pointer, entry["rule"], entry["source"],
                   tuple(Input(i["path"], i["file"], i["line"], i["col"]) for i in entry["inputs"]))
        for pointer, entry in sorted(raw.items())
    )


def _layout(doc: Mapping[str, Any], source: str) -> Layout:
    memory = _memory_map(doc["memory"], source)
    ck, kexec, rb = doc["crashkernel"], doc["crash_kexec"], doc["recovery_boot"]
    modules = doc.get("modules") or {}
    return Layout(
        board=doc["board"], description=doc["description"], profile=doc["profile"], layers=tuple(doc["layers"]),
        arch=Arch(doc["arch"]), kernel_version=doc["kernel_version"], memory=memory,
        board_cmdline=doc["board_cmdline"], crash_board_cmdline=doc["crash_board_cmdline"],
        crash_kernel_path=kexec["kernel"], crash_initrd_path=kexec["initrd"],
        cmdline=Cmdlines(doc["cmdline"]["production"], doc["cmdline"]["crash"], doc["cmdline"]["recovery"]),
        strategy=_strategy(doc["strategy"]),
        crashkernel=Crashkernel(ck["size"], ck["offset"], ck["cma_size"], ck["needed"]),
        movablecore=_movablecore_of(doc["movablecore"], source),
        movable_zone=tuple(MovableZone(z["node"], z["start"], z["end"]) for z in doc["movable_zone"]),
        regions=tuple(Region(r["start"], r["end"], RegionKind(r["kind"]), r["name"], r["node"])
                      for r in doc["regions"]),
        guards=tuple(_guard_of(g) for g in doc["guards"]),
        dump_window=_dump_window(doc.get("dump_window"), memory.block_size),
        kaslr=doc["kaslr"], kaslr_guard=KaslrGuard(doc["kaslr_guard"]),
        memmap_on_memory_off=doc["memmap_on_memory_off"], armed_overhead=doc["armed_overhead"],
        recovery_boot=None if rb is None else RecoveryBoot(rb["bls_id"], rb["grub_id"], rb["title"], rb["kernel"],
                                                           rb["initrd"], rb["kernel_glob"], rb["initrd_glob"]),
        recovery_mem_limit=doc.get("recovery_mem_limit"),
        boot_modules=BootModules(tuple(modules.get("crash", ())), tuple(modules.get("recovery", ()))),
        unsafe=tuple(Unsafe(u["pin"], u["value"], u["rule"], u["message"]) for u in doc["unsafe"]),
        provenance=_provenance_of(doc["provenance"]),
        notes=tuple(doc["notes"]),
    )
