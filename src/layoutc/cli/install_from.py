"""``layoutc install --from DIR``: an already compiled board, checked before it is laid.

The files must be the ones the compile wrote (``writer.compiled``, LC504), and when the profile
``layout.json`` names can be found (relative to the top of the git work tree that holds DIR, or to
the working directory), it is compiled again: a board whose profile now compiles to other files
is stale (LC505). A profile that cannot be found is a note (LC512): the board is laid as compiled.
"""

from __future__ import annotations

import os
from pathlib import Path

from layoutc.diagnostics.diagnostic import Diagnostic, Diagnostics, Severity
from layoutc.install.install_codes import RULES
from layoutc.render import Artifact
from layoutc.writer.compiled import CompiledBoardError, CompiledFile, read_compiled


def _profile_path(board_dir: Path, profile: str) -> Path | None:
    from layoutc.cli.compile import source_anchor

    for base in (source_anchor(board_dir), Path.cwd()):
        candidate = base / profile
        if candidate.is_file():
            return candidate
    return None


def _stale(board_dir: Path, files: tuple[CompiledFile, ...], diags: Diagnostics) -> None:
    from layoutc.cli.compile import ProfileFile, compile_profiles, load_all, source_anchor

    path = _profile_path(board_dir, files[0].profile)
    if path is None:
        diags.add(Diagnostic("LC512", Severity.NOTE, f"the profile {files[0].profile} that {board_dir}/layout.json "
                             "names was not found: the board is laid as compiled, unchecked for staleness",
                             rule=RULES["LC512"]))
        return
    found = Diagnostics()
    profiles = load_all((ProfileFile(path, str(path)),), found)
    result = None if found.has_errors else compile_profiles(profiles, fleet=False, diags=found,
                                                            anchor=source_anchor(path))
    now = {} if result is None else {f.relpath: f.content for f in result.files}
    before = {f.relpath: f.content for f in files}
    differ = sorted(p for p in set(now) | set(before) if now.get(p) != before.get(p))
    if result is None or differ:
        why = "it no longer compiles" if result is None else "these files differ: " + ", ".join(differ)
        diags.error("LC505", f"{board_dir} is stale: its profile {os.path.relpath(path)} compiles to other "
                    f"files now ({why})", rule=RULES["LC505"],
                    hint=f"compile again (layoutc compile {os.path.relpath(path)} -o OUT), or install PROFILE")


def artifacts_from_compiled(board_dir: Path, diags: Diagnostics) -> tuple[str, str, tuple[Artifact, ...]] | None:
    """(board, profile, artifacts) of the compiled board in ``board_dir``, or None with a diagnostic."""
    try:
        files = read_compiled(board_dir)
    except CompiledBoardError as exc:
        diags.error(exc.code, exc.message, value=str(board_dir), rule=RULES[exc.code])
        return None
    _stale(board_dir, files, diags)
    if diags.has_errors:
        return None
    return files[0].board, files[0].profile, tuple(Artifact(f.relpath, f.content, f.role, f.mode) for f in files)
