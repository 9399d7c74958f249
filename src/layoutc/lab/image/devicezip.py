"""``layoutc status`` in the crash cycle's production and recovery roots: the device zipapp, the installed
layout.json and the minimal interpreter (``pyrt``).

The device ships ``/usr/lib/layoutc/layoutc-device.pyz`` (``layoutc.dump.zipapp.DEVICE``: the dumper, the device
tree tool and the status); the guest runs ``PYTHONPATH=/usr/lib/layoutc/layoutc-device.pyz python3 -m
layoutc.status --format json``
exactly as a device without layoutc installed would (``guest/sh/00-common.sh`` ``run_status``).
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

from layoutc.dump import zipapp
from layoutc.lab.image import pyrt
from layoutc.lab.image.sysroot import Sysroot

PYZ = "usr/lib/layoutc/layoutc-device.pyz"
LAYOUT = "usr/lib/layoutc/layout.json"
# what running the status loads besides what the traced run shows (paths a healthy device does not take)
STATUS_IMPORTS = ("argparse", "dataclasses", "enum", "json", "pathlib", "re", "runpy", "zipimport", "encodings.idna")
_LOCK = threading.Lock()


@lru_cache(maxsize=2)
def _files(work: str, sysroot: Sysroot | None = None) -> tuple[tuple[str, bytes], ...]:
    """The zipapp and the interpreter; for an arm64 guest (``sysroot``) the arm64 interpreter, and what the device
    tree tool loads too (arm.sh builds the crash kernel's DTB with it)."""
    pyz = Path(work) / "layoutc-device.pyz"
    zipapp.build(str(pyz), zipapp.DEVICE)
    commands = [["-c", f"import sys, runpy; sys.path.insert(0, {str(pyz)!r}); sys.argv[1:] = ['--help']; "
                 f"runpy.run_module({module!r}, run_name='__main__')"]
                for module in ("layoutc.status", *(("layoutc.devicetree",) if sysroot is not None else ()))]
    files = pyrt.python_files(pyrt.imported_modules(commands, STATUS_IMPORTS), sysroot=sysroot)
    files[PYZ] = pyz.read_bytes()
    return tuple(sorted(files.items()))


def guest_files(work: Path, layout_json: bytes, sysroot: Sysroot | None = None) -> dict[str, bytes]:
    """Archive path → bytes: the zipapp, the interpreter (built once per process) and ``layout_json``."""
    work.mkdir(parents=True, exist_ok=True)
    with _LOCK:
        files = dict(_files(str(work.resolve()), sysroot))
    files[LAYOUT] = layout_json
    return files
