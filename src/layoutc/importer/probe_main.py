"""``python -m layoutc.importer.probe_main --raw DIR``: ``layoutc probe --raw DIR`` without the compiler.

The ``layoutc`` command's parser (``layoutc.cli.verbs``) imports the profile model, and this package's
``__init__`` imports the importer (``emit`` → ``elaborate`` → PyYAML). Probing itself needs neither: this
entry imports only ``probe``, ``capture`` and their parsers (stdlib only), so it runs with a bare interpreter
(the lab's guest ships it as a zipapp, ``layoutc.lab.image.probezip``). Same reading code, same raw files, same exit
codes as ``layoutc probe --raw DIR`` (0 ok, 1 /proc/iomem unreadable, 4 the files could not be written).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from layoutc.diagnostics.diagnostic import Diagnostics, render_text
from layoutc.importer.capture import raw_files
from layoutc.importer.probe import probe
from layoutc.writer.tree import OutputError, OutputFile, write_tree


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="probe_main", description="layoutc probe --raw DIR (stdlib only)")
    parser.add_argument("--raw", metavar="DIR", required=True, help="write the raw captures here")
    parser.add_argument("--root", default="/", help=argparse.SUPPRESS)
    ns = parser.parse_args(argv)
    diags = Diagnostics()
    info = probe(Path(ns.root), diags)
    if len(diags):
        sys.stderr.write(render_text(diags))
    if info is None:
        return 1
    try:
        write_tree(Path(ns.raw), [OutputFile(name, data) for name, data in sorted(raw_files(info).items())])
    except OutputError as exc:
        print(f"layoutc: {exc}", file=sys.stderr)
        return 4
    return 0


if __name__ == "__main__":
    sys.exit(main())
