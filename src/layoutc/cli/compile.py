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

from layoutc.diagnostics.diagnostic import Diagnostics, Related
from layoutc.frontend.load import load_profile
from layoutc.model.profile import Profile
from layoutc.writer.tree import OutputFile

PROFILE_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class ProfileFile:
    path: Path
    display: str
    tree: Path | None = None  # the directory named on the command line, for a directory scan


@dataclass(frozen=True, slots=True)
class CompileResult:
    files: tuple[OutputFile, ...]
    boards: tuple[str, ...]


# Names a fleet compile writes at the top of OUT: a board of that name would collide with them.
FLEET_FILES = ("manifest.json", "summary.md", "summary.txt")


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


def portable(profile: Profile, anchor: Path) -> Profile:
    """The profile with every source path made relative, so outputs carry no absolute path.

    A path typed relative stays as typed. An absolute one becomes relative to the working
    directory when it lies below it, else relative to ``anchor`` (the compiled directory's parent,
    or the compiled file's directory), which keeps outputs identical wherever the tree lives.
    """

    def rel(name: str) -> str:
        if not os.path.isabs(name):
            return name
        here = os.path.relpath(name)
        return here if not here.startswith("..") else os.path.relpath(name, anchor)

    spans = {key: replace(span, file=rel(span.file)) for key, span in profile.spans.items()}
    return replace(profile, file=rel(profile.file), spans=spans, layers=tuple(rel(f) for f in profile.layers))


def compile_profiles(profiles: tuple[Profile, ...], *, fleet: bool, diags: Diagnostics,
                     anchor: Path | None = None) -> CompileResult | None:
    """Solve and render every concrete profile. ``fleet`` puts each board in its own directory."""
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
    if anchor is not None:
        concrete = tuple(portable(p, anchor) for p in concrete)
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
            entries.append({"path": relpath, "role": artifact.role, "board": profile.board,
                            "profile": profile.file, "mode": f"{artifact.mode:04o}",
                            "sha256": hashlib.sha256(artifact.content).hexdigest()})
    if diags.has_errors:
        return None
    manifest = {"schema_version": 1, "generator": "layoutc",
                "artifacts": sorted(entries, key=lambda e: str(e["path"]))}
    files.append(OutputFile("manifest.json", (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()))
    return CompileResult(tuple(files), tuple(p.board for p in concrete))


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
