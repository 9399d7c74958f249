"""The dumper's command line as ``capture.sh`` runs it on a device, for the benchmarks.

``/usr/bin/python3 -I -S -c BOOTSTRAP dump.pyz --spec FILTER.json SOURCE OUTPUT`` (layoutc.dump.zipapp.RUNNER):
Debian's interpreter without site-packages or numpy, the filter spec read and validated as on a device. The
spec here holds only the dump level and the codec (a device's also lists the ranges its layout excludes,
which would make the output differ from makedumpfile's).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

from layoutc.dump.zipapp import RUNNER  # noqa: E402

PYTHON = "/usr/bin/python3"


def command(pyz: Path, work: Path, level: int, codec: str, *extra: str) -> list[str]:
    """The device's command line for a dump at ``level`` with ``codec``, before SOURCE and OUTPUT."""
    spec = work / f"filter-d{level}-{codec}.json"
    if not spec.exists():
        spec.write_text(json.dumps({"schema_version": 1, "dump_level": level, "compression": codec,
                                    "format": "kdump"}))  # fmt: skip
    return [PYTHON, *RUNNER[1:], str(pyz), "--quiet", "--spec", str(spec), *extra]
