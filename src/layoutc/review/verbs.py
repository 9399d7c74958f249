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
from layoutc.review.pipeline import Compiled, RevisionError, compile_document, temp_dir

if TYPE_CHECKING:
    from layoutc.review.diff import LayoutDiff
    from layoutc.review.sides import Side

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
                       help="two profiles, layout.json files or output folders (OUT/BOARD), or two folders of "
                            "profiles or of compiled output (OUT); with --rev, one profile or folder in a git "
                            "repository")
        p.add_argument("--rev", metavar="A..B", help="compare PATH at git revision A with revision B "
                       "(A or A..: with the working tree)")
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
            "resized, memory lost or returned while armed, rule outcomes. Over two folders (or --rev of a "
            "folder): a summary of every board, then each changed board. Exit 3 when a layout changed, 0 when not.",
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
    from layoutc.review.sides import open_side

    if ns.rev:
        if len(ns.paths) != 1:
            print("layoutc diff: --rev A..B takes one PATH (a profile or a folder of profiles)", file=sys.stderr)
            return ExitCode.USAGE
        return _diff_revisions(ns, ns.paths[0])
    if len(ns.paths) != 2:
        print("layoutc diff: give OLD and NEW (profiles, layout.json files, output folders or folders of "
              "profiles), or one PATH with --rev A..B", file=sys.stderr)
        return ExitCode.USAGE
    old_path, new_path = ns.paths
    return _diff_sides(open_side(Path(old_path), old_path, old_path),
                       open_side(Path(new_path), new_path, new_path), ns)


def _diff_revisions(ns: argparse.Namespace, typed: str) -> int:
    """``--rev A..B PATH`` (``A`` alone or ``A..``: revision A against the working tree)."""
    from layoutc.review.sides import open_side

    rev_a, _, rev_b = ns.rev.partition("..")
    rev_a = rev_a or "HEAD"
    with temp_dir() as tmp:
        try:
            old = _revision_side(Path(typed), typed, rev_a, Path(tmp) / "a")
            new = (_revision_side(Path(typed), typed, rev_b, Path(tmp) / "b") if rev_b
                   else open_side(Path(typed), typed, f"{typed}@worktree", base=typed))
        except RevisionError as exc:
            diags = Diagnostics()
            diags.error("LC541", f"cannot read {typed} at {ns.rev}: {exc}", value=ns.rev,
                        rule="--rev REV reads each file as 'git show REV:PATH' from the git repository that "
                             "holds PATH",
                        hint="check the revision ('git log --oneline') and that PATH is in it")
            return _fail(diags)
    return _diff_sides(old, new, ns)


def _revision_side(path: Path, typed: str, rev: str, into: Path) -> Side:
    """PATH as of ``rev``: one profile, or a folder of profiles, copied out of git below ``into``."""
    from layoutc.review.revisions import copy_chain, copy_folder, object_type, repository_path
    from layoutc.review.sides import Side, open_side, profile_outcome

    top, rel = repository_path(path)
    label = f"{typed}@{rev}"
    if object_type(top, rev, rel) == "tree":
        tree = copy_folder(top, rev, rel, into)
        return open_side(tree.folder, typed, label, base=typed, tree=into)
    copy_chain(top, rev, rel, into, set())
    return Side(label, False, (profile_outcome(into / rel, typed, into),))


def _diff_sides(old: Side, new: Side, ns: argparse.Namespace) -> int:
    if old.fleet != new.fleet:
        one, many = (old, new) if new.fleet else (new, old)
        print(f"layoutc diff: {many.label} is a folder of boards and {one.label} one board; compare a folder "
              "with a folder, or a board with a board", file=sys.stderr)
        return ExitCode.USAGE
    if old.fleet:
        return _diff_fleets(old, new, ns, compare_paths=bool(ns.rev))
    return _diff_boards(old, new, ns)


def _diff_fleets(old: Side, new: Side, ns: argparse.Namespace, *, compare_paths: bool) -> int:
    from layoutc.review.fleetdiff import fleet_diff
    from layoutc.review.fleetreport import render_json_report, render_markdown_report, render_text_report

    if ns.svg:
        print("layoutc diff: --svg draws one board; it does not apply to folders", file=sys.stderr)
        return ExitCode.USAGE
    result = fleet_diff(old, new, compare_paths=compare_paths)
    renderers = {"markdown": render_markdown_report, "json": render_json_report, "text": render_text_report}
    sys.stdout.write(renderers[ns.format](result))
    return ExitCode.CHANGED if result.changed else ExitCode.OK


def _diff_boards(old: Side, new: Side, ns: argparse.Namespace) -> int:
    from layoutc.review.diff import diff, render_markdown
    from layoutc.review.diff import render_text as diff_text
    from layoutc.review.mapsvg import side_by_side_svg

    a, b = old.outcomes[0], new.outcomes[0]
    if a.doc is None or b.doc is None:
        diags = Diagnostics()
        diags.extend((*a.errors, *b.errors))
        return _fail(diags)
    result = diff(a.doc, b.doc, old_label=old.label, new_label=new.label)
    renderers = {"markdown": render_markdown, "json": _diff_json, "text": diff_text}
    sys.stdout.write(renderers[ns.format](result))
    if ns.svg and not _write(ns.svg, side_by_side_svg(a.doc, b.doc, old_label=old.label, new_label=new.label)):
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
    from layoutc.review.diff import as_json

    return json.dumps(as_json(result), indent=2, sort_keys=True) + "\n"


def _map_json(doc: Mapping[str, Any]) -> str:
    """``map --format json``: the segments of the map, the regions and the armed overhead."""
    from layoutc.review.diff import armed_json
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
            "armed": armed_json(armed_overhead(layout))}
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "explain": cmd_explain, "diff": cmd_diff, "map": cmd_map, "estimate": cmd_estimate,
}
