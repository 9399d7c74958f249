"""The dumper's Python in a crash initramfs: the root's interpreter and exactly the stdlib it needs.

Which modules: an ast scan of the dumper's sources (every import, eager or lazy, minus those only
paths the crash kernel never takes use), closed over by running the root's interpreter with
``-X importtime`` on the zipapp and on those imports. They are byte-compiled *sourceless* by that same
interpreter (``X.pyc`` where ``X.py`` would be: no source, no timestamp check, so nothing is recompiled
into the crash kernel's small RAM) and shipped with their ``lib-dynload`` extensions, whose libraries
``Root.libraries`` finds. The codec package the filter spec's compression needs (python3-zstandard for
zstd, ...) comes from Debian's ``dist-packages``.

The root's interpreter runs on the build machine: with ``--root`` other than ``/`` it must be able to run
here (same architecture), and runs with ``PYTHONHOME`` at the root's ``/usr``.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from layoutc.initramfs.root import Root, RootError

DIST = "/usr/lib/python3/dist-packages"  # Debian's site directory for packaged modules
PYTHON = "/usr/bin/python3"
# what running a zipapp loads beyond the dumper's own imports
ZIPAPP_RUNTIME = ("runpy", "zipimport", "site", "encodings.idna")
# imported only on a path the crash kernel never takes: the zipapp builder
NOT_SHIPPED = frozenset({"zipfile", "importlib._bootstrap_external", "py_compile"})
THIRD_PARTY = ("numpy", "zstandard", "cramjam")

RESOLVE_SCRIPT = r"""
import importlib.util, json, os, sys, sysconfig
out = {"": [sysconfig.get_path("stdlib"), False]}
for name in sys.stdin.read().split():
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        continue
    if spec is None or not spec.origin or not os.path.isfile(spec.origin):
        continue
    out[name] = [spec.origin, bool(spec.submodule_search_locations)]
