"""``layout.json``: the Layout as a JSON document (schema: schemas/layout/v1/layout.schema.json).

Serialized, never templated: ``json.dumps(sort_keys=True, indent=2)``. Addresses and sizes are
integers, ends exclusive; nothing depends on time or on absolute paths.
"""

from __future__ import annotations

from typing import Any

from layoutc.model.layout import DumpWindow, Layout
from layoutc.model.profile import CrashMemory
from layoutc.model.units import Percent, format_size

SCHEMA_VERSION = 1


def _window(window: DumpWindow) -> dict[str, Any]:
    dax = window.devdax
    return {
        "start": window.start,
        "size": window.size,
        "end": window.end,
        "node": window.node,
        "mode": window.mode,
        "release": window.release,
        "blocks_returned": dax.blocks_returned,
        "devdax": {
            "map": str(dax.map),
            "align": dax.align,
            "npfns": dax.npfns,
            "dataoff": dax.dataoff,
            "end_trunc": dax.end_trunc,
            "dax_start": dax.dax_start,
            "dax_end": dax.dax_end,
            "kmem_start": dax.kmem_start,
            "kmem_end": dax.kmem_end,
            "wasted": dax.wasted,
        },
    }


def _movablecore(value: int | Percent | None) -> str | None:
    if value is None:
        return None
    return str(value) if isinstance(value, Percent) else format_size(value)


def document(layout: Layout) -> dict[str, Any]:
    """The JSON-ready dict of one layout."""
    mem = layout.memory
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "board": layout.board,
        "description": layout.description,
        "profile": layout.profile,
        "layers": list(layout.layers),
        "arch": layout.arch,
        "kernel_version": layout.kernel_version,
        "memory": {
            "block_size": mem.block_size,
            "srat": mem.srat,
            "nodes": list(mem.nodes),
            "map": [
                {"start": r.start, "end": r.end, "type": str(r.type), "node": r.node} for r in mem.ranges
            ],
            "early_reserved": {str(k): v for k, v in sorted(mem.early_reserved.items())},
        },
        "board_cmdline": layout.board_cmdline,
        "crash_board_cmdline": layout.crash_board_cmdline,
        "cmdline": {
            "production": layout.cmdline.production,
            "crash": layout.cmdline.crash,
            "recovery": layout.cmdline.recovery,
        },
        "strategy": {
            "crash_memory": layout.strategy.crash_memory,
            "target": layout.strategy.target,
            "window_mode": layout.strategy.window_mode,
            "name": str(layout.strategy.name),
        },
        "crashkernel": {
            "size": layout.crashkernel.size,
            "offset": layout.crashkernel.offset,
            "cma_size": layout.crashkernel.cma_size,
            "needed": layout.crashkernel.needed,
        },
        "crash_kexec": {
            "kernel": layout.crash_kernel_path,
            "initrd": layout.crash_initrd_path,
            "file_load": layout.strategy.crash_memory == str(CrashMemory.CMA),
        },
        "movablecore": _movablecore(layout.movablecore),
        "movable_zone": [{"node": z.node, "start": z.start, "end": z.end} for z in layout.movable_zone],
        "regions": [
            {"name": r.name, "kind": r.kind, "node": r.node, "start": r.start, "end": r.end}
            for r in layout.regions
        ],
        "guards": [
            {
                "node": g.node,
                "start": g.start,
                "end": g.end,
                "early_start": g.early_start,
                "early": {
                    "memmap": g.early.memmap,
                    "hashes": g.early.hashes,
                    "percpu": g.early.percpu,
                    "misc": g.early.misc,
                    "measured": g.early.measured,
                    "total": g.early.total,
                },
            }
            for g in layout.guards
        ],
        "kaslr": layout.kaslr,
        "kaslr_guard": layout.kaslr_guard,
        "memmap_on_memory_off": layout.memmap_on_memory_off,
        "armed_overhead": layout.armed_overhead,
        "recovery_boot": None
        if layout.recovery_boot is None
        else {
            "bls_id": layout.recovery_boot.bls_id,
            "grub_id": layout.recovery_boot.grub_id,
            "title": layout.recovery_boot.title,
            "kernel": layout.recovery_boot.kernel,
            "initrd": layout.recovery_boot.initrd,
        },
        "unsafe": [
            {"pin": u.pin, "value": u.value, "rule": u.rule, "message": u.message} for u in layout.unsafe
        ],
        "provenance": {
            p.pointer: {
                "rule": p.rule,
                "source": p.source,
                "inputs": [{"path": i.path, "file": i.file, "line": i.line, "col": i.col} for i in p.inputs],
            }
            for p in layout.provenance
        },
        "notes": list(layout.notes),
    }
    if layout.dump_window is not None:
        doc["dump_window"] = _window(layout.dump_window)
    return doc
