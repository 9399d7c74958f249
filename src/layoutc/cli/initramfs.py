"""``layoutc initramfs``: build a board's crash initramfs from a device's root, and check that it fits.

PROFILE is compiled in memory; a compiled board (``OUT`` of a one-profile compile, or ``OUT/BOARD`` of a
fleet) is read from its ``layout.json`` and ``device/`` files, with the profile its layout names. The plan
(``layoutc.initramfs``) is measured against the reservation before anything is written: nothing is written
when it does not fit (LC530). Exit 0 written (or fits, with ``--check``), 1 invalid input or does not fit.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layoutc.diagnostics.diagnostic import Diagnostic, Diagnostics, Severity
from layoutc.dump.exit_codes import ExitCode
from layoutc.initramfs.codes import RULES
from layoutc.initramfs.fit import Fit
from layoutc.initramfs.plan import CrashInitramfsPlan
from layoutc.model.layout import Layout
from layoutc.model.profile import Profile
from layoutc.model.units import format_human, format_size

GENERATED = {"capture.sh": "usr/lib/layoutc/capture.sh", "capture-init.sh": "usr/lib/layoutc/capture-init.sh",
             "filter.json": "etc/layoutc/filter.json"}


def initramfs_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("board", metavar="PROFILE|OUT/BOARD", help="a profile, or a compiled board directory")
    parser.add_argument("--kernel-version", required=True, metavar="KVER",
                        help="the crash kernel's release (uname -r): modules come from ROOT/lib/modules/KVER")
    parser.add_argument("--root", default="/", help="the device's root directory (default /)")
    parser.add_argument("--modules-root", metavar="DIR",
                        help="take lib/modules/KVER from DIR instead of --root (a kernel package unpacked there)")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="the image to write (default crash-initrd-KVER.img; the device loads it from the "
                             "layout's crash initrd path)")
    parser.add_argument("--module", action="append", default=[], metavar="NAME",
                        help="also ship this module and its dependencies (e.g. the dump disk's driver)")
    parser.add_argument("--check", action="store_true", help="measure and check the fit; write nothing")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="the report as text (diagnostics on stderr) or JSON on stdout")


@dataclass(frozen=True, slots=True)
class Board:
    profile: Profile
    layout: Layout
    device: dict[str, bytes]  # file name in device/ -> bytes


def _error(diags: Diagnostics, code: str, message: str, hint: str = "") -> None:
    diags.add(Diagnostic(code, Severity.ERROR, message, rule=RULES[code], hint=hint))


def load_board(arg: str, diags: Diagnostics) -> Board | None:
    """The profile, its layout and its device files, from a profile or a compiled board directory."""
    from layoutc.frontend.load import load_profile

    path = Path(arg)
    if not path.is_dir():
        profile = load_profile(path, arg, diags)
        if profile is None or diags.has_errors:
            return None
        return _compiled(profile, diags)
    from layoutc.model import layout_json

    try:
        layout = layout_json.load(path / layout_json.LAYOUT_FILE)
    except layout_json.LayoutJsonError as exc:
        _error(diags, "LC533", f"{arg}: {exc}", "compile the board first: layoutc compile PROFILE -o OUT")
        return None
    candidates = [Path(layout.profile), *(p / layout.profile for p in path.resolve().parents)]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        _error(diags, "LC533", f"{arg}: the profile {layout.profile!r} its layout.json names is not found",
               "run from the directory the board was compiled from, or pass the profile instead")
        return None
    profile = load_profile(found, str(found), diags)
    if profile is None or diags.has_errors:
        return None
    device: dict[str, bytes] = {}
    for name in GENERATED:
        try:
            device[name] = (path / "device" / name).read_bytes()
        except OSError as exc:
            _error(diags, "LC533", f"{arg}: device/{name}: {exc.strerror}", "compile the board again")
            return None
    return Board(profile, layout, device)


def _compiled(profile: Profile, diags: Diagnostics) -> Board | None:
    from layoutc.render.device import device_artifacts
    from layoutc.solve import solve

    layout = solve(profile, diags)
    if layout is None or diags.has_errors:
        return None
    files = {a.relpath.removeprefix("device/"): a.content for a in device_artifacts(profile, layout)}
    return Board(profile, layout, {name: files[name] for name in GENERATED})


def build_plan(board: Board, ns: argparse.Namespace, work: Path) -> CrashInitramfsPlan:
    """The plan from the device's root; raises ``RootError``."""
    from layoutc.dump import zipapp
    from layoutc.initramfs.build import CrashInputs, plan_crash_initramfs
    from layoutc.initramfs.contents import crash_contents
    from layoutc.initramfs.root import Root

    profile = board.profile
    compression = str(json.loads(board.device["filter.json"]).get("compression", "zlib"))
    contents = crash_contents(profile, compression)
    pyz = work / "dump.pyz"
    if contents.layoutc_dumper:
        zipapp.build(str(pyz), zipapp.CRASH)
    inputs = CrashInputs(
        board=profile.board, release=ns.kernel_version, root=Root(Path(ns.root)),
        generated={GENERATED[name]: data for name, data in board.device.items()},
        zipapp=pyz.read_bytes() if contents.layoutc_dumper else None,
        zipapp_path=pyz if contents.layoutc_dumper else None,
        modules=(*contents.modules, *ns.module), optional_modules=contents.optional_modules, tools=contents.tools,
        optional_tools=contents.optional_tools, python_packages=contents.python_packages,
        module_root=Root(Path(ns.modules_root)) if ns.modules_root else None,
    )
    return plan_crash_initramfs(inputs)


