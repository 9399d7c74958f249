"""``layoutc explain``: for every value of layout.json, the chain of rules and inputs behind it.

A value's chain is built from the document alone:
1. the provenance entry of the value's pointer or its closest ancestor (the rule that computed it,
   its kernel source, and the profile inputs with their positions);
2. for a region or a cmdline parameter, the provenance of the layout value it encodes (a
   ``crashkernel`` region and ``crashkernel=`` both come from ``/crashkernel``);
3. for a value copied from the profile (board, memory map, ...), the profile key it comes from,
   with its position when the profile is at hand.
A value with an empty chain is *unexplained*; the test suite requires there are none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from layoutc.model.layout import Input, Provenance
from layoutc.model.profile import Profile
from layoutc.review import notation
from layoutc.review.doc import LayoutFile, escape, leaves, position, read

RULE = "rule"
ENCODES = "encodes"
INPUT = "input"

# Region kind -> the layout values whose rules placed it.
REGION_RULES: Mapping[str, tuple[str, ...]] = {
    "crashkernel": ("/crashkernel",),
    "crashkernel_low": ("/crashkernel",),
    "crash_cma": ("/crashkernel",),
    "dump_window": ("/dump_window/start", "/dump_window/size"),
    "guard": ("/guards",),
    "kernel_image": ("/kaslr",),
    "kernel_image_bound": ("/kaslr",),
}
# Cmdline parameter name -> the layout values it encodes.
PARAM_RULES: Mapping[str, tuple[str, ...]] = {
    "crashkernel": ("/crashkernel",),
    "movablecore": ("/movable_zone",),
    "kernelcore": ("/movable_zone",),
    "memmap": ("/dump_window/start", "/dump_window/size"),
    "nokaslr": ("/kaslr",),
    "memory_hotplug.memmap_on_memory": ("/dump_window/start",),
    "mem": ("/recovery_mem_limit",),
}
# arm64 cmdline parameters with a rule of their own: name -> (rule, source, profile inputs).
ARM64_PARAMS: Mapping[str, tuple[str, str, tuple[str, ...]]] = {
    "cma": ("cma=0 in the crash kernel: without it the crash kernel takes its default 64 MiB CMA inside the "
            "reservation", "LNX:kernel/dma/contiguous.c early_cma; docs/reference/kernel-rules.md §8.6",
            ("arch",)),
}
# Values copied from the profile: pointer (prefix) -> (profile key, what it is).
COPIED: tuple[tuple[str, str, str], ...] = (
    ("/schema_version", "", "layout.json format version (fixed by layoutc)"),
    ("/board", "board", "board name"),
    ("/description", "description", "board description"),
    ("/profile", "", "the profile file compiled"),
    ("/layers", "extends", "the extends chain, board first"),
    ("/arch", "arch", "architecture"),
    ("/kernel_version", "kernel.version", "kernel version of the first kernel"),
    ("/board_cmdline", "kernel.cmdline", "the board's own cmdline (not layoutc's)"),
    ("/crash_board_cmdline", "crash.cmdline", "the board's extra crash-kernel parameters"),
    ("/crash_kernel_path", "crash.kernel_path", "crash kernel path on the device"),
    ("/crash_initrd_path", "crash.initrd_path", "crash initrd path on the device"),
    ("/crash_kexec/kernel", "crash.kernel_path", "crash kernel path on the device"),
    ("/crash_kexec/initrd", "crash.initrd_path", "crash initrd path on the device"),
    ("/recovery_boot/kernel_glob", "recovery.kernel_glob",
     "the installed kernels the recovery entries follow ('*' = the kernel version)"),
    ("/recovery_boot/initrd_glob", "recovery.initrd_glob",
     "the initrd of each of those kernels ('*' = the kernel version)"),
    ("/memory/block_size", "memory.block_size", "memory block size"),
    ("/memory/srat", "memory.srat", "firmware publishes an SRAT"),
    ("/memory/nodes", "memory.map", "NUMA nodes of the RAM ranges"),
    ("/memory/map", "memory.map", "the firmware memory map"),
    ("/memory/early_reserved", "memory.early_reserved", "measured early allocations"),
    ("/strategy/crash_memory", "crash.memory", "crash memory design"),
    ("/strategy/target", "crash.target", "dump target"),
    ("/strategy/window_mode", "window.mode", "window mode"),
    ("/strategy/name", "crash", "named strategy (from crash.memory, crash.target, window.mode)"),
)
# Derived values without their own provenance entry -> the entry that explains them.
DERIVED: Mapping[str, str] = {
    "/regions": "",  # handled per kind
    "/kaslr_guard": "/kaslr",
    "/memmap_on_memory_off": "/dump_window/start",
    "/recovery_boot": "/cmdline/recovery",
    "/movablecore": "/movable_zone",
    "/crashkernel": "/crashkernel",
    "/dump_window": "/dump_window/start",
}
# layoutc's own rules for values the solver records no provenance for: pointer -> (rule, source, inputs).
BUILTIN: Mapping[str, tuple[str, str, tuple[str, ...]]] = {
    "/crash_kexec/file_load": (
        "kexec -s (kexec_file_load) whenever crashkernel=,cma is used: only it passes the CMA ranges to the "
        "crash kernel and leaves them out of the vmcore", "docs/reference/kernel-rules.md §1.5, §7.3",
        ("crash.memory",)),
    "/memmap_on_memory_off": (
        "memory_hotplug.memmap_on_memory=0 when the window goes back to System RAM through dax/kmem, so its "
        "struct pages do not land inside the window", "docs/reference/kernel-rules.md §7.25", ("window.release",)),
    "/movablecore": (
        "movablecore= is emitted only for a movable window (null: none)", "docs/reference/kernel-rules.md §2.2, §7.22",
        ("window.mode",)),
    "/kaslr_guard": ("how the kernel image is kept out of the window", "docs/reference/kernel-rules.md §7.19",
                     ("kaslr",)),
    "/modules": (
        "the modules capture-init.sh (crash) and recover.sh (recovery) modprobe: the options the design needs that "
        "kernel.config builds =m, from the capability table (=y ones are in the kernel)",
        "LNX:drivers/nvdimm/e820.c e820_pmem_probe, LNX:drivers/dax/kmem.c dev_dax_kmem_probe; "
        "docs/reference/kernel-rules.md §3.3, §3.5", ("kernel.config", "crash.target", "window.release")),
    "/notes": ("notes the solver recorded while solving", "", ()),
    "/recovery_mem_limit": (
        "arm64 windows: the recovery boot's memory ends at the window's start, so the window (a device-tree "
        "pmem-region node there) is not RAM; its mem= is the memory below that address, counted from the lowest",
        "LNX:arch/arm64/mm/init.c early_mem; mm/memblock.c __find_max_addr; docs/reference/kernel-rules.md §8.6",
        ("window.mode", "memory.map")),
}
# Values a builtin rule explains that also encode another layout value: pointer -> those values.
BUILTIN_FROM: Mapping[str, tuple[str, ...]] = {
    "/recovery_mem_limit": ("/dump_window/start",),
}
SIZED = ("/crashkernel/size", "/crashkernel/needed")
_MAP_INDEX = re.compile(r"^/memory/map/(\d+)")


@dataclass(frozen=True, slots=True)
class Link:
    """One step of a value's chain: a rule (with inputs) or a profile input."""

    relation: str  # rule | encodes | input
    pointer: str  # the layout value whose rule this is ("" for a profile input)
    rule: str
    source: str
    inputs: tuple[Input, ...]


