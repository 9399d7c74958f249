"""``python -m layoutc.devicetree``: apply an edit to a DTB, verify one, or show one as text.

    apply EDIT.json IN.dtb OUT.dtb   write IN with the edit applied (verified) to OUT, atomically
    verify EDIT.json IN.dtb          check that IN already carries the edit
    show IN.dtb                      print the tree as devicetree source text

Exit codes (the values of docs/cli.md, "Exit codes"): 0 done, 1 an input that cannot be used (a DTB, an
edit, a tree the edit does not fit, a file that cannot be read or written), 2 a usage error. Nothing is
written on error, and never half a file. Standard library only: this runs on devices.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from .dts import to_dts
from .edit import EditError, apply, edit_from_json, verify
from .fdt import MAX_TOTAL_SIZE, parse
from .tree import FdtError

OK, INVALID_INPUT, USAGE = 0, 1, 2
MAX_EDIT_BYTES = 1 << 16


def _read(path: str, limit: int) -> bytes:
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise EditError(f"{path}: larger than {limit} bytes")
    return data


def _load_edit(path: str) -> object:
    try:
        return json.loads(_read(path, MAX_EDIT_BYTES).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise EditError(f"{path}: not JSON: {err}") from None


def write_atomically(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename."""
    target = Path(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or Path("."))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _run(args: argparse.Namespace) -> int:
    if args.verb == "show":
        sys.stdout.write(to_dts(parse(_read(args.dtb, MAX_TOTAL_SIZE))))
        return OK
    edit = edit_from_json(_load_edit(args.edit))
    data = _read(args.dtb, MAX_TOTAL_SIZE)
    if args.verb == "verify":
        problems = verify(data, edit)
        for problem in problems:
            print(f"{args.dtb}: {problem}", file=sys.stderr)
        return INVALID_INPUT if problems else OK
    write_atomically(args.out, apply(data, edit))
    return OK


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m layoutc.devicetree", description=__doc__.split("\n")[0])
    verbs = p.add_subparsers(dest="verb", required=True)
    a = verbs.add_parser("apply", help="apply an edit to a DTB and write the verified result")
    a.add_argument("edit", metavar="EDIT.json")
    a.add_argument("dtb", metavar="IN.dtb")
    a.add_argument("out", metavar="OUT.dtb")
    v = verbs.add_parser("verify", help="check that a DTB carries an edit")
    v.add_argument("edit", metavar="EDIT.json")
    v.add_argument("dtb", metavar="IN.dtb")
    s = verbs.add_parser("show", help="print a DTB as devicetree source text")
    s.add_argument("dtb", metavar="IN.dtb")
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exit_:
        return OK if exit_.code == 0 else USAGE
    try:
        return _run(args)
    except (FdtError, EditError, OSError) as err:
        print(f"layoutc.devicetree: error: {err}", file=sys.stderr)
        return INVALID_INPUT


if __name__ == "__main__":
    sys.exit(main())
