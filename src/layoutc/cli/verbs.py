"""Verb handlers of the ``layoutc`` command: call the pipeline, print, return the exit code.

The verbs and their arguments are registered in ``cli/registry.py`` and ``cli/arguments.py``.

Each handler returns an exit code; diagnostics go to stderr (text) or stdout (``--format json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from layoutc.diagnostics.diagnostic import Diagnostics, render_json, render_text
from layoutc.dump.exit_codes import ExitCode
from layoutc.model.profile import Profile

if TYPE_CHECKING:
    from layoutc.cli.compile import CompileResult
from layoutc.writer.tree import OutputFile


def _emit(diags: Diagnostics, fmt: str) -> None:
    if fmt == "json":
        sys.stdout.write(render_json(diags))
    elif len(diags):
        sys.stderr.write(render_text(diags))


def cmd_check(ns: argparse.Namespace) -> int:
    from layoutc.cli.compile import compile_profiles, discover, load_all

    diags = Diagnostics()
    files = tuple(f for p in ns.paths for f in discover(Path(p), p))
    if not files:
        diags.error("LC006", "no profiles found (*.yaml, *.yml)", value=" ".join(ns.paths),
                    hint="pass a profile file or a directory that holds profiles")
    profiles = load_all(files, diags)
    if not ns.no_solve:  # every profile that loaded is solved, whatever the others' errors
        compile_profiles(profiles, fleet=True, diags=diags)
    _emit(diags, ns.format)
    if diags.has_errors:
        return ExitCode.INVALID_INPUT
    if ns.format == "text":
        print(f"ok: {len(files)} profile(s) checked")
    return ExitCode.OK


def cmd_compile(ns: argparse.Namespace) -> int:
    from layoutc.cli.compile import compile_profiles, discover, load_all, source_anchor

    if not ns.output:
        print("layoutc compile: error: -o/--output must name a directory (an empty path would mean the "
              "working directory)", file=sys.stderr)
        return ExitCode.USAGE
    diags = Diagnostics()
    source = Path(ns.path)
    files = discover(source, ns.path)
    if source.is_dir() and not files:
        diags.error("LC006", f"no profiles found in {ns.path}", value=ns.path,
                    hint="profiles are *.yaml files; abstract bases alone compile to nothing")
    profiles = load_all(files, diags)
    result = None if diags.has_errors else compile_profiles(profiles, fleet=source.is_dir(), diags=diags,
                                                            anchor=source_anchor(source))
    if result is None:
        _emit(diags, ns.format)
        return ExitCode.INVALID_INPUT
    outputs = _with_manifest(result, _summary_files(result.files, profiles, diags) if ns.summary else ())
    if ns.check:
        return _check_out(Path(ns.output), outputs, result.boards if source.is_dir() else None, diags, ns.format)
    return _write_out(Path(ns.output), outputs, len(result.boards), diags, ns.format)


def _with_manifest(result: CompileResult, summaries: tuple[OutputFile, ...]) -> tuple[OutputFile, ...]:
    from layoutc.cli.compile import manifest_file, summary_entries

    return (*result.files, *summaries, manifest_file(result.entries + summary_entries(summaries)))


def _check_out(out: Path, outputs: tuple[OutputFile, ...], boards: tuple[str, ...] | None,
               diags: Diagnostics, fmt: str) -> int:
    """``--check``: stale outputs, and orphans: files in OUT this compile would not write.

    A single profile owns all of OUT. A fleet owns OUT's top-level files and the folders of its
    boards and of the boards the previous ``OUT/manifest.json`` lists; other folders are left alone.
    """
    from layoutc.cli.compile import previous_paths
    from layoutc.writer.tree import check_tree, stray_files

    drift = check_tree(out, outputs)
    if boards is None:
        orphans = stray_files(out, (f.relpath for f in outputs))
    else:
        folders = {*boards, *(p.split("/", 1)[0] for p in previous_paths(out) if "/" in p)}
        orphans = stray_files(out, (f.relpath for f in outputs), folders=sorted(folders), top=True)
    _emit(diags, fmt)
    for item in drift:
        print(f"stale: {out / item.relpath} ({item.reason})")
    for relpath in orphans:
        print(f"orphaned: {out / relpath}")
    return ExitCode.CHANGED if drift or orphans else ExitCode.OK


def _write_out(out: Path, outputs: tuple[OutputFile, ...], boards: int, diags: Diagnostics, fmt: str) -> int:
    """Write OUT, and remove what the previous compile wrote (its manifest) that this one does not."""
    from layoutc.cli.compile import previous_paths
    from layoutc.writer.tree import OutputError, write_tree

    try:
        report = write_tree(out, outputs, remove=previous_paths(out))
    except OutputError as exc:
        print(f"layoutc: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    _emit(diags, fmt)
    if fmt == "text":
        removed = f", {len(report.removed)} removed" if report.removed else ""
        print(f"compiled {boards} board(s) into {out}: "
              f"{len(report.written)} written, {len(report.unchanged)} unchanged{removed}")
    return ExitCode.OK


def _summary_files(files: tuple[OutputFile, ...], profiles: tuple[Profile, ...],
                   diags: Diagnostics) -> tuple[OutputFile, ...]:
    from layoutc.diagnostics.diagnostic import Severity
    from layoutc.review.fleet import fleet_summary

    docs = [json.loads(f.content) for f in files if f.relpath.rsplit("/", 1)[-1] == "layout.json"]
    board_of = {p.file: p.board for p in profiles if not p.abstract}
    warnings: dict[str, list[str]] = {}
    for d in diags.items:
        if d.severity is Severity.WARNING and d.span and d.span.file in board_of:
            warnings.setdefault(board_of[d.span.file], []).append(f"{d.code} {d.message}")
    text, markdown = fleet_summary(docs, warnings)
    return (OutputFile("summary.txt", text.encode()), OutputFile("summary.md", markdown.encode()))


def cmd_schema(ns: argparse.Namespace) -> int:
    from layoutc.frontend.profile_schema import load_schema
    from layoutc.frontend.schema_docs import profile_reference

    if ns.format == "markdown":
        if ns.family != "profile":
            print("layoutc: --format markdown is available for the profile schema", file=sys.stderr)
            return ExitCode.USAGE
        sys.stdout.write(profile_reference())
        return ExitCode.OK
    sys.stdout.write(json.dumps(load_schema(ns.family, 1), indent=2, sort_keys=True) + "\n")
    return ExitCode.OK


def cmd_codes(ns: argparse.Namespace) -> int:
    from layoutc.diagnostics.catalogue import codes_json, diagnostics_reference

    sys.stdout.write(codes_json() if ns.format == "json" else diagnostics_reference())
    return ExitCode.OK


def cmd_import(ns: argparse.Namespace) -> int:
    from layoutc.importer import import_profile, read_sysinfo
    from layoutc.model.profile import Strategy
    from layoutc.writer.tree import OutputError, write_atomic

    diags = Diagnostics()
    info = read_sysinfo(Path(ns.sysinfo), diags)
    text = None if info is None else import_profile(info, ns.board, Strategy(ns.strategy), diags)
    _emit(diags, ns.format)
    if text is None or diags.has_errors:
        return ExitCode.INVALID_INPUT
    if ns.output:
        try:
            write_atomic(Path(ns.output), text.encode())
        except OutputError as exc:
            print(f"layoutc: {exc}", file=sys.stderr)
            return ExitCode.FAILED
    else:
        sys.stdout.write(text)
    return ExitCode.OK


def cmd_probe(ns: argparse.Namespace) -> int:
    from layoutc.importer import probe, raw_files, sysinfo_json
    from layoutc.writer.tree import OutputError, OutputFile, write_tree

    diags = Diagnostics()
    info = probe(Path(ns.root), diags)
    if info is None:
        _emit(diags, ns.format)
        return ExitCode.INVALID_INPUT
    if ns.raw:
        try:
            write_tree(Path(ns.raw), [OutputFile(name, data) for name, data in sorted(raw_files(info).items())])
        except OutputError as exc:
            print(f"layoutc: {exc}", file=sys.stderr)
            return ExitCode.FAILED
    else:
        sys.stdout.write(sysinfo_json(info))
    if ns.format == "text" and len(diags):
        sys.stderr.write(render_text(diags))
    return ExitCode.OK
