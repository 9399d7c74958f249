"""A minimal Python runtime for a guest initramfs: Debian's python3.11 plus exactly the stdlib it needs.

Shared by the crash initramfs (``crashrd``: the dumper's zipapp) and the production guest (``probezip``:
``layoutc probe``'s zipapp). Which stdlib modules are needed is found by running the host interpreter with
``-X importtime`` on the caller's commands (plus the modules a caller imports only on some paths); they are
byte-compiled *sourceless* (``X.pyc`` beside where ``X.py`` would be: no source, no stale-timestamp
recompilation under TCG) and shipped with their ``lib-dynload`` extensions and every library ``ldd`` lists.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from layoutc.initramfs.python_runtime import COMPILE_SCRIPT, RESOLVE_SCRIPT
from layoutc.lab.errors import LabError
from layoutc.lab.image import initramfs
from layoutc.lab.image.sysroot import TRIPLETS, Sysroot

PYTHON = Path("/usr/bin/python3.11")  # Debian's python3.11-minimal; the guest calls it as python3
PY_LIB = "/usr/lib/python3.11"
DIST = "/usr/lib/python3/dist-packages"  # Debian's site directory for packaged modules (python3-zstandard, ...)


def interpreter() -> Path:
    if not PYTHON.is_file():
        raise LabError("tool-missing", f"{PYTHON} not found (Debian package python3.11-minimal)")
    return PYTHON


def imported_modules(commands: Sequence[Sequence[str]], extra: Iterable[str] = ()) -> list[str]:
    """Every non-layoutc module the interpreter loads for ``commands`` (arguments after ``python3.11``)."""
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
    names: set[str] = set()
    for args in commands:
        argv = [str(interpreter()), "-X", "importtime", *args]
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd="/", timeout=60, check=False)
        for line in proc.stderr.splitlines():
            if line.startswith("import time:") and "|" in line:
                name = line.rsplit("|", 1)[-1].strip()
                if name and not name.startswith(("layoutc", "__main__")):
                    names.add(name)
    return sorted(names | set(extra))


def _chosen(origins: dict[str, list[object]], wanted: frozenset[str]) -> list[tuple[str, str]]:
    """(origin, root) of every module to ship: the stdlib, and the wanted packages' modules from DIST."""
    missing = sorted(n for n in wanted if not str(origins.get(n, [""])[0]).startswith(DIST + "/"))
    if missing:
        debs = ", ".join(f"python3-{n}" for n in missing)
        raise LabError("tool-missing", f"python module(s) {', '.join(missing)} not in {DIST} (Debian: {debs})")
    # getpath's landmark is lib/python3.11/os.py or os.pyc (os itself is frozen, so never "imported" from it)
    landmark: list[object] = [f"{PY_LIB}/os.py", False]
    chosen = []
    for name, (origin, _pkg) in sorted([*origins.items(), ("os", landmark)]):
        if str(origin).startswith(PY_LIB + "/"):
            chosen.append((str(origin), PY_LIB))
        elif str(origin).startswith(DIST + "/") and name.split(".")[0] in wanted:
            chosen.append((str(origin), DIST))  # other site-packages stay out
    return chosen


def _compiled(py: Path, sources: Sequence[tuple[str, str]]) -> dict[str, bytes]:
    """``(source file, shown path)`` → sourceless ``.pyc`` beside the shown path."""
    out: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="layoutc-pyc-") as tmp:
        jobs = [(src, str(Path(tmp) / (shown[1:-3] + ".pyc")), shown) for src, shown in sources]
        for _src, dst, _shown in jobs:
            Path(dst).parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([str(py), "-S", "-c", COMPILE_SCRIPT], input=json.dumps(jobs), text=True,
                              capture_output=True, timeout=120, check=False)  # fmt: skip
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise LabError("command-failed", f"{py} could not byte-compile the guest's stdlib: {last}")
        for _src, compiled, shown in jobs:
            out[shown[1:-3] + ".pyc"] = Path(compiled).read_bytes()
    return out


def python_files(
    names: Iterable[str], packages: Iterable[str] = (), sysroot: Sysroot | None = None
) -> dict[str, bytes]:
    """Archive path → bytes for the interpreter, the sourceless stdlib ``names``, extensions, libraries; and
    the modules of ``packages`` (top-level names importable from Debian's ``DIST``, e.g. python3-zstandard's
    ``zstandard``) that ``names`` lists (what importing them loaded), sourceless, with their extensions'
    libraries. A package that is not installed raises ``LabError("tool-missing", ...)`` naming it.

    With ``sysroot`` (an arm64 guest) the interpreter, the extensions (the host's ``x86_64-linux-gnu`` names
    with the sysroot's triplet) and their libraries are the sysroot's, and the ``.pyc`` files are compiled from
    the sysroot's own stdlib sources by the host's python3.11 (bytecode does not depend on the architecture); a
    package's modules are the sysroot's copies (``sysroot.CYCLE_USERLAND`` fetches python3-zstandard)."""
    py = interpreter()
    wanted = frozenset(packages)
    proc = subprocess.run(
        [str(py), "-S", "-c", RESOLVE_SCRIPT],
        input=" ".join(names),
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **({"PYTHONPATH": DIST} if wanted else {})},  # -S: no site, so no DIST
        cwd="/",
        timeout=60,
        check=True,
    )
    origins: dict[str, list[object]] = json.loads(proc.stdout)
    origins.pop("", None)  # the product's resolver also names the stdlib directory; the lab does not need it
    if sysroot is None:
        return _native_runtime(py, _chosen(origins, wanted))
    return _sysroot_runtime(py, _chosen(origins, wanted), sysroot)


def _native_runtime(py: Path, chosen: Sequence[tuple[str, str]]) -> dict[str, bytes]:
    files: dict[str, bytes] = {"usr/bin/python3": py.read_bytes()}
    natives = [py]
    sources: list[tuple[str, str]] = []
    for shown, root in chosen:
        rel = shown[len(root) + 1 :]
        if rel.endswith(".py"):
            sources.append((os.path.realpath(shown), shown))
        elif rel.endswith(".so"):
            files[f"{root[1:]}/{rel}"] = Path(os.path.realpath(shown)).read_bytes()
            natives.append(Path(os.path.realpath(shown)))
    files.update(_compiled(py, sources))
    for native in natives:
        for lib in initramfs.shared_libraries(native):
            files[str(lib).lstrip("/")] = lib.resolve().read_bytes()
    files[f"{PY_LIB[1:]}/lib-dynload/.keep"] = b""
    return files


def _sysroot_runtime(py: Path, chosen: Sequence[tuple[str, str]], sysroot: Sysroot) -> dict[str, bytes]:
    binary = f"/usr/bin/{PYTHON.name}"
    files: dict[str, bytes] = {"usr/bin/python3": sysroot.read(binary)}
    natives = [binary]
    sources: list[tuple[str, str]] = []
    for shown, _root in chosen:
        if shown.endswith(".py"):
            own = sysroot.resolve(shown)
            sources.append((str(own if own.is_file() else os.path.realpath(shown)), shown))
        elif shown.endswith(".so"):
            guest = shown.replace(TRIPLETS["amd64"], sysroot.triplet)
            files[guest[1:]] = sysroot.read(guest)
            natives.append(guest)
    files.update(_compiled(py, sources))
    for native in natives:
        for lib in sysroot.libraries(native):
            files[lib[1:]] = sysroot.read(lib)
    files[f"{PY_LIB[1:]}/lib-dynload/.keep"] = b""
    return files