@dataclass(frozen=True, slots=True)
class Item:
    pointer: str
    param: str | None  # a cmdline parameter of the string at ``pointer``
    value: str
    chain: tuple[Link, ...]

    @property
    def key(self) -> str:
        return f"{self.pointer} {self.param}" if self.param else self.pointer


@dataclass(frozen=True, slots=True)
class Explanation:
    board: str
    key: str | None
    items: tuple[Item, ...]
    error: str = ""

    @property
    def unexplained(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items if not i.chain)


def explain(doc: Mapping[str, Any], key: str | None = None, *, profile: Profile | None = None) -> Explanation:
    """Explain every value of ``doc`` (or those ``key`` selects: a JSON Pointer, a dotted path,
    a region name, or a cmdline parameter name). ``profile`` adds positions to copied inputs."""
    layout = read(doc)
    board = layout.layout.board
    items = tuple(_items(layout, profile))
    if key is None:
        return Explanation(board, None, items)
    selected = select(items, layout, key)
    if not selected:
        return Explanation(board, key, (), f"no value of layout.json matches '{key}'; try a JSON "
                           "Pointer (/dump_window/start), a dotted path (dump_window.start), a region name "
                           f"({', '.join(r.name for r in layout.layout.regions) or 'none'}) or a cmdline parameter")
    return Explanation(board, key, selected)


