"""A makedumpfile-compatible front end of the dumper: makedumpfile's spelling in, ``layoutc dump`` run.

A distribution's kdump stack calls its collector with makedumpfile's arguments (docs/distributions.md;
docs/reference/sources.md §13.1, §13.2):

- kdump-tools: ``makedumpfile $MAKEDUMP_ARGS /proc/vmcore`` with ``-F`` (a flattened stream on stdout,
  which it pipes into the dump file), or ``... /proc/vmcore FILE`` in older releases;
- kdump-utils: ``$core_collector /proc/vmcore <path>/vmcore-incomplete`` (``-F`` and stdout for ssh and
  raw targets), with ``--num-threads=N`` appended when the collector's name holds "makedumpfile".

Run as ``PYTHONPATH=dump.pyz python3 -m layoutc.dump.makedumpfile_compat [--spec FILTER.json] ARGS``.
It accepts exactly what those callers pass (``-d``, ``-c``/``-l``/``-p``/``-z``, ``-E``, ``-F``,
``-L``, ``--message-level``, ``--num-threads``) and the memory knobs makedumpfile has and layoutc's
dumper does not need (accepted, ignored); anything else is a usage error (exit 2): ``--dump-dmesg``
belongs to the distribution's makedumpfile, which the wrapper calls for it. Like makedumpfile, no
compression flag means pages are stored raw. Standard library only; imports nothing of the compiler.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from layoutc.dump.errors import ExitCode

COMPRESSION = {"-c": "zlib", "-l": "lzo", "-p": "snappy", "-z": "zstd"}
VALUED = {"-d", "-L", "--message-level", "--num-threads", "--cyclic-buffer", "--splitblock-size", "--work-dir",
          "--spec"}
IGNORED = {"--message-level", "--cyclic-buffer", "--splitblock-size", "--work-dir"}
PROG = "layoutc makedumpfile"


class Usage(Exception):
    """An argument this front end does not take."""


def _split(argv: Sequence[str]) -> tuple[dict[str, str], list[str], list[str]]:
    """Options with values, flags in order, positionals; ``-d31`` and ``--opt=value`` spellings too."""
    values: dict[str, str] = {}
    flags: list[str] = []
    positional: list[str] = []
    items = list(argv)
    while items:
        arg = items.pop(0)
        name, eq, inline = arg.partition("=")
        if arg.startswith("--") and name in VALUED:
            if not eq:
                if not items:
                    raise Usage(f"{name} needs a value")
                inline = items.pop(0)
            values[name] = inline
        elif arg.startswith("-") and not arg.startswith("--") and arg[:2] in VALUED:
            value = arg[2:] or (items.pop(0) if items else "")
            if not value:
                raise Usage(f"{arg[:2]} needs a value")
            values[arg[:2]] = value
        elif arg.startswith("-") and arg != "-":
            flags.extend(_short_flags(arg))
        else:
            positional.append(arg)
    return values, flags, positional


def _short_flags(arg: str) -> list[str]:
    if arg.startswith("--"):
        raise Usage(f"{arg} is not an option this front end takes (docs/distributions.md)")
    out = [f"-{c}" for c in arg[1:]]  # makedumpfile's getopt bundles flags: -cF
    for flag in out:
        if flag not in COMPRESSION and flag not in {"-E", "-F"}:
            raise Usage(f"{flag} is not an option this front end takes (docs/distributions.md)")
    return out


def translate(argv: Sequence[str]) -> list[str]:
    """The ``layoutc dump`` argv equivalent to makedumpfile ``argv``; raises Usage."""
    values, flags, positional = _split(argv)
    codecs = [COMPRESSION[f] for f in flags if f in COMPRESSION]
    if len(set(codecs)) > 1:
        raise Usage(f"more than one compression flag: {' '.join(f for f in flags if f in COMPRESSION)}")
    flat, elf = "-F" in flags, "-E" in flags
    if flat and elf:
        raise Usage("-E with -F (a flattened ELF) is not written by layoutc's dumper")
    if len(positional) != (1 if flat else 2):
        want = "VMCORE (with -F: the dump goes to stdout)" if flat else "VMCORE DUMPFILE"
        raise Usage(f"expected {want}, got {len(positional)} file argument(s)")
    out = ["--spec", values["--spec"]] if "--spec" in values else []
    if "-d" in values:
        level = values["-d"].split(",")[0]  # a list moves on only when -L or the disk is full
        if not level.isdigit() or int(level) > 31:
            raise Usage(f"-d {values['-d']}: the dump level is 0-31")
        out += ["--dump-level", level]
    out += ["--compress", codecs[0] if codecs else "none", "--format", "flat" if flat else "elf" if elf else "kdump"]
    if "-L" in values:
        out += ["--budget", values["-L"]]
    if "--num-threads" in values:
        if not values["--num-threads"].isdigit():
            raise Usage(f"--num-threads {values['--num-threads']}: a count of threads")
        out += ["--workers", values["--num-threads"]]
    return [*out, positional[0], "-" if flat else positional[1]]


def main(argv: Sequence[str] | None = None) -> int:
    """Translate and run the dumper; exit codes are the dumper's (2 for a usage error)."""
    given = list(sys.argv[1:] if argv is None else argv)
    try:
        translated = translate(given)
    except Usage as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    from layoutc.dump.__main__ import main as dump_main

    return dump_main(translated)


if __name__ == "__main__":
    sys.exit(main())
