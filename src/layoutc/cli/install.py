"""``layoutc install``: compile a profile (or read a compiled board) and lay it into a root.

The plan is ``layoutc.install.plan``; the writing, the manifest and ``--uninstall`` are
``layoutc.writer.install``. Refusals and failures are LC5xx diagnostics (``install.install_codes``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from layoutc.diagnostics.diagnostic import Diagnostic, Diagnostics, Severity, render_text
from layoutc.dump.exit_codes import ExitCode
from layoutc.install.install_codes import RULES
from layoutc.install.plan import MANIFEST, install_plan
from layoutc.model.install_plan import InstallPlan
from layoutc.render import Artifact
from layoutc.writer.install import InstallError, InstallRefused, InstallReport, install, uninstall

_EXIT = {"LC504": ExitCode.INVALID_INPUT, "LC505": ExitCode.CHANGED, "LC506": ExitCode.INVALID_INPUT}


def _artifacts_from_profile(source: str, diags: Diagnostics) -> tuple[str, str, tuple[Artifact, ...]] | None:
    from layoutc.cli.compile import ProfileFile, compile_profiles, load_all, source_anchor

    path = Path(source)
    if path.is_dir():
        diags.error("LC506", f"{source} is a directory: install lays one board; name its profile",
                    value=source, rule=RULES["LC506"])
        return None
    profiles = load_all((ProfileFile(path, source),), diags)
    result = None if diags.has_errors else compile_profiles(profiles, fleet=False, diags=diags,
                                                            anchor=source_anchor(path))
    if result is None:
        return None
    artifacts = tuple(Artifact(f.relpath, f.content, str(e["role"]), f.mode)
                      for f, e in zip(result.files, result.entries, strict=True))
    return result.boards[0], str(result.entries[0]["profile"]), artifacts


def _plan(ns: argparse.Namespace, diags: Diagnostics) -> InstallPlan | None:
    from layoutc import __version__

    if ns.compiled:
        from layoutc.cli.install_from import artifacts_from_compiled

        found = artifacts_from_compiled(Path(ns.compiled), diags)
    else:
        found = _artifacts_from_profile(ns.profile, diags)
    if found is None or diags.has_errors:
        return None
    from layoutc.dump.zipapp import CRASH, DEVICE, archive

    board, profile, artifacts = found
    return install_plan(board, profile, __version__, artifacts, preset=ns.preset, dumper=archive(CRASH),
                        device_tools=archive(DEVICE))


def _refused(diags: Diagnostics, errors: tuple[InstallError, ...]) -> None:
    for error in errors:
        diags.error(error.code, error.message, path=error.path, rule=RULES.get(error.code, ""))


def cmd_install(ns: argparse.Namespace) -> int:
    diags = Diagnostics()
    if ns.uninstall == bool(ns.profile or ns.compiled) or (ns.profile and ns.compiled):
        print("layoutc install: error: name PROFILE or --from DIR (not both), or pass --uninstall alone",
              file=sys.stderr)
        return ExitCode.USAGE
    plan = None if ns.uninstall else _plan(ns, diags)
    report: InstallReport | None = None
    if plan is not None or ns.uninstall:
        try:
            report = (uninstall(Path(ns.root), MANIFEST, force=ns.force, dry_run=ns.dry_run) if plan is None
                      else install(Path(ns.root), plan, force=ns.force, dry_run=ns.dry_run))
        except InstallRefused as exc:
            _refused(diags, exc.errors)
        except InstallError as exc:
            _refused(diags, (exc,))
    if report is not None and ns.uninstall and not report.board:
        diags.add(Diagnostic("LC509", Severity.NOTE, f"nothing to uninstall: {ns.root} has no {MANIFEST}",
                             rule=RULES["LC509"]))
    _print(ns, report, plan, diags)
    if report is None:
        codes = {d.code for d in diags.items}
        return next((int(_EXIT[c]) for c in sorted(codes) if c in _EXIT),
                    ExitCode.INVALID_INPUT if not codes or min(codes) < "LC500" else ExitCode.FAILED)
    return ExitCode.OK


_DONE = {"written": "written", "removed": "removed", "would-write": "would write", "would-remove": "would remove"}


def _print(ns: argparse.Namespace, report: InstallReport | None, plan: InstallPlan | None,
           diags: Diagnostics) -> None:
    if ns.format == "json":
        sys.stdout.write(_json(ns, report, plan, diags))
        return
    if len(diags):
        sys.stderr.write(render_text(diags))
    if report is None:
        return
    for change in report.changes:
        if change.action != "unchanged":
            print(f"{_DONE[change.action]}: {change.path}" + (" (link)" if change.kind == "link" else ""))
    for artifact, why in plan.skipped if plan is not None and ns.dry_run else ():
        print(f"not installed: {artifact} ({why})")
    counts = {a: sum(1 for c in report.changes if c.action == a) for a in ("written", "removed", "unchanged")}
    verb = "uninstall" if ns.uninstall else "install"
    if report.dry_run:
        print(f"{verb} of board {report.board or '-'} into {report.root}: dry run, nothing changed")
    elif not report.changed:
        print(f"{verb} of board {report.board or '-'} into {report.root}: nothing to do "
              f"({counts['unchanged']} unchanged)")
    else:
        print(f"{verb} of board {report.board} into {report.root}: {counts['written']} written, "
              f"{counts['removed']} removed, {counts['unchanged']} unchanged")


def _json(ns: argparse.Namespace, report: InstallReport | None, plan: InstallPlan | None,
          diags: Diagnostics) -> str:
    items = [d.as_json() for d in diags]
    doc: dict[str, object] = {
        "action": "uninstall" if ns.uninstall else "install", "root": str(ns.root), "dry_run": bool(ns.dry_run),
        "board": report.board if report is not None else plan.board if plan is not None else "",
        "ok": report is not None, "changed": bool(report and report.changed),
        "changes": [{"path": c.path, "kind": c.kind, "action": c.action} for c in report.changes] if report else [],
        "skipped": [{"artifact": a, "why": w} for a, w in plan.skipped] if plan is not None else [],
        "diagnostics": items, "errors": sum(1 for d in items if d["severity"] == "error"),
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"
