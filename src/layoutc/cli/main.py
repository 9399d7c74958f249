"""The ``layoutc`` command: verbs, exit codes and printing. No logic lives here.

Exit codes (docs/cli.md): 0 ok/unchanged, 1 invalid input, 2 usage, 3 changed or stale,
4 a runtime check or a dump/lab step failed, 70 internal error (a bug: please report it).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_CHANGED = 3
EXIT_FAILED = 4
EXIT_INTERNAL = 70

# Verbs whose implementation lives in a package that must start without the compiler.
_DELEGATED: dict[str, str] = {"dump": "layoutc.dump.__main__", "lab": "layoutc.lab.verb"}
# Review verbs parse their own arguments (layoutc.review.verbs).
_REVIEW = ("explain", "diff", "map", "estimate")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in _DELEGATED:
        return _delegate(args[0], args[1:])
    try:
        if args and args[0] in _REVIEW:
            from layoutc.review.verbs import main_review

            return main_review(args[0], args[1:])
        parser = _parser()
        try:
            ns = parser.parse_args(args)
        except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
            return int(exc.code or 0)
        handler: Callable[[argparse.Namespace], int] = ns.handler
        return handler(ns)
    except KeyboardInterrupt:
        print("layoutc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception:  # a bug, not bad input: bad input is always a diagnostic
        print("layoutc: internal error (this is a bug; please report it with the input that caused it)",
              file=sys.stderr)
        if os.environ.get("LAYOUTC_DEBUG"):
            traceback.print_exc()
        else:
            print("  rerun with LAYOUTC_DEBUG=1 for the traceback", file=sys.stderr)
        return EXIT_INTERNAL


def _delegate(verb: str, rest: list[str]) -> int:
    import importlib

    module = importlib.import_module(_DELEGATED[verb])
    entry: Callable[[list[str]], int] = module.main
    return entry(rest)


def _parser() -> argparse.ArgumentParser:
    from layoutc import __version__
    from layoutc.cli.verbs import register

    parser = argparse.ArgumentParser(
        prog="layoutc", allow_abbrev=False,
        description="Compile per-board YAML profiles into proven crash-dump memory layouts.",
        epilog="exit codes: 0 ok, 1 invalid input, 2 usage, 3 changed/stale, 4 runtime/dump/lab failure. "
               "More verbs: 'layoutc dump --help', 'layoutc lab --help'. See docs/cli.md.",
    )
    parser.add_argument("--version", action="version", version=f"layoutc {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    register(sub)
    return parser


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
