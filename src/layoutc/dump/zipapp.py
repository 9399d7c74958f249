"""Pack ``layoutc.dump`` into a zipapp that runs with a bare interpreter (crash initramfs).

The archive holds a minimal ``layoutc/__init__.py``, this package's modules and the filter-spec
schema; ``python3 dump.pyz SOURCE OUTPUT`` runs the dumper. Beside it, ``layoutc.devicetree`` (standard
library only, like the dumper, and importing nothing of it): arm64 devices have no dtc, and arm.sh runs
``PYTHONPATH=dump.pyz python3 -m layoutc.devicetree apply ...`` to build the crash kernel's DTB
(docs/devicetree.md); and ``layoutc.status`` (``PYTHONPATH=dump.pyz python3 -m layoutc.status``,
docs/status.md). Their sources are found by path, never imported here.  Beside each module is its ``.pyc``
for the interpreter that built the archive (unchecked-hash, so no timestamps): zipimport cannot
cache byte code, and compiling every module at each start cost about 30 ms.  An interpreter of
another version sees a foreign magic number and compiles the source instead.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from layoutc.dump.spec_schema import load_schema

PACKAGES = ("dump", "devicetree", "status")  # the layoutc subpackages the archive carries
MAIN = "import sys\nfrom layoutc.dump.__main__ import main\nsys.exit(main(sys.argv[1:]))\n"
INIT = '"""layoutc (device zipapp: the dumper, the device tree tool and the status)."""\n'
SHEBANG = b"#!/usr/bin/env python3\n"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip member can carry


def _pyc(path: Path, name: str) -> bytes:
    """Unchecked-hash byte code of ``path`` (PEP 552), as ``py_compile`` writes it."""
    import importlib.util
    from importlib._bootstrap_external import _code_to_hash_pyc  # type: ignore[attr-defined]

    source = path.read_bytes()
    code = compile(source, name, "exec", dont_inherit=True)
    return bytes(_code_to_hash_pyc(code, importlib.util.source_hash(source), checked=False))


def archive() -> bytes:
    """The zipapp's bytes: the same for the same sources and interpreter (members sorted, one fixed date and
    mode each), so ``layoutc install`` lays it again only when it changed."""
    import io
    import json

    layoutc = Path(__file__).resolve().parent.parent
    buffer = io.BytesIO()
    buffer.write(SHEBANG)
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        _member(z, "__main__.py", MAIN.encode())
        _member(z, "layoutc/__init__.py", INIT.encode())
        for package in PACKAGES:
            for path in sorted((layoutc / package).rglob("*.py")):
                rel = f"layoutc/{package}/{path.relative_to(layoutc / package).as_posix()}"
                _member(z, rel, path.read_bytes())
                _member(z, f"{rel[:-3]}.pyc", _pyc(path, rel))
        _member(z, "layoutc/dump/filter-spec.schema.json", json.dumps(load_schema(), indent=1).encode())
    return buffer.getvalue()


def _member(z: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    z.writestr(info, data, compresslevel=9)


def build(out: str) -> int:
    """Write the zipapp to ``out`` (mode 0755, through a temporary name); returns its size in bytes."""
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(archive())
    os.chmod(tmp, 0o755)
    os.replace(tmp, out)
    return os.path.getsize(out)
