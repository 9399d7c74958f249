"""The compile driver: profile files -> typed profiles -> solved layouts -> output files.

Everything is computed before anything is written: one invalid profile in a fleet means no
file of the fleet is touched. ``manifest.json`` lists every artifact with its role.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from layoutc.diagnostics.diagnostic import Diagnostics, Related, Span
from layoutc.frontend.load import load_profile
from layoutc.model.profile import Profile
from layoutc.writer.tree import OutputFile, safe_relpath

PROFILE_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class ProfileFile:
    path: Path
    display: str
    tree: Path | None = None  # the directory named on the command line, for a directory scan


@dataclass(frozen=True, slots=True)
class CompileResult:
    files: tuple[OutputFile, ...]  # every artifact; not the manifest (``manifest_file``)
    boards: tuple[str, ...]
    entries: tuple[dict[str, object], ...]  # the manifest's entries of ``files``


# Names a fleet compile writes at the top of OUT: a board of that name would collide with them.
MANIFEST = "manifest.json"
FLEET_FILES = (MANIFEST, "summary.md", "summary.txt")


def discover(path: Path, display: str) -> tuple[ProfileFile, ...]:
    """One profile, or every profile below a directory (recursive, sorted).

    The scan never opens a file and never descends into a symbolic link to a directory. Every
    ``*.yaml``/``*.yml`` entry that is not a directory is listed, so a FIFO or a socket of that
    name is reported by the loader (which refuses it without opening it for a blocking read).
    """
    if not path.is_dir():
        return (ProfileFile(path, display),)
    found: list[Path] = []
    for folder, subdirs, names in os.walk(path, followlinks=False):
        subdirs.sort()
        found.extend(Path(folder, name) for name in names if Path(name).suffix in PROFILE_SUFFIXES)
    return tuple(ProfileFile(p, os.path.normpath(os.path.join(display, p.relative_to(path))), path)
                 for p in sorted(found))


def load_all(files: tuple[ProfileFile, ...], diags: Diagnostics) -> tuple[Profile, ...]:
    """Load and check every profile, reporting all errors of all files."""
    profiles: list[Profile] = []
    for item in files:
        profile = load_profile(item.path, item.display, diags, tree=item.tree)
        if profile is not None:
            profiles.append(profile)
    return tuple(profiles)


def source_anchor(source: Path) -> Path:
    """The directory every output names source files from: the same wherever layoutc runs.

    The top of the git work tree that holds ``source``; outside a work tree, the parent of the
    compiled directory, or the compiled file's directory.
    """
    real = Path(os.path.realpath(source))
    start = real if real.is_dir() else real.parent
    for folder in (start, *start.parents):
        if os.path.lexists(folder / ".git"):
            return folder
    return real.parent if real.is_dir() else start


def portable(profile: Profile, anchor: Path) -> Profile:
    """The profile with every source path named relative to ``anchor``, so outputs carry no absolute
    path and do not depend on the working directory (``source_anchor``)."""

    def rel(name: str) -> str:
        return os.path.relpath(os.path.realpath(name), anchor)

    spans = {key: replace(span, file=rel(span.file)) for key, span in profile.spans.items()}
    return replace(profile, file=rel(profile.file), spans=spans, layers=tuple(rel(f) for f in profile.layers))


def _shown_as_typed(diags: Diagnostics, found: Diagnostics, names: dict[str, str]) -> None:
    """Add ``found`` to ``diags`` with every span naming the file as the user typed it."""

    def back(span: Span | None) -> Span | None:
        return None if span is None else replace(span, file=names.get(span.file, span.file))

    for item in found:
        related = tuple(replace(r, span=back(r.span)) for r in item.related)
        diags.add(replace(item, span=back(item.span), related=related))


def compile_profiles(profiles: tuple[Profile, ...], *, fleet: bool, diags: Diagnostics,
                     anchor: Path | None = None) -> CompileResult | None:
    """Solve and render every concrete profile. ``fleet`` puts each board in its own directory.

    With ``anchor``, outputs name source files relative to it (``portable``); diagnostics still name
    them as typed. The manifest is not among the files: ``manifest_file`` makes it.
    """
    concrete = tuple(p for p in profiles if not p.abstract)
    if not fleet and len(profiles) == 1 and profiles[0].abstract:
        only = profiles[0]
        diags.error("LC230", f"{only.file} is abstract (a family base) and is never compiled alone",
                    span=only.span("abstract"), path="abstract", value="true",
                    rule="abstract profiles are bases for boards that extend them",
                    hint="compile a board that extends it, or the directory that holds the boards")
        return None
    _check_unique_boards(concrete, diags)
    if fleet:
        _check_board_names(concrete, diags)
    if diags.has_errors:
        return None
    found = Diagnostics()
    names: dict[str, str] = {}
    if anchor is not None:
        moved = tuple(portable(p, anchor) for p in concrete)
        for before, after in zip(concrete, moved, strict=True):
            names.update(zip((after.file, *after.layers), (before.file, *before.layers), strict=True))
        concrete = moved
    files, entries = _render_boards(concrete, fleet, found)
    _shown_as_typed(diags, found, names)
    if diags.has_errors:
        return None
    return CompileResult(files, tuple(p.board for p in concrete), entries)


def _render_boards(concrete: tuple[Profile, ...], fleet: bool,
                   diags: Diagnostics) -> tuple[tuple[OutputFile, ...], tuple[dict[str, object], ...]]:
    from layoutc.render import render_all  # imported here: `layoutc check` never needs jinja2
    from layoutc.render.device import device_artifacts
    from layoutc.solve import solve

    files: list[OutputFile] = []
    entries: list[dict[str, object]] = []
    for profile in concrete:
        layout = solve(profile, diags)
        if layout is None:
            continue
        prefix = f"{profile.board}/" if fleet else ""
        for artifact in (*render_all(layout), *device_artifacts(profile, layout)):
            relpath = prefix + artifact.relpath
            files.append(OutputFile(relpath, artifact.content, artifact.mode))
            entries.append(_entry(relpath, artifact.role, profile.board, profile.file, artifact.content,
                                  artifact.mode))
    return tuple(files), tuple(entries)


def _entry(relpath: str, role: str, board: str, profile: str, content: bytes, mode: int) -> dict[str, object]:
    return {"path": relpath, "role": role, "board": board, "profile": profile, "mode": f"{mode:04o}",
            "sha256": hashlib.sha256(content).hexdigest()}


def summary_entries(files: tuple[OutputFile, ...]) -> tuple[dict[str, object], ...]:
    """Manifest entries of the fleet summaries (role ``summary``; no board, no profile)."""
    return tuple(_entry(f.relpath, "summary", "", "", f.content, f.mode) for f in files)


def manifest_file(entries: tuple[dict[str, object], ...]) -> OutputFile:
    """``manifest.json``: every file the compile writes but itself, sorted by path."""
    manifest = {"schema_version": 1, "generator": "layoutc",
                "artifacts": sorted(entries, key=lambda e: str(e["path"]))}
    return OutputFile("manifest.json", (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())


def previous_paths(out: Path) -> tuple[str, ...]:
    """The paths ``OUT/manifest.json`` lists (what an earlier compile wrote); none when it is unreadable.

    Only safe relative paths are returned; a link is never followed."""
    try:
        fd = os.open(out / MANIFEST, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            data = json.loads(handle.read(1 << 24))
        listed = [entry["path"] for entry in data["artifacts"]]
    except (OSError, ValueError, TypeError, KeyError):
        return ()
    return tuple(p for p in listed if isinstance(p, str) and _safe(p))


def _safe(relpath: str) -> bool:
    try:
        safe_relpath(relpath)
    except ValueError:
        return False
    return relpath != MANIFEST


def _check_unique_boards(profiles: tuple[Profile, ...], diags: Diagnostics) -> None:
    first: dict[str, Profile] = {}
    for profile in profiles:
        if profile.board in first:
            other = first[profile.board]
            diags.error("LC231", f"board '{profile.board}' is defined twice", span=profile.span("board"),
                        path="board", value=profile.board, rule="board names the output directory in a fleet",
                        hint="give each board its own name", related=(Related(other.span("board"), "first here"),))
        else:
            first[profile.board] = profile


def _check_board_names(profiles: tuple[Profile, ...], diags: Diagnostics) -> None:
    """In a fleet, OUT/<board>/ sits beside OUT/manifest.json and the summaries: no board may take their name."""
    for profile in profiles:
        if profile.board in FLEET_FILES:
            diags.error("LC232", f"board '{profile.board}' has the name of a fleet file", span=profile.span("board"),
                        path="board", value=profile.board,
                        rule=f"in a fleet compile OUT/<board>/ sits beside {', '.join(FLEET_FILES)}",
                        hint="rename the board")
