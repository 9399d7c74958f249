"""Pack ``layoutc.dump`` into a zipapp that runs with a bare interpreter (crash initramfs).

The archive holds a minimal ``layoutc/__init__.py``, this package's modules and the filter-spec
schema; ``python3 dump.pyz SOURCE OUTPUT`` runs the dumper.  Byte-compiled files are left out:
the interpreter compiles in memory, and sources keep the archive small.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from .schema import load_schema

MAIN = "import sys\nfrom layoutc.dump.__main__ import main\nsys.exit(main(sys.argv[1:]))\n"
INIT = '"""layoutc (dumper-only zipapp)."""\n'
SHEBANG = b"#!/usr/bin/env python3\n"


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
            for path in sorted(here.glob("*.py")):
                z.write(path, f"layoutc/dump/{path.name}")
            z.writestr("layoutc/dump/filter-spec.schema.json", json.dumps(load_schema(), indent=1))
    os.chmod(tmp, 0o755)
    os.replace(tmp, out)
    return os.path.getsize(out)
