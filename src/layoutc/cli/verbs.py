"""Verb handlers of the ``layoutc`` command: parse arguments, call the pipeline, print, exit code.

Each handler returns an exit code; diagnostics go to stderr (text) or stdout (``--format json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from layoutc.diagnostics.diagnostic import Diagnostics, render_json, render_text
from layoutc.model.profile import Profile
from layoutc.writer.tree import OutputFile

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_CHANGED, EXIT_FAILED = 0, 1, 2, 3, 4


def register(sub: Any) -> None:
    """Add every verb to the argparse sub-parser collection ``sub``."""
    check = sub.add_parser("check", help="validate profiles (files or directories) and report every problem",
                           description="Load, layer, schema-check and meaning-check profiles. Abstract "
                           "family bases are checked too. Exit 0 when valid, 1 when not.")
    check.add_argument("paths", nargs="+", metavar="PATH", help="profile file or directory (recursive)")
    _format_flag(check)
    check.add_argument("--solve", action="store_true", help="also solve each concrete profile (catches "
                       "infeasible layouts without writing anything)")
    check.set_defaults(handler=cmd_check)

    comp = sub.add_parser("compile", help="solve profiles and write their artifacts",
                          description="Compile PATH (a profile, or a directory of profiles: OUT/<board>/...) "
                          "into OUT, plus OUT/manifest.json. Writes atomically and only changed files; "
                          "writes nothing when any profile is invalid.")
    comp.add_argument("path", metavar="PATH", help="profile file or directory (recursive; abstract files skipped)")
    comp.add_argument("-o", "--output", required=True, metavar="OUT", help="output directory")
    comp.add_argument("--check", action="store_true", help="write nothing; exit 3 when OUT is stale")
    comp.add_argument("--summary", action="store_true", help="also write OUT/summary.txt and OUT/summary.md: "
                      "one table of every board (RAM, strategy, window, guard, armed overhead, warnings)")
    _format_flag(comp)
    comp.set_defaults(handler=cmd_compile)

    schema = sub.add_parser("schema", help="print a bundled schema (profile, layout, filter-spec)",
                            description="Print a bundled JSON Schema as JSON, or the profile reference as "
                            "Markdown (--format markdown; this is docs/profile-reference.md).")
    schema.add_argument("family", nargs="?", default="profile", choices=("profile", "layout", "filter-spec"))
    schema.add_argument("--format", choices=("json", "markdown"), default="json")
    schema.set_defaults(handler=cmd_schema)

    imp = sub.add_parser("import", help="turn a device's memory map (probe JSON or raw captures) into a profile",
                         description="Read SYSINFO (probe's JSON, or a directory with iomem, lsmem.json|lsmem.txt, "
                         "block_size_bytes, cmdline, uname-r, zoneinfo, dmesg) and write a v1 profile. Layout "
                         "parameters on the captured cmdline are undone.")
    imp.add_argument("sysinfo", metavar="SYSINFO")
    imp.add_argument("--board", required=True, help="board name for the profile")
    imp.add_argument("--strategy", default="pmem-movable",
                     choices=("pmem-movable", "pmem-hotplug", "cma", "cma-disk", "classic-disk", "cma-hotplug"),
                     help="crash design (default: pmem-movable)")
    imp.add_argument("-o", "--output", metavar="FILE", help="write the profile here (default: stdout)")
    _format_flag(imp)
    imp.set_defaults(handler=cmd_import)

    probe = sub.add_parser("probe", help="read this machine's memory map (run on the device)",
                           description="Read /proc/iomem, lsmem, block_size_bytes, /proc/cmdline, uname -r, "
                           "/proc/zoneinfo and dmesg. Print SysInfo JSON, or write raw captures with --raw DIR.")
    probe.add_argument("--raw", metavar="DIR", help="write the raw captures (the layout import reads)")
    probe.add_argument("--root", default="/", help=argparse.SUPPRESS)
    _format_flag(probe)
    probe.set_defaults(handler=cmd_probe)

    codes = sub.add_parser("codes", help="list every diagnostic code with its rule",
                           description="Print the table of diagnostic codes (docs/diagnostics.md).")
    codes.add_argument("--format", choices=("markdown",), default="markdown")
    codes.set_defaults(handler=cmd_codes)

    from layoutc.review.verbs import DESCRIPTIONS

    for verb in ("explain", "diff", "map", "estimate"):
        sub.add_parser(verb, help=DESCRIPTIONS[verb], add_help=False)

    sub.add_parser("dump", help="write a filtered crash dump from /proc/vmcore or an ELF vmcore "
                   "(see 'layoutc dump --help')", add_help=False)
    sub.add_parser("lab", help="boot the compiled layout in real kernels under QEMU and compare "
                   "(see 'layoutc lab --help')", add_help=False)


def _format_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="diagnostics as text on stderr (default) or JSON on stdout")


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
    if ns.solve and not diags.has_errors:
        compile_profiles(profiles, fleet=True, diags=diags)
    _emit(diags, ns.format)
    if diags.has_errors:
        return EXIT_INVALID
    if ns.format == "text":
        print(f"ok: {len(files)} profile(s) checked")
    return EXIT_OK


def cmd_compile(ns: argparse.Namespace) -> int:
    from layoutc.cli.compile import compile_profiles, discover, load_all
    from layoutc.writer.tree import OutputError, check_tree, write_tree

    if not ns.output:
        print("layoutc compile: error: -o/--output must name a directory (an empty path would mean the "
              "working directory)", file=sys.stderr)
        return EXIT_USAGE
    diags = Diagnostics()
    source = Path(ns.path)
    files = discover(source, ns.path)
    if source.is_dir() and not files:
        diags.error("LC006", f"no profiles found in {ns.path}", value=ns.path,
                    hint="profiles are *.yaml files; abstract bases alone compile to nothing")
    profiles = load_all(files, diags)
    anchor = source.resolve().parent
    result = None if diags.has_errors else compile_profiles(profiles, fleet=source.is_dir(), diags=diags,
                                                            anchor=anchor)
    if result is None:
        _emit(diags, ns.format)
        return EXIT_INVALID
    out = Path(ns.output)
    outputs = result.files + (_summary_files(result.files, profiles, diags) if ns.summary else ())
    if ns.check:
        drift = check_tree(out, outputs)
        _emit(diags, ns.format)
        for item in drift:
            print(f"stale: {out / item.relpath} ({item.reason})")
        return EXIT_CHANGED if drift else EXIT_OK
    try:
        report = write_tree(out, outputs)
    except OutputError as exc:
        print(f"layoutc: {exc}", file=sys.stderr)
        return EXIT_FAILED
    _emit(diags, ns.format)
    if ns.format == "text":
        print(f"compiled {len(result.boards)} board(s) into {out}: "
              f"{len(report.written)} written, {len(report.unchanged)} unchanged")
    return EXIT_OK


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
            return EXIT_USAGE
        sys.stdout.write(profile_reference())
        return EXIT_OK
    sys.stdout.write(json.dumps(load_schema(ns.family, 1), indent=2, sort_keys=True) + "\n")
    return EXIT_OK


def cmd_codes(ns: argparse.Namespace) -> int:
    from layoutc.diagnostics.catalogue import diagnostics_reference

    sys.stdout.write(diagnostics_reference())
    return EXIT_OK


def cmd_import(ns: argparse.Namespace) -> int:
    from layoutc.importer import import_profile, read_sysinfo
    from layoutc.model.profile import Strategy
    from layoutc.writer.tree import OutputError, write_atomic

    diags = Diagnostics()
    info = read_sysinfo(Path(ns.sysinfo), diags)
    text = None if info is None else import_profile(info, ns.board, Strategy(ns.strategy), diags)
    _emit(diags, ns.format)
    if text is None or diags.has_errors:
        return EXIT_INVALID
    if ns.output:
        try:
            write_atomic(Path(ns.output), text.encode())
        except OutputError as exc:
            print(f"layoutc: {exc}", file=sys.stderr)
            return EXIT_FAILED
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_probe(ns: argparse.Namespace) -> int:
    from layoutc.importer import probe, raw_files, sysinfo_json
    from layoutc.writer.tree import OutputError, OutputFile, write_tree

    diags = Diagnostics()
    info = probe(Path(ns.root), diags)
    if info is None:
        _emit(diags, ns.format)
        return EXIT_INVALID
    if ns.raw:
        try:
            write_tree(Path(ns.raw), [OutputFile(name, data) for name, data in sorted(raw_files(info).items())])
        except OutputError as exc:
            print(f"layoutc: {exc}", file=sys.stderr)
            return EXIT_FAILED
    else:
        sys.stdout.write(sysinfo_json(info))
    if ns.format == "text" and len(diags):
        sys.stderr.write(render_text(diags))
    return EXIT_OK