def select(items: tuple[Item, ...], layout: LayoutFile, key: str) -> tuple[Item, ...]:
    """The items ``key`` names."""
    parts = re.split(r"[.\[\]]+", key)
    pointer = key if key.startswith("/") else "/" + "/".join(escape(p) for p in parts if p)
    hits = tuple(i for i in items if i.pointer == pointer or i.pointer.startswith(pointer + "/"))
    if hits:
        return hits
    for index, region in enumerate(_raw_regions(layout)):
        if region.get("name") == key or region.get("kind") == key:
            prefix = f"/regions/{index}"
            hits += tuple(i for i in items if i.pointer.startswith(prefix + "/"))
    name = key.rstrip("=")
    hits += tuple(i for i in items if i.param is not None and _param_name(i.param) == name)
    return hits


def _raw_regions(layout: LayoutFile) -> list[Mapping[str, Any]]:
    regions = layout.document.get("regions")
    return [r for r in regions if isinstance(r, Mapping)] if isinstance(regions, list) else []


def _items(layout: LayoutFile, profile: Profile | None) -> list[Item]:
    out: list[Item] = []
    for pointer, value in leaves(layout.document):
        if pointer == "/provenance" or pointer.startswith("/provenance/"):
            continue
        out.append(Item(pointer, None, _show(pointer, value), _chain(layout, pointer, profile)))
        if pointer.startswith("/cmdline/") and isinstance(value, str):
            for param in value.split():
                out.append(Item(pointer, param, param, _param_chain(layout, pointer, param, profile)))
    return out


def _chain(layout: LayoutFile, pointer: str, profile: Profile | None) -> tuple[Link, ...]:
    links: list[Link] = []
    own = _closest(layout.provenance, pointer)
    if own is not None:
        links.append(_link(RULE, own))
    if pointer.startswith("/regions/"):
        kind = _region_kind(layout, pointer)
        links.extend(_encoded(layout, REGION_RULES.get(kind, ()), exclude=own))
    if pointer.startswith("/unsafe/"):
        links.append(_unsafe_link(layout, pointer))
    copied = _copied(pointer, profile)
    for prefix, target in DERIVED.items():
        if target and copied is None and (pointer == prefix or pointer.startswith(prefix + "/")):
            links.extend(_encoded(layout, (target,), exclude=own))
    if not links and copied is not None:
        links.append(copied)
    if not links:
        links.extend(_builtin(pointer, profile))
        links.extend(_encoded(layout, BUILTIN_FROM.get(pointer, ()), exclude=own))
    region = _region_kind(layout, pointer) if pointer.startswith("/regions/") else ""
    if pointer in SIZED or region == "crashkernel":
        links.extend(_sizing(layout, profile))
    return _unique(links)


def _unique(links: list[Link]) -> tuple[Link, ...]:
    """Drop a link that repeats an earlier one's rule and source (two pointers, one rule)."""
    seen: set[tuple[str, str]] = set()
    out = []
    for link in links:
        if (link.rule, link.source) not in seen:
            seen.add((link.rule, link.source))
            out.append(link)
    return tuple(out)


