"""Stopgap: the layout.json contract fields built from a ``Layout`` until render ships its serializer.

Only the fields the review tools rely on (the documented contract), with the same names and
units (ints in bytes, ends exclusive). ``pipeline.document`` prefers render's serializer as soon
as it exists; then this module can go.
"""

from __future__ import annotations

from typing import Any


def layout_document(layout: Any) -> dict[str, Any]:
    memory = layout.memory
    window = layout.dump_window
    doc: dict[str, Any] = {
        "schema_version": 1,
        "board": layout.board,
        "arch": layout.arch,
        "kernel_version": layout.kernel_version,
        "memory": {
            "block_size": memory.block_size,
            "srat": memory.srat,
            "nodes": list(memory.nodes),
            "map": [{"start": r.start, "end": r.end, "type": str(r.type), "node": r.node}
                    for r in memory.ranges],
        },
        "board_cmdline": layout.board_cmdline,
        "cmdline": {"production": layout.cmdline.production, "crash": layout.cmdline.crash,
                    "recovery": layout.cmdline.recovery},
        "strategy": {"crash_memory": layout.strategy.crash_memory, "target": layout.strategy.target,
                     "window_mode": layout.strategy.window_mode},
        "movable_zone": [{"node": z.node, "start": z.start, "end": z.end} for z in layout.movable_zone],
        "regions": [{"name": r.name, "kind": r.kind, "node": r.node, "start": r.start, "end": r.end}
                    for r in layout.regions],
        "kaslr": layout.kaslr,
        "armed_overhead": layout.armed_overhead,
        "unsafe": [{"pin": u.pin, "value": u.value, "rule": u.rule, "message": u.message}
                   for u in layout.unsafe],
        "provenance": {
            p.pointer: {"rule": p.rule, "source": p.source,
                        "inputs": [{"path": i.path, "file": i.file, "line": i.line, "col": i.col}
                                   for i in p.inputs]}
            for p in layout.provenance
        },
    }
    if window is not None:
        doc["dump_window"] = {"start": window.start, "size": window.size,
                              "blocks_returned": window.devdax.blocks_returned}
    if layout.notes:
        doc["notes"] = list(layout.notes)
    return doc