def cmd_initramfs(ns: argparse.Namespace) -> int:
    from layoutc.initramfs import fit as fitting
    from layoutc.initramfs.root import RootError
    from layoutc.writer.cpio import archive
    from layoutc.writer.tree import OutputError, write_atomic

    diags = Diagnostics()
    board = load_board(ns.board, diags)
    if board is None:
        return _finish(diags, ns, None, None, None)
    with tempfile.TemporaryDirectory(prefix="layoutc-initramfs-") as tmp:
        try:
            plan = build_plan(board, ns, Path(tmp))
        except RootError as exc:
            _error(diags, "LC532", str(exc), "install what is missing on the device (or in --root), or pass "
                   "--root where it is")
            return _finish(diags, ns, None, None, None)
    data, _raw = archive(plan)
    fit = fitting.measure(board.profile, board.layout, len(data), plan.unpacked)
    diags.extend(fitting.diagnostics(fit, board.profile.board, tuple((f"/{f.path}", f.size) for f in plan.largest())))
    out = Path(ns.output or f"crash-initrd-{ns.kernel_version}.img")
    written = None
    if not diags.has_errors and not ns.check:
        try:
            write_atomic(out, data, 0o644)
            written = out
        except OutputError as exc:
            _error(diags, "LC534", str(exc))
    return _finish(diags, ns, plan, fit, written)


def _finish(diags: Diagnostics, ns: argparse.Namespace, plan: CrashInitramfsPlan | None, fit: Fit | None,
            written: Path | None) -> int:
    from layoutc.diagnostics.diagnostic import render_text

    if ns.format == "json":
        sys.stdout.write(json.dumps(report_json(diags, plan, fit, written), indent=2, sort_keys=True) + "\n")
    else:
        sys.stderr.write(render_text(diags))
        if plan is not None and fit is not None:
            sys.stdout.write(report_text(plan, fit, written))
    return ExitCode.INVALID_INPUT if diags.has_errors else ExitCode.OK


def report_text(plan: CrashInitramfsPlan, fit: Fit, written: Path | None) -> str:
    verdict = "fits" if fit.fits else "does NOT fit"
    lines = [f"{plan.board}: crash initramfs for {plan.release}: {len(plan.files)} entries, "
             f"{format_human(fit.compressed)} compressed (gzip), {format_human(fit.unpacked)} unpacked"]
    lines += [f"  {format_human(size):>10}  {member}" for member, size in plan.member_sizes().items() if size]
    lines.append(f"  modules: {' '.join(plan.modules) or '(none)'}"
                 + (f"; built in: {' '.join(plan.builtin)}" if plan.builtin else ""))
    lines.append(f"  tools: {' '.join(plan.tools) or '(none)'}")
    lines += [f"  note: {note}" for note in plan.notes]
    lines.append(f"crash kernel needs {format_human(fit.needed_reservation)} in crashkernel="
                 f"{format_size(fit.reservation)}: {verdict} (headroom {format_human(fit.headroom)})")
    if fit.needed_cma:
        lines.append(f"runtime needs {format_human(fit.needed_cma)} of ,cma {format_human(fit.cma or 0)}")
    lines.append(f"written: {written}" if written else "not written")
    return "\n".join(lines) + "\n"


def report_json(diags: Diagnostics, plan: CrashInitramfsPlan | None, fit: Fit | None,
                written: Path | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"diagnostics": [d.as_json() for d in diags],
                           "errors": sum(1 for d in diags if d.severity is Severity.ERROR),
                           "written": str(written) if written else None}
    if plan is not None and fit is not None:
        doc.update({
            "board": plan.board, "release": plan.release, "compression": "gzip",
            "compressed": fit.compressed, "unpacked": fit.unpacked, "members": plan.member_sizes(),
            "modules": list(plan.modules), "builtin_modules": list(plan.builtin), "tools": list(plan.tools),
            "notes": list(plan.notes), "fits": fit.fits, "reservation": fit.reservation, "cma": fit.cma,
            "needed_reservation": fit.needed_reservation, "needed_cma": fit.needed_cma,
            "terms": [{"key": t.key, "size": t.size, "part": t.part} for t in fit.sizing.terms],
            "files": [{"path": f"/{f.path}", "mode": f"{f.mode:o}", "size": f.size, "source": f.origin}
                      for f in plan.files],
        })
    return doc