print(json.dumps(out))
"""

COMPILE_SCRIPT = r"""
import json, py_compile, sys
for src, dst, shown in json.load(sys.stdin):
    py_compile.compile(src, cfile=dst, dfile=shown, doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
"""


# CPython 3.11 before 3.11.5 keeps the AST converter's recursion bookkeeping in per-interpreter state, so two
# threads in ast.parse at once raise "SystemError: AST constructor recursion depth mismatch" (CPython
# gh-106905; Debian 12 ships 3.11.2). The lab builds crash images from concurrent boot threads: one scan at a
# time, and once per process (the sources do not change under a running build).
_SCAN_LOCK = threading.Lock()


def dumper_imports() -> tuple[str, ...]:
    """Every standard-library module the dumper's sources import (an ast scan of ``layoutc.dump``), minus
    NOT_SHIPPED, plus what running a zipapp needs."""
    with _SCAN_LOCK:
        return _scanned_imports()


@functools.cache
def _scanned_imports() -> tuple[str, ...]:
    import layoutc.dump

    names: set[str] = set()
    for path in sorted(Path(layoutc.dump.__file__).resolve().parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
    own = {n for n in names if n.split(".")[0] in ("layoutc", "__future__")}
    third_party = {n for n in names if n.split(".")[0] in THIRD_PARTY}
    return tuple(sorted(names - own - third_party - NOT_SHIPPED)) + ZIPAPP_RUNTIME


class Interpreter:
    """The root's python3, run on the build machine."""

    def __init__(self, root: Root, python: str = PYTHON) -> None:
        if not root.exists(python):
            raise RootError(f"{python} not found in root {root.top} (Debian: python3-minimal)")
        self.root = root
        self.device_path = root.resolve(python)
        self.binary = root.host(python)
        self.env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
        if str(root.top) != "/":
            self.env["PYTHONHOME"] = str(root.host("/usr"))

    def run(self, args: Sequence[str], stdin: str = "", extra_env: dict[str, str] | None = None) -> str:
        proc = subprocess.run([str(self.binary), *args], input=stdin, capture_output=True, text=True,
                              env={**self.env, **(extra_env or {})}, cwd="/", timeout=120, check=False)
        if proc.returncode != 0 and "importtime" not in args:
            raise RootError(f"{self.device_path} {' '.join(args[:2])} failed: {proc.stderr.strip()[-400:]}")
        return proc.stderr if "importtime" in args else proc.stdout

    def device(self, host_path: str) -> str:
        """The device path of a host path under the root."""
        top = str(self.root.top)
        return host_path if top == "/" else "/" + os.path.relpath(host_path, top)


def imported_modules(python: Interpreter, commands: Iterable[Sequence[str]], extra: Iterable[str] = ()) -> list[str]:
    """Every non-layoutc module the interpreter loads for ``commands`` (arguments after the interpreter)."""
    names: set[str] = set()
    for args in commands:
        for line in python.run(["-X", "importtime", *args]).splitlines():
            if line.startswith("import time:") and "|" in line:
                name = line.rsplit("|", 1)[-1].strip()
                if name and not name.startswith(("layoutc", "__main__")):
                    names.add(name)
    return sorted(names | set(extra))


def dumper_modules(python: Interpreter, pyz: Path, packages: tuple[str, ...] = ()) -> list[str]:
    """What the interpreter loads to run the zipapp, the dumper's imports and ``packages``."""
    imports = dumper_imports()
    commands = [[str(pyz), "--help"], ["-c", "import " + ", ".join(imports)]]
    commands += [["-c", f"import {name}"] for name in packages]  # a missing one is reported by python_files
    return imported_modules(python, commands, (*imports, *packages))


def python_files(python: Interpreter, names: Iterable[str], packages: Iterable[str] = ()) -> dict[str, bytes]:
    """Archive path -> bytes: the sourceless stdlib ``names`` and the extensions among them; the modules of
    ``packages`` (top-level names in ``DIST``) that ``names`` lists. Not the interpreter and not the
    libraries: ``native_paths`` says which binaries the caller ships with their libraries."""
    wanted = frozenset(packages)
    env = {"PYTHONPATH": str(python.root.host(DIST))} if wanted else {}
    origins: dict[str, list[object]] = json.loads(python.run(["-S", "-c", RESOLVE_SCRIPT], " ".join(names), env))
    stdlib = python.device(str(origins.pop("")[0]))
    found = {n: python.device(str(o[0])) for n, o in origins.items()}
    missing = sorted(n for n in wanted if not found.get(n, "").startswith(DIST + "/"))
    if missing:
        debs = ", ".join(f"python3-{n}" for n in missing)
        raise RootError(f"python module(s) {', '.join(missing)} not in {DIST} (Debian: {debs})")
    # getpath's landmark is lib/python3.X/os.py or os.pyc (os itself is frozen, so never "imported" from it)
    chosen = [(origin, stdlib) for name, origin in sorted({**found, "os": f"{stdlib}/os.py"}.items())
              if origin.startswith(stdlib + "/")]
    chosen += [(origin, DIST) for name, origin in sorted(found.items())
               if origin.startswith(DIST + "/") and name.split(".")[0] in wanted]
    files: dict[str, bytes] = {f"{stdlib[1:]}/lib-dynload/.keep": b""}
    to_compile: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="layoutc-pyc-") as tmp:
        for shown, _top in chosen:
            if shown.endswith(".py"):
                dst = Path(tmp) / (shown[1:-3] + ".pyc")
                dst.parent.mkdir(parents=True, exist_ok=True)
                to_compile.append((str(python.root.host(shown)), str(dst), shown))
            elif shown.endswith(".so"):
                files[shown[1:]] = python.root.read(shown)
        python.run(["-S", "-c", COMPILE_SCRIPT], json.dumps(to_compile))
        for _src, compiled, shown in to_compile:
            files[shown[1:-3] + ".pyc"] = Path(compiled).read_bytes()
    return files
