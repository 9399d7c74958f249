"""The sections of ``layoutc diff``: each compares one aspect of two layout.json documents.

Every function takes the two typed views (``doc.LayoutFile``) and returns ``Change`` records;
``diff.diff`` runs them in reading order. ``other_changes`` reports whatever no section covers,
so no value of layout.json can change silently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from layoutc.model.layout import Provenance, Region, Unsafe
from layoutc.review import notation
from layoutc.review.doc import LayoutFile, escape
from layoutc.review.overhead import ArmedOverhead

STAGES = ("production", "crash", "recovery")
_REGION_POINTER = re.compile(r"^/regions/(\d+)(.*)$")
ADDED, REMOVED, CHANGED = "added", "removed", "changed"
# Values the named sections report; any other difference lands in "other values".
COVERED = re.compile(
    r"^/(board|arch|kernel_version|description|profile|layers(/.*)?|board_cmdline|crash_board_cmdline"
    r"|memory/(block_size|srat|nodes(/.*)?|map(/.*)?)|cmdline(/.*)?|strategy(/.*)?|kaslr|movablecore"
    r"|crashkernel(/.*)?|movable_zone(/.*)?|regions(/.*)?"
    r"|dump_window/(start|size|end|blocks_returned)|armed_overhead|unsafe(/.*)?|provenance(/.*)?"
    r"|warnings(/.*)?|notes(/.*)?)$")


@dataclass(frozen=True, slots=True)
class Change:
    # board | strategy | cmdline:<stage> | regions | movable_zone | dump_window | armed | rules | other
    section: str
    kind: str  # added | removed | changed
    subject: str
    old: str
    new: str
    detail: str = ""


def board_changes(old: LayoutFile, new: LayoutFile) -> list[Change]:
    out = []
    for name, a, b in (("board", old.layout.board, new.layout.board),
                       ("arch", str(old.layout.arch), str(new.layout.arch)),
                       ("kernel_version", old.layout.kernel_version, new.layout.kernel_version),
                       ("description", _raw(old, "description"), _raw(new, "description")),
                       ("profile", _raw(old, "profile"), _raw(new, "profile")),
                       ("extends chain", _layers(old), _layers(new)),
                       ("SRAT", scalar_text(_memory(old).get("srat")), scalar_text(_memory(new).get("srat"))),
                       ("NUMA nodes", scalar_text(_memory(old).get("nodes")), scalar_text(_memory(new).get("nodes")))):
        if a != b:
            out.append(Change("board", CHANGED, name, a, b))
    ram_a, ram_b = old.layout.memory.total_ram, new.layout.memory.total_ram
    if ram_a != ram_b:
        out.append(Change("board", CHANGED, "System RAM", *notation.pair(ram_a, ram_b),
                          notation.delta(ram_b - ram_a)))
    if old.layout.memory.block_size != new.layout.memory.block_size:
        out.append(Change("board", CHANGED, "memory block size",
                          *notation.pair(old.layout.memory.block_size, new.layout.memory.block_size)))
    old_map = {(e.start, e.end, e.type, e.node) for e in old.layout.memory.ranges}
    new_map = {(e.start, e.end, e.type, e.node) for e in new.layout.memory.ranges}
    for start, end, kind, _node in sorted(old_map - new_map):
        out.append(Change("board", REMOVED, f"memory map {kind}", notation.span(start, end), ""))
    for start, end, kind, _node in sorted(new_map - old_map):
        out.append(Change("board", ADDED, f"memory map {kind}", "", notation.span(start, end)))
    return out


def strategy_changes(old: LayoutFile, new: LayoutFile) -> list[Change]:
    out = []
    sa, sb = old.layout.strategy, new.layout.strategy
    for name, a, b in (("crash memory", str(sa.crash_memory), str(sb.crash_memory)),
                       ("target", str(sa.target), str(sb.target)),
                       ("window mode", str(sa.window_mode or "none"), str(sb.window_mode or "none"))):
        if a != b:
            out.append(Change("strategy", CHANGED, name, a, b))
    name_a, name_b = scalar_text(_strategy_raw(old).get("name")), scalar_text(_strategy_raw(new).get("name"))
    if name_a != name_b:
        out.append(Change("strategy", CHANGED, "strategy", name_a, name_b))
    if old.layout.kaslr != new.layout.kaslr:
        out.append(Change("strategy", CHANGED, "KASLR", _onoff(old.layout.kaslr), _onoff(new.layout.kaslr)))
    return out


def param_key(token: str) -> str:
    """Parameters that replace each other share a key: the name, plus the crashkernel class suffix."""
    name, _, value = token.partition("=")
    if name == "crashkernel":
        for suffix in (",high", ",low", ",cma"):
            if value.endswith(suffix):
                return name + suffix
    return name


def cmdline_changes(section: str, old: str, new: str) -> list[Change]:
    before: dict[str, list[str]] = {}
    after: dict[str, list[str]] = {}
    for token in old.split():
        before.setdefault(param_key(token), []).append(token)
    for token in new.split():
        after.setdefault(param_key(token), []).append(token)
    out: list[Change] = []
    for key in sorted(set(before) | set(after), key=lambda k: _order(k, old, new)):
        a, b = before.get(key, []), after.get(key, [])
        if a == b:
            continue
        if len(a) == 1 and len(b) == 1:
            out.append(Change(section, CHANGED, key, a[0], b[0], _param_detail(a[0], b[0])))
            continue
        for token in a:
            if token not in b:
                out.append(Change(section, REMOVED, key, token, ""))
        for token in b:
            if token not in a:
                out.append(Change(section, ADDED, key, "", token))
    return out


def _order(key: str, old: str, new: str) -> tuple[int, str]:
    for text_index, text in enumerate((new, old)):
        for position, token in enumerate(text.split()):
            if param_key(token) == key:
                return (text_index * 1000 + position, key)
    return (10**6, key)


def _param_detail(old: str, new: str) -> str:
    """For a size-valued parameter, the size change (crashkernel=256M -> 160M: -96 MiB)."""
    from layoutc.model.units import UnitError, parse_size

    a, b = old.partition("=")[2], new.partition("=")[2]
    for suffix in (",high", ",low", ",cma"):
        a, b = a.removesuffix(suffix), b.removesuffix(suffix)
    if "!" in a and "!" in b:  # memmap=SIZE!BASE
        (sa, ba), (sb, bb) = a.split("!", 1), b.split("!", 1)
        try:
            size_a, size_b, base_a, base_b = parse_size(sa), parse_size(sb), parse_size(ba), parse_size(bb)
        except UnitError:
            return ""
        parts = []
        if base_a != base_b:
            parts.append(f"base {notation.delta(base_b - base_a)}")
        if size_a != size_b:
            parts.append(f"size {notation.delta(size_b - size_a)}")
        return ", ".join(parts)
    try:
        return notation.delta(parse_size(b) - parse_size(a))
    except UnitError:
        return ""


def region_changes(old: LayoutFile, new: LayoutFile) -> list[Change]:
    before = {r.name: r for r in old.layout.regions}
    after = {r.name: r for r in new.layout.regions}
    out: list[Change] = []
    for name in sorted(set(before) | set(after), key=lambda n: _region_order(before, after, n)):
        a, b = before.get(name), after.get(name)
        if a is None and b is not None:
            out.append(Change("regions", ADDED, name, "", notation.span(b.start, b.end), b.kind))
        elif b is None and a is not None:
            out.append(Change("regions", REMOVED, name, notation.span(a.start, a.end), "", a.kind))
        elif a is not None and b is not None and (a.start, a.end, a.node, a.kind) != (b.start, b.end, b.node,
                                                                                         b.kind):
            out.append(Change("regions", CHANGED, name, notation.span(a.start, a.end),
                              notation.span(b.start, b.end), _move_detail(a, b)))
    return out


def _region_order(before: Mapping[str, Region], after: Mapping[str, Region], name: str) -> tuple[int, str]:
    region = after.get(name) or before[name]
    return (-region.start, name)


def _move_detail(a: Region, b: Region) -> str:
    parts = []
    if a.start != b.start:
        parts.append(f"moved {notation.delta(b.start - a.start)}")
    if a.size != b.size:
        parts.append(f"resized {notation.change(a.size, b.size)}")
    if a.node != b.node:
        parts.append(f"node {a.node} -> {b.node}")
    if a.kind != b.kind:
        parts.append(f"kind {a.kind} -> {b.kind}")
    return "; ".join(parts)


def crash_changes(old: LayoutFile, new: LayoutFile) -> list[Change]:
    """The crash reservation as the solver chose it (layout.json /crashkernel)."""
    raw_a, raw_b = old.document.get("crashkernel"), new.document.get("crashkernel")
    a: Mapping[str, Any] = raw_a if isinstance(raw_a, Mapping) else {}
    b: Mapping[str, Any] = raw_b if isinstance(raw_b, Mapping) else {}
    out = []
    named = (("size", "crashkernel= size"), ("offset", "crashkernel= @offset"), ("cma_size", ",cma size"),
             ("needed", "crash kernel needs (reservation)"))
    for key, label in named:
        x, y = a.get(key), b.get(key)
        if x != y:
            if _is_size(x) and _is_size(y):
                out.append(Change("crash", CHANGED, label, *notation.pair(x, y), notation.delta(y - x)))
            else:
                out.append(Change("crash", CHANGED, label, _size_text(x), _size_text(y)))
    for key in sorted((set(a) | set(b)) - {k for k, _ in named}):
        if a.get(key) != b.get(key):
            out.append(Change("crash", CHANGED, key, _summary(a.get(key, _MISSING)),
                              _summary(b.get(key, _MISSING))))
    return out


def _is_size(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _size_text(value: Any) -> str:
    return notation.human(value) if _is_size(value) else scalar_text(value)


def zone_changes(old: LayoutFile, new: LayoutFile) -> list[Change]:
    before = {z.node: z for z in old.layout.movable_zone}
    after = {z.node: z for z in new.layout.movable_zone}
    out = []
    mc_a, mc_b = scalar_text(old.document.get("movablecore")), scalar_text(new.document.get("movablecore"))
    if mc_a != mc_b:
        out.append(Change("movable_zone", CHANGED, "movablecore", mc_a, mc_b))
    for node in sorted(set(before) | set(after)):
        a, b = before.get(node), after.get(node)
        subject = f"ZONE_MOVABLE node {node}"
        if a is None and b is not None:
            out.append(Change("movable_zone", ADDED, subject, "", notation.span(b.start, b.end)))
        elif b is None and a is not None:
            out.append(Change("movable_zone", REMOVED, subject, notation.span(a.start, a.end), ""))
        elif a is not None and b is not None and (a.start, a.end) != (b.start, b.end):
            out.append(Change("movable_zone", CHANGED, subject, notation.span(a.start, a.end),
                              notation.span(b.start, b.end),
                              f"start {notation.delta(b.start - a.start)}, size "
                              f"{notation.delta((b.end - b.start) - (a.end - a.start))}"))
    return out


def window_changes(old: LayoutFile, new: LayoutFile) -> list[Change]:
    a, b = old.layout.dump_window, new.layout.dump_window
    if a is None and b is None:
        return []
    if a is None and b is not None:
        return [Change("dump_window", ADDED, "dump window", "", notation.span(b.start, b.end))]
    if b is None and a is not None:
        return [Change("dump_window", REMOVED, "dump window", notation.span(a.start, a.end), "")]
    assert a is not None and b is not None
    out = []
    end_a, end_b = _window_end(old), _window_end(new)
    if (a.start, a.size, end_a) != (b.start, b.size, end_b):
        parts = [f"moved {notation.delta(b.start - a.start)}"] if a.start != b.start else []
        parts += [f"size {notation.delta(b.size - a.size)}"] if a.size != b.size else []
        out.append(Change("dump_window", CHANGED, "dump window", notation.span(a.start, a.end),
                          notation.span(b.start, b.end), ", ".join(parts)))
    if a.devdax.blocks_returned != b.devdax.blocks_returned:
        out.append(Change("dump_window", CHANGED, "blocks returned after recovery", str(a.devdax.blocks_returned),
                          str(b.devdax.blocks_returned)))
    return out


def _window_end(layout: LayoutFile) -> Any:
    window = layout.document.get("dump_window")
    return window.get("end") if isinstance(window, Mapping) else None


def _strategy_raw(layout: LayoutFile) -> Mapping[str, Any]:
    strategy = layout.document.get("strategy")
    return strategy if isinstance(strategy, Mapping) else {}


def armed_changes(a: ArmedOverhead, b: ArmedOverhead) -> list[Change]:
    out = []
    if a.total != b.total:
        moved = b.total - a.total
        what = "more memory lost while armed" if moved > 0 else "memory returned while armed"
        out.append(Change("armed", CHANGED, "unusable while armed", *notation.pair(a.total, b.total),
                          f"{notation.delta(moved)}: {what}"))
    for subject, x, y in (("crash reservation", a.crash, b.crash), ("low reservation", a.low, b.low),
                          ("crash CMA (lent)", a.cma_lent, b.cma_lent), ("guard", a.guard, b.guard)):
        if x != y:
            out.append(Change("armed", CHANGED, subject, *notation.pair(x, y), notation.delta(y - x)))
    if a.kdump_default.size != b.kdump_default.size:
        out.append(Change("armed", CHANGED, "kdump-utils default on this RAM",
                          *notation.pair(a.kdump_default.size, b.kdump_default.size)))
    return out


def _by_name(layout: LayoutFile) -> dict[str, Provenance]:
    """Provenance keyed so that region entries follow the region, not its index in the list."""
    regions = layout.document.get("regions")
    names = [str(r.get("name", i)) if isinstance(r, Mapping) else str(i)
             for i, r in enumerate(regions if isinstance(regions, list) else [])]
    out: dict[str, Provenance] = {}
    for pointer, rule in layout.provenance.items():
        match = _REGION_POINTER.match(pointer)
        if match and int(match.group(1)) < len(names):
            pointer = f"/regions/{names[int(match.group(1))]}{match.group(2)}"
        out[pointer] = rule
    return out


def rule_changes(old: LayoutFile, new: LayoutFile) -> list[Change]:
    out = []
    before, after = _by_name(old), _by_name(new)
    for pointer in sorted(set(before) | set(after)):
        a, b = before.get(pointer), after.get(pointer)
        if a is None and b is not None:
            out.append(Change("rules", ADDED, pointer, "", b.rule))
        elif b is None and a is not None:
            out.append(Change("rules", REMOVED, pointer, a.rule, ""))
        elif a is not None and b is not None:
            if (a.rule, a.source) != (b.rule, b.source):
                out.append(Change("rules", CHANGED, pointer, a.rule, b.rule))
            inputs_a = {i.path for i in a.inputs}
            inputs_b = {i.path for i in b.inputs}
            if inputs_a != inputs_b:
                out.append(Change("rules", CHANGED, f"{pointer} inputs", ", ".join(sorted(inputs_a)),
                                  ", ".join(sorted(inputs_b))))
    unsafe_a = {_unsafe_text(u) for u in old.layout.unsafe}
    unsafe_b = {_unsafe_text(u) for u in new.layout.unsafe}
    for text in sorted(unsafe_a - unsafe_b):
        out.append(Change("rules", REMOVED, "unsafe pin", text, ""))
    for text in sorted(unsafe_b - unsafe_a):
        out.append(Change("rules", ADDED, "unsafe pin", "", text))
    for label, was, now in (("note", old.layout.notes, new.layout.notes),):
        for text in sorted(set(was) - set(now)):
            out.append(Change("rules", REMOVED, label, text, ""))
        for text in sorted(set(now) - set(was)):
            out.append(Change("rules", ADDED, label, "", text))
    return out


def _unsafe_text(entry: Unsafe) -> str:
    return f"{entry.pin}={entry.value} (rule {entry.rule}: {entry.message})"


def other_changes(old: LayoutFile, new: LayoutFile) -> list[Change]:
    out: list[Change] = []
    _walk("", old.document, new.document, out)
    return out


_MISSING = object()


def _walk(pointer: str, a: Any, b: Any, out: list[Change]) -> None:
    """Differences not reported by a named section; an object or list item that appears or goes
    away is one change."""
    if pointer and COVERED.match(pointer):
        return
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(set(a) | set(b)):
            _walk(f"{pointer}/{escape(str(key))}", a.get(key, _MISSING), b.get(key, _MISSING), out)
        return
    if isinstance(a, list) and isinstance(b, list):
        for index in range(max(len(a), len(b))):
            _walk(f"{pointer}/{index}", a[index] if index < len(a) else _MISSING,
                  b[index] if index < len(b) else _MISSING, out)
        return
    if a is _MISSING and b is _MISSING or a == b:
        return
    if a is _MISSING or a is None and isinstance(b, (Mapping, list)):
        out.append(Change("other", ADDED, pointer, "", _summary(b)))
    elif b is _MISSING or b is None and isinstance(a, (Mapping, list)):
        out.append(Change("other", REMOVED, pointer, _summary(a), ""))
    else:
        out.append(Change("other", CHANGED, pointer, _summary(a), _summary(b)))


def _raw(layout: LayoutFile, key: str) -> str:
    return scalar_text(layout.document.get(key))


def _layers(layout: LayoutFile) -> str:
    layers = layout.document.get("layers")
    return " <- ".join(str(x) for x in layers) if isinstance(layers, list) else scalar_text(layers)


def _memory(layout: LayoutFile) -> Mapping[str, Any]:
    memory = layout.document.get("memory")
    return memory if isinstance(memory, Mapping) else {}


def _summary(value: Any) -> str:
    if value is _MISSING:
        return ""
    if isinstance(value, list):
        return "[" + ", ".join(_summary(v) for v in value) + "]"
    if isinstance(value, Mapping):
        text = ", ".join(f"{k}={v}" for k, v in sorted(value.items()) if not isinstance(v, (Mapping, list)))
        return "{" + (text if len(text) <= 100 else text[:97] + "...") + "}"
    return scalar_text(value)


def scalar_text(value: Any) -> str:
    """A scalar as layout.json writes it (null, true, false, numbers, text)."""
    if value is None or isinstance(value, bool):
        return "null" if value is None else ("true" if value else "false")
    return str(value)


def _onoff(value: bool | None) -> str:
    return "unknown" if value is None else ("on" if value else "off")
