"""Pack ``layoutc.dump`` into a zipapp that runs with a bare interpreter (crash initramfs).

The archive holds a minimal ``layoutc/__init__.py``, this package's modules and the filter-spec
schema; ``python3 dump.pyz SOURCE OUTPUT`` runs the dumper.  Beside each module is its ``.pyc``
for the interpreter that built the archive (unchecked-hash, so no timestamps): zipimport cannot
cache byte code, and compiling every module at each start cost about 30 ms.  An interpreter of
another version sees a foreign magic number and compiles the source instead.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from layoutc.dump.spec_schema import load_schema

MAIN = "import sys\nfrom layoutc.dump.__main__ import main\nsys.exit(main(sys.argv[1:]))\n"
INIT = '"""layoutc (dumper-only zipapp)."""\n'
SHEBANG = b"#!/usr/bin/env python3\n"


def _pyc(path: Path, name: str) -> bytes:
    """Unchecked-hash byte code of ``path`` (PEP 552), as ``py_compile`` writes it."""
    import importlib.util
    from importlib._bootstrap_external import _code_to_hash_pyc  # type: ignore[attr-defined]

    source = path.read_bytes()
    code = compile(source, name, "exec", dont_inherit=True)
    return bytes(_code_to_hash_pyc(code, importlib.util.source_hash(source), checked=False))


def build(out: str) -> int:
    """Write the zipapp to ``out``; returns its size in bytes."""
    import json

    here = Path(__file__).resolve().parent
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(SHEBANG)
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
            z.writestr("__main__.py", MAIN)
            z.writestr("layoutc/__init__.py", INIT)
            for path in sorted(here.rglob("*.py")):
                rel = path.relative_to(here).as_posix()
                z.write(path, f"layoutc/dump/{rel}")
                z.writestr(f"layoutc/dump/{rel[:-3]}.pyc", _pyc(path, f"layoutc/dump/{rel}"))
            z.writestr("layoutc/dump/filter-spec.schema.json", json.dumps(load_schema(), indent=1))
    os.chmod(tmp, 0o755)
    os.replace(tmp, out)
    return os.path.getsize(out)
