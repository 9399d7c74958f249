"""``layoutc probe`` inside the production guest: its zipapp, the minimal interpreter, the stage that runs it.

The Debian cloud kernels have no 9p, so the guest cannot run the host's layoutc; instead the production
initramfs carries

* ``/usr/lib/layoutc/probe.pyz``: the ``layoutc`` modules ``layoutc.importer.probe_main`` imports (probe,
  capture, the parsers, diagnostics, output), with stub ``layoutc/__init__.py`` and
  ``layoutc/importer/__init__.py`` (the real package ``__init__`` imports the importer, hence PyYAML);
* ``/usr/bin/python3`` and exactly the stdlib modules running the zipapp loads (``pyrt``, shared with the crash
  initramfs).

The stage ``15-probe`` (after the facts, before any block is offlined) runs
``python3 /usr/lib/layoutc/probe.pyz --raw $SCRATCH/probe`` (the stages' tmpfs), reports its exit code and
run time as a ``probe`` observation and emits every raw file it wrote as ``probe/NAME`` frames; the host imports them
(``roundtrip.probe_roundtrip``).
"""

from __future__ import annotations

import os
import threading
import zipfile
from functools import lru_cache
from pathlib import Path

from layoutc.lab.image import pyrt
from layoutc.lab.image.sysroot import Sysroot

PYZ = "usr/lib/layoutc/probe.pyz"
_LOCK = threading.Lock()  # run_lab boots concurrently: build the files once per process
# the layoutc modules probe_main imports (checked by tests/lab: the zipapp runs under python3.11 -I -S)
MODULES = (
    "diagnostics/diagnostic.py",
    "writer/tree.py",
    "devicetree/__init__.py",
    "devicetree/edit.py",
    "devicetree/fdt.py",
    "devicetree/tree.py",
    "importer/boot_capture.py",
    "importer/capture.py",
    "importer/import_codes.py",
    "importer/dmesg.py",
    "importer/dt_memory.py",
    "importer/iomem.py",
    "importer/kconfig.py",
    "importer/lsmem.py",
    "importer/probe.py",
    "importer/probe_main.py",
    "importer/parse_report.py",
    "importer/sysinfo_types.py",
    "importer/zoneinfo.py",
    "model/intervals.py",
)
MAIN = "import sys\nfrom layoutc.importer.probe_main import main\nsys.exit(main(sys.argv[1:]))\n"
STUBS = {
    "layoutc/__init__.py": '"""layoutc (probe-only zipapp)."""\n',
    "layoutc/importer/__init__.py": '"""layoutc.importer (probe-only: no importer, no PyYAML)."""\n',
    "layoutc/diagnostics/__init__.py": '"""layoutc.diagnostics (probe-only)."""\n',
    "layoutc/writer/__init__.py": '"""layoutc.writer (probe-only)."""\n',
    "layoutc/model/__init__.py": '"""layoutc.model (probe-only: the interval helpers)."""\n',
}
# stdlib modules probe imports only on some paths (lsmem/dmesg commands, errors)
PROBE_IMPORTS = ("subprocess", "shutil", "errno", "json", "argparse", "zipimport", "encodings.idna")

STAGE = r"""
if [ -x /usr/bin/python3 ] && [ -r /usr/lib/layoutc/probe.pyz ]; then
    read -r t0 _ < /proc/uptime
    python3 /usr/lib/layoutc/probe.pyz --raw "$SCRATCH"/probe > "$SCRATCH"/probe.out 2>&1
    rc=$?
    read -r t1 _ < /proc/uptime
    obs probe "\"rc\":$rc,\"start\":\"$t0\",\"end\":\"$t1\""
    emit probe-output "$SCRATCH"/probe.out
    for f in "$SCRATCH"/probe/*; do
        [ -f "$f" ] && emit "probe/${f##*/}" "$f"
    done
fi
"""


def build(dest: Path) -> Path:
    """Write the probe zipapp to ``dest`` (sources only: the interpreter compiles them in memory)."""
    root = Path(__file__).resolve().parents[2]  # src/layoutc
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}.tmp")  # concurrent lab runs share the cache
    with open(tmp, "wb") as f:
        f.write(b"#!/usr/bin/env python3\n")
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
            z.writestr("__main__.py", MAIN)
            for name, text in STUBS.items():
                z.writestr(name, text)
            for rel in MODULES:
                z.write(root / rel, f"layoutc/{rel}")
    os.chmod(tmp, 0o755)
    os.replace(tmp, dest)
    return dest


@lru_cache(maxsize=2)
def _files(work: str, sysroot: Sysroot | None = None) -> tuple[tuple[str, bytes], ...]:
    pyz = build(Path(work) / "probe.pyz")
    commands = [[str(pyz), "--help"], ["-c", "import " + ", ".join(PROBE_IMPORTS)]]
    files = pyrt.python_files(pyrt.imported_modules(commands, PROBE_IMPORTS), sysroot=sysroot)
    files[PYZ] = pyz.read_bytes()
    return tuple(sorted(files.items()))


def guest_files(work: Path, sysroot: Sysroot | None = None) -> dict[str, bytes]:
    """Archive path → bytes: the zipapp and the minimal interpreter (built once per process); ``sysroot``: the
    interpreter of a foreign-architecture guest (arm64)."""
    work.mkdir(parents=True, exist_ok=True)
    with _LOCK:
        return dict(_files(str(work.resolve()), sysroot))
