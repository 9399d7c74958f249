"""The review verbs' argument parsing and printing: ``explain``, ``diff``, ``map``, ``estimate``.

``main_review(verb, argv) -> int`` is what ``layoutc.cli.main`` calls. Exit codes (docs/cli.md): 0 ok
(``diff``: no layout change), 1 invalid input, 2 usage, 3 ``diff`` found a layout change,
4 a file could not be written.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layoutc.diagnostics.diagnostic import Diagnostics, render_text
from layoutc.dump.exit_codes import ExitCode
from layoutc.review.pipeline import Compiled, RevisionError, checkout_revision, compile_document, temp_dir

if TYPE_CHECKING:
    from layoutc.review.diff import LayoutDiff
    from layoutc.review.overhead import ArmedOverhead

VERBS = ("explain", "diff", "map", "estimate")


def parser(verb: str) -> argparse.ArgumentParser:
    """The argparse parser of one review verb (also used for ``layoutc VERB --help``)."""
    p = argparse.ArgumentParser(prog=f"layoutc {verb}", allow_abbrev=False, description=DESCRIPTIONS[verb])
    if verb == "explain":
        p.add_argument("profile", metavar="PROFILE")
        p.add_argument("key", metavar="KEY", nargs="?",
                       help="a JSON Pointer (/dump_window/start), dotted path (dump_window.start), region "
                            "name (crashkernel) or cmdline parameter (movablecore); default: every value")
        p.add_argument("--format", choices=("text", "json"), default="text")
    elif verb == "diff":
        p.add_argument("paths", metavar="OLD NEW", nargs="+",
                       help="two profiles; with --rev, one profile in a git repository")
        p.add_argument("--rev", metavar="A..B", help="compare PROFILE at git revision A with revision B "
                       "(B empty: the working tree)")
        p.add_argument("--format", choices=("text", "markdown", "json"), default="text")
        p.add_argument("--svg", metavar="FILE", help="also write OLD and NEW memory maps side by side")
    elif verb == "map":
        p.add_argument("profile", metavar="PROFILE")
        p.add_argument("--svg", metavar="FILE", help="write the SVG picture to FILE (text still on stdout)")
        p.add_argument("--format", choices=("text", "svg", "json"), default="text", help="what to print on stdout")
    elif verb == "estimate":
        p.add_argument("profile", metavar="PROFILE")
        p.add_argument("--kernel", metavar="FILE",
                       help="the real crash kernel image (bzImage or arm64 Image)")
        p.add_argument("--initrd", metavar="FILE", help="the real crash initramfs")
        p.add_argument("--format", choices=("text", "json"), default="text")
    return p


DESCRIPTIONS = {
    "explain": "For every value the compiler emits for PROFILE (cmdline parameters, region edges, guard, "
               "blocks returned, the crash reservation), the chain of rules and profile inputs behind it.",
    "diff": "Semantic diff of two solved layouts: cmdline parameters per boot stage, regions moved or "
            "resized, "
            "memory lost or returned while armed, rule outcomes. Exit 3 when the layout changed, 0 when not.",
    "map": "The solved memory map as terminal text, or as an SVG picture to scale (holes on a log scale).",
    "estimate": "The crash-kernel sizing model with every term, side by side with kdump-utils' default, "
                "kdumpctl estimate's formula and Ubuntu's default for the same board.",
}


def main_review(verb: str, argv: Sequence[str]) -> int:
    """Run one review verb; returns the exit code."""
    if verb not in VERBS:
        print(f"layoutc: unknown review verb '{verb}'", file=sys.stderr)
        return ExitCode.USAGE
    try:
        ns = parser(verb).parse_args(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    handler: Callable[[argparse.Namespace], int] = HANDLERS[verb]
    return handler(ns)


def _compile(path: str, diags: Diagnostics, display: str | None = None) -> Compiled | None:
    return compile_document(Path(path), display or path, diags)


def _fail(diags: Diagnostics) -> int:
    sys.stderr.write(render_text(diags))
    return ExitCode.INVALID_INPUT


def _write(path: str, text: str) -> bool:
    from layoutc.writer.tree import OutputError, write_atomic

    try:
        write_atomic(Path(path), text.encode())
    except OutputError as exc:
        print(f"layoutc: {exc}", file=sys.stderr)
        return False
    return True


def cmd_explain(ns: argparse.Namespace) -> int:
    from layoutc.review.explain import explain, render_json
    from layoutc.review.explain import render_text as explain_text

    diags = Diagnostics()
    compiled = _compile(ns.profile, diags)
    if compiled is None:
        return _fail(diags)
    result = explain(compiled.doc, ns.key, profile=compiled.profile)
    sys.stdout.write(render_json(result) if ns.format == "json" else explain_text(result))
    return ExitCode.INVALID_INPUT if result.error else ExitCode.OK


def cmd_diff(ns: argparse.Namespace) -> int:
    from layoutc.review.diff import diff, render_markdown
    from layoutc.review.diff import render_text as diff_text
    from layoutc.review.mapsvg import side_by_side_svg

    diags = Diagnostics()
    if ns.rev:
        if len(ns.paths) != 1 or ".." not in ns.rev:
            print("layoutc diff: --rev A..B takes exactly one PROFILE", file=sys.stderr)
            return ExitCode.USAGE
        rev_a, rev_b = ns.rev.split("..", 1)
        profile = ns.paths[0]
        with temp_dir() as tmp:
            try:
                old_path = checkout_revision(Path(profile), rev_a or "HEAD", Path(tmp) / "a")
                new_path = (checkout_revision(Path(profile), rev_b, Path(tmp) / "b") if rev_b
                            else Path(profile))
            except RevisionError as exc:
                print(f"layoutc diff: {exc}", file=sys.stderr)
                return ExitCode.INVALID_INPUT
            # a revision's copy is its own profile tree: extends resolve inside it as in the repository
            old = compile_document(old_path, profile, diags, tree=Path(tmp) / "a")
            new = compile_document(new_path, profile, diags, tree=Path(tmp) / "b" if rev_b else None)
        labels = (f"{profile}@{rev_a or 'HEAD'}", f"{profile}@{rev_b or 'worktree'}")
    else:
        if len(ns.paths) != 2:
            print("layoutc diff: give OLD and NEW profiles (or one profile with --rev A..B)", file=sys.stderr)
            return ExitCode.USAGE
        old = _compile(ns.paths[0], diags)
        new = _compile(ns.paths[1], diags)
        labels = (ns.paths[0], ns.paths[1])
    if old is None or new is None:
        return _fail(diags)
    result = diff(old.doc, new.doc, old_label=labels[0], new_label=labels[1])
    renderers = {"markdown": render_markdown, "json": _diff_json, "text": diff_text}
    sys.stdout.write(renderers[ns.format](result))
    if ns.svg and not _write(ns.svg, side_by_side_svg(old.doc, new.doc, old_label=labels[0],
                                                       new_label=labels[1])):
        return ExitCode.FAILED
    return ExitCode.CHANGED if result.changed else ExitCode.OK


def cmd_map(ns: argparse.Namespace) -> int:
    from layoutc.review.mapsvg import map_svg
    from layoutc.review.maptext import map_text

    diags = Diagnostics()
    compiled = _compile(ns.profile, diags)
    if compiled is None:
        return _fail(diags)
    svg = map_svg(compiled.doc)
    if ns.svg and not _write(ns.svg, svg):
        return ExitCode.FAILED
    shown = {"svg": lambda: svg, "json": lambda: _map_json(compiled.doc), "text": lambda: map_text(compiled.doc)}
    sys.stdout.write(shown[ns.format]())
    return ExitCode.OK


def cmd_estimate(ns: argparse.Namespace) -> int:
    from layoutc.frontend.load import load_profile
    from layoutc.kernel.sizing import kernel_footprint
    from layoutc.review.estimate import estimate, render_json
    from layoutc.review.estimate import render_text as estimate_text

    diags = Diagnostics()
    profile = load_profile(Path(ns.profile), ns.profile, diags)
    if profile is None or diags.has_errors:
        return _fail(diags)
    kernel_size = initrd_size = footprint = None
    try:
        if ns.kernel:
            data = Path(ns.kernel).read_bytes()
            kernel_size, footprint = len(data), kernel_footprint(data)
        if ns.initrd:
            initrd_size = Path(ns.initrd).stat().st_size
    except OSError as exc:
        print(f"layoutc estimate: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return ExitCode.INVALID_INPUT
    result = estimate(profile, kernel_size, initrd_size, footprint)
    sys.stdout.write(render_json(result) if ns.format == "json" else estimate_text(result))
    return ExitCode.OK


def _diff_json(result: LayoutDiff) -> str:
    """``diff --format json``: every change and both armed overheads (schemas/cli/v1/diff.schema.json)."""
    data = {"old": {"label": result.old_label, "board": result.old_board, "armed": _armed(result.old_armed)},
            "new": {"label": result.new_label, "board": result.new_board, "armed": _armed(result.new_armed)},
            "changed": result.changed,
            "changes": [{"section": c.section, "kind": c.kind, "subject": c.subject, "old": c.old, "new": c.new,
                         "detail": c.detail} for c in result.changes]}
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _armed(armed: ArmedOverhead) -> dict[str, object]:
    return {"ram": armed.ram, "crash": armed.crash, "low": armed.low, "cma_lent": armed.cma_lent,
            "guard": armed.guard, "window_lost": armed.window_lost, "total": armed.total,
            "kdump_default": armed.kdump_default.size, "versus_default": armed.versus_default}


def _map_json(doc: Mapping[str, Any]) -> str:
    """``map --format json``: the segments of the map, the regions and the armed overhead."""
    from layoutc.review.doc import read
    from layoutc.review.geometry import segments
    from layoutc.review.overhead import armed_overhead

    layout = read(doc).layout
    data = {"board": layout.board, "arch": str(layout.arch), "ram": layout.memory.total_ram,
            "block_size": layout.memory.block_size,
            "cmdline": {stage: str(getattr(layout.cmdline, stage)) for stage in ("production", "crash", "recovery")},
            "segments": [{"start": s.start, "end": s.end, "size": s.size, "type": s.type, "node": s.node,
                          "zone": s.zone or None, "regions": list(s.regions)} for s in segments(layout)],
            "regions": [{"name": r.name, "start": r.start, "end": r.end, "node": r.node}
                        for r in sorted(layout.regions, key=lambda r: r.start)],
            "armed": _armed(armed_overhead(layout))}
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "explain": cmd_explain, "diff": cmd_diff, "map": cmd_map, "estimate": cmd_estimate,
}