def _builtin(pointer: str, profile: Profile | None) -> list[Link]:
    for prefix, (rule, source, keys) in BUILTIN.items():
        if pointer == prefix or pointer.startswith(prefix + "/"):
            return [Link(RULE, prefix, rule, source, tuple(_input(k, profile) for k in keys))]
    return []


def _emitted_crash_size(layout: LayoutFile) -> int | None:
    crash = layout.document.get("crashkernel")
    size = crash.get("size") if isinstance(crash, Mapping) else None
    return size if isinstance(size, int) and not isinstance(size, bool) else None


def _input(path: str, profile: Profile | None) -> Input:
    span = profile.span(path) if profile is not None else None
    if span is None or profile is None:
        return Input(path, "", 0, 0)
    label = path if path in profile.spans else f"{path} (default; the closest key given)"
    return Input(label, span.file, span.line, span.col)


def _sizing(layout: LayoutFile, profile: Profile | None) -> list[Link]:
    """crash.reserve: auto -> the sizing model's terms (only with the profile at hand).

    When the emitted size is not the model's, say so instead of claiming the model produced it."""
    if profile is None or profile.crash.reserve is not None:
        return []
    from layoutc.kernel.sizing import crash_reserve_auto

    result = crash_reserve_auto(profile)
    terms = " + ".join(f"{t.key} {notation.human(t.size)}" for t in result.terms)
    keys = sorted({k for t in result.terms for k in t.inputs} | {"crash.reserve"})
    model = (f"layoutc sizing model: {terms} = {notation.human(result.needed)}; "
             f"crashkernel={notation.cmdline_size(result.reserve)}"
             + (f", ,cma >= {notation.human(result.cma_minimum)}" if result.cma_minimum else ""))
    emitted = _emitted_crash_size(layout)
    if emitted is None or emitted == result.reserve:
        rule = f"crash.reserve: auto -> {model}"
    else:
        rule = (f"crash.reserve: auto -> sized by the solver to crashkernel={notation.cmdline_size(emitted)}, "
                f"not by the {model} (see layoutc estimate)")
    return [Link(RULE, "/crashkernel/size", rule, "docs/review.md#sizing; docs/reference/sources.md §2",
                 tuple(_input(k, profile) for k in keys))]


def _param_chain(layout: LayoutFile, pointer: str, param: str, profile: Profile | None) -> tuple[Link, ...]:
    links: list[Link] = []
    stage = _closest(layout.provenance, pointer)
    name = _param_name(param)
    links.extend(_encoded(layout, PARAM_RULES.get(name, ()), exclude=stage, profile=profile))
    if name in ARM64_PARAMS and layout.layout.arch == "arm64":
        rule, source, keys = ARM64_PARAMS[name]
        links.append(Link(RULE, pointer, rule, source, tuple(_input(k, profile) for k in keys)))
    if param.startswith("crashkernel=") and not param.endswith(",cma"):
        links.extend(_sizing(layout, profile))
    if stage is not None:
        links.append(_link(RULE, stage))
    return _unique(links)


def _closest(table: Mapping[str, Provenance], pointer: str) -> Provenance | None:
    probe = pointer
    while probe:
        if probe in table:
            return table[probe]
        probe = probe[: probe.rfind("/")]
    return None


def _encoded(layout: LayoutFile, pointers: tuple[str, ...], exclude: Provenance | None,
             profile: Profile | None = None) -> list[Link]:
    """The rules of the layout values ``pointers`` name; a value without provenance, its builtin rule."""
    out: list[Link] = []
    for target in pointers:
        rule = _closest(layout.provenance, target)
        if rule is None and target in BUILTIN and layout.document.get(target[1:]) is not None:
            text, source, keys = BUILTIN[target]
            out.append(Link(ENCODES, target, text, source, tuple(_input(k, profile) for k in keys)))
        elif rule is not None and rule != exclude and all(link.pointer != rule.pointer for link in out):
            out.append(_link(ENCODES, rule))
    return out


