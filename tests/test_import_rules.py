"""The rooms of src/layoutc and which may import which (docs/architecture.md, "The never-rules").

Every ``import layoutc.X`` between two rooms must be an edge of ALLOWED. The never-rules it encodes:
the dumper imports nothing of the compiler (it ships alone in a standard-library zipapp); kernel
models import no solver, renderer, review or lab; the lab consumes the typed layout and never the
solver; the review tools use only the solver's public entry points (``layoutc.solve``), never its modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .conftest import REPO

SRC = REPO / "src" / "layoutc"

# room -> the rooms it may import ("layoutc" is the package root, "resources" the data-file finder)
ALLOWED: dict[str, frozenset[str]] = {
    "dump": frozenset(),
    "devicetree": frozenset(),  # ships to devices like the dumper: standard library only
    "status": frozenset({"dump"}),  # ships in the device zipapp: standard library and the exit codes only
    "diagnostics": frozenset({"importer", "initramfs", "install", "solve"}),  # the catalogue: every room's codes
    "model": frozenset({"diagnostics", "kernel", "resources"}),  # resources: the layout schema
    "kernel": frozenset({"model"}),
    "frontend": frozenset({"diagnostics", "kernel", "model", "resources"}),  # kernel: the cmdline tokenizer
    "importer": frozenset({"devicetree", "diagnostics", "frontend", "kernel", "model", "writer"}),  # reads fdt.dtb
    "solve": frozenset({"diagnostics", "kernel", "model"}),
    # devicetree: the crash kernel's DT edit; initramfs: what the distribution's crash initramfs hooks ship;
    # dump: the dumper's command line, which capture.sh runs (layoutc.dump.zipapp.RUNNER)
    "render": frozenset({"devicetree", "dump", "initramfs", "kernel", "model", "resources"}),
    "writer": frozenset({"model"}),  # model: the install plan it lays (model.install_plan)
    "install": frozenset({"model", "render"}),  # where each rendered artifact goes in a root
    # the crash initramfs plan: the dumper (its zipapp, codecs), the capability table and the sizing model
    "initramfs": frozenset({"diagnostics", "dump", "kernel", "model"}),
    # dump: the one exit-code table (layoutc.dump.exit_codes), standard library only
    "review": frozenset({"diagnostics", "dump", "frontend", "kernel", "model", "render", "solve", "writer"}),
    "lab": frozenset({"devicetree", "diagnostics", "dump", "frontend", "importer", "initramfs", "kernel", "model",
                     "render", "writer", "layoutc"}),
    "cli": frozenset(
        {"diagnostics", "dump", "frontend", "importer", "initramfs", "install", "kernel", "model", "render", "review",
         "solve",
         "writer", "layoutc"}
    ),
    "resources": frozenset(),
}
# rooms that may use only a room's public entry points (the package itself), never its modules
ENTRY_POINTS_ONLY: dict[str, frozenset[str]] = {
    "review": frozenset({"solve"}),
}


def room_of(path: Path, src: Path) -> str:
    first = path.relative_to(src).parts[0]
    return first[:-3] if first.endswith(".py") else first


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every ``layoutc`` module ``path`` imports (line, dotted name), submodules of from-imports included."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "layoutc" or node.module.startswith("layoutc."):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("layoutc")]
    return found


def violations(src: Path) -> list[str]:
    """Every import that crosses rooms along an edge ALLOWED does not have."""
    bad: list[str] = []
    for path in sorted(src.rglob("*.py")):
        room = room_of(path, src)
        where = path.relative_to(src)
        for line, module in imported_modules(path):
            if module.startswith("."):
                continue
            parts = module.split(".")
            target = parts[1] if len(parts) > 1 else "layoutc"
            if target == room:
                continue
            if room not in ALLOWED:
                bad.append(f"{where}:{line}: room {room!r} is not in the table (add it to ALLOWED)")
            elif target not in ALLOWED[room]:
                bad.append(f"{where}:{line}: {room} must not import {module}")
            elif target in ENTRY_POINTS_ONLY.get(room, frozenset()) and len(parts) > 2:
                bad.append(f"{where}:{line}: {room} uses {module}; only layoutc.{target} itself is allowed")
    return bad


def test_rooms_import_only_allowed_rooms() -> None:
    assert violations(SRC) == []


def test_every_room_is_in_the_table() -> None:
    rooms = {room_of(p, SRC) for p in SRC.rglob("*.py")} - {"__init__", "__main__"}
    assert rooms <= set(ALLOWED), rooms - set(ALLOWED)


@pytest.mark.parametrize(
    ("room", "statement", "expected"),
    [
        ("dump", "from layoutc.model.units import MiB", "dump must not import layoutc.model.units"),
        ("kernel", "from layoutc.solve import solve", "kernel must not import layoutc.solve"),
        ("review", "from layoutc.solve.plan import plan", "review uses layoutc.solve.plan"),
        ("lab", "import layoutc.solve.graph", "lab must not import layoutc.solve.graph"),
    ],
)
def test_a_forbidden_edge_fails(tmp_path: Path, room: str, statement: str, expected: str) -> None:
    (tmp_path / room).mkdir()
    (tmp_path / room / "leak.py").write_text(statement + "\n")
    found = violations(tmp_path)
    assert len(found) == 1 and expected in found[0], found
