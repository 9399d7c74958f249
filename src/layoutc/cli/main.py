"""The ``layoutc`` command: argv → verb → exit code. No logic lives here.

The verbs are the table of ``cli/registry.py``; the exit codes are ``layoutc.dump.exit_codes.ExitCode``
(docs/cli.md): 0 ok/unchanged, 1 invalid input, 2 usage, 3 changed or stale, 4 a runtime check or a
dump/lab step failed, 70 internal error (a bug: please report it).
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence

from layoutc.cli.registry import Calling, Verb, build_parser, verb_named
from layoutc.dump.exit_codes import ExitCode


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    verb = verb_named(args[0]) if args else None
    if verb is not None and verb.calling is Calling.STANDALONE:  # starts without the compiler
        return int(verb.load_entry()(args[1:]))
    try:
        if verb is not None and verb.calling is Calling.VERB_ARGV:
            return int(verb.load_entry()(verb.name, args[1:]))
        return _parse_and_run(args)
    except KeyboardInterrupt:
        print("layoutc: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        return ExitCode.OK
    except Exception:  # a bug, not bad input: bad input is always a diagnostic
        print("layoutc: internal error (this is a bug; please report it with the input that caused it)",
              file=sys.stderr)
        if os.environ.get("LAYOUTC_DEBUG"):
            traceback.print_exc()
        else:
            print("  rerun with LAYOUTC_DEBUG=1 for the traceback", file=sys.stderr)
        return ExitCode.INTERNAL


def _parse_and_run(args: list[str]) -> int:
    from layoutc import __version__

    try:
        ns = build_parser(__version__).parse_args(args)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    verb: Verb = ns.registered_verb
    return int(verb.load_entry()(ns))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