def _link(relation: str, rule: Provenance) -> Link:
    return Link(relation, rule.pointer, rule.rule, rule.source, rule.inputs)


def _unsafe_link(layout: LayoutFile, pointer: str) -> Link:
    index = int(pointer.split("/")[2])
    entry = layout.layout.unsafe[index]
    return Link(RULE, "/unsafe", f"pin {entry.pin} accepted with unsafe: true although it breaks "
                f"rule {entry.rule}: {entry.message}", "docs/reference/kernel-rules.md §7", ())


def _copied(pointer: str, profile: Profile | None) -> Link | None:
    for prefix, key, what in COPIED:
        if pointer == prefix or pointer.startswith(prefix + "/"):
            path = key
            match = _MAP_INDEX.match(pointer)
            if match and key == "memory.map":
                path = f"memory.map[{match.group(1)}]"
            inputs: tuple[Input, ...] = ()
            if profile is not None and key:
                span = profile.span(path)
                if span is not None:
                    inputs = (Input(path, span.file, span.line, span.col),)
            if not inputs and key:
                inputs = (Input(path, "", 0, 0),)
            return Link(INPUT, "", f"{what}: copied from the profile" if key else what, "", inputs)
    return None


def _region_kind(layout: LayoutFile, pointer: str) -> str:
    index = int(pointer.split("/")[2])
    regions = _raw_regions(layout)
    return str(regions[index].get("kind", "")) if index < len(regions) else ""


def _param_name(param: str) -> str:
    return param.split("=", 1)[0]


def _show(pointer: str, value: Any) -> str:
    leaf = pointer.rsplit("/", 1)[-1]
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        if leaf in ("start", "end", "base", "offset", "early_start"):
            return notation.addr(value)
        if leaf in ("size", "block_size", "armed_overhead", "needed", "cma_size", "align", "wasted") \
                or pointer == "/armed_overhead":
            return f"{notation.human(value)} ({value})"
        return str(value)
    return json.dumps(value) if isinstance(value, str) and not value else str(value)


def render_text(explanation: Explanation) -> str:
    """Terminal text: each value, then its chain (rule, kernel source, inputs with positions)."""
    if explanation.error:
        return f"layoutc explain: {explanation.error}\n"
    head = f"{explanation.board}: {len(explanation.items)} value(s)"
    if explanation.key:
        head += f" for '{explanation.key}'"
    lines = [head]
    previous: tuple[Link, ...] | None = None
    for item in explanation.items:
        label = f"{item.pointer}  {item.param}" if item.param else f"{item.pointer} = {item.value}"
        if item.chain == previous and item.param is None:
            lines.append(f"  {label}  (same chain as above)")
            continue
        previous = item.chain if item.param is None else None
        lines.append(f"  {label}")
        if not item.chain:
            lines.append("      !! unexplained: no provenance recorded for this value")
        for link in item.chain:
            arrow = {"rule": "rule", "encodes": "from", "input": "input"}[link.relation]
            where = f" {link.pointer}" if link.pointer else ""
            lines.append(f"      {arrow}{where}: {link.rule}")
            if link.source:
                lines.append(f"        source: {link.source}")
            for inp in link.inputs:
                lines.append(f"        input {inp.path} at {position(inp)}")
    return "\n".join(lines) + "\n"


def render_json(explanation: Explanation) -> str:
    """The same data as JSON (sorted keys, stable order)."""
    data: dict[str, Any] = {
        "board": explanation.board,
        "key": explanation.key,
        "error": explanation.error or None,
        "values": [
            {
                "pointer": item.pointer,
                "param": item.param,
                "value": item.value,
                "chain": [
                    {"relation": link.relation, "pointer": link.pointer or None, "rule": link.rule,
                     "source": link.source or None,
                     "inputs": [{"path": i.path, "file": i.file or None, "line": i.line or None,
                                 "col": i.col or None} for i in link.inputs]}
                    for link in item.chain
                ],
            }
            for item in explanation.items
        ],
        "unexplained": [item.key for item in explanation.unexplained],
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
