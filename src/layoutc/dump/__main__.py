"""``layoutc dump``: the command line of the bundled dumper.

Runs as ``python -m layoutc.dump``, as ``layoutc dump`` (the compiler's CLI dispatches here before
importing anything else) and from the zipapp.  It imports nothing from layoutc outside
``layoutc.dump``, so it starts fast and fits a crash initramfs.
"""

from __future__ import annotations

import os
import sys

from layoutc.dump.errors import DumpError, ExitCode, Interrupted

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import NoReturn

USAGE_EPILOG = """\
exit codes: 0 ok; 1 invalid input (bad spec, bad ELF); 2 usage (OUTPUT is the source...);
4 a dump step failed (I/O error, no space, budget not met, SIGTERM/SIGINT/SIGHUP): the output
is then marked INCOMPLETE but readable.
"""


def parser() -> argparse.ArgumentParser:
    """The argument parser; flags override the filter spec."""
    import argparse  # not for the common argument lists (see _fast_args): it costs every dump's start-up

    p = argparse.ArgumentParser(
        prog="layoutc dump",
        allow_abbrev=False,
        epilog=USAGE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write a filtered crash dump (kdump-compressed, ELF or flattened) from an ELF vmcore.",
    )
    p.add_argument("--spec", metavar="FILTER.json", help="filter spec (schemas/filter-spec/v1)")
    p.add_argument(
        "--dump-level",
        type=int,
        metavar="N",
        choices=range(32),
        help="makedumpfile dump level bitmask (default 1: zero pages)",
    )
    p.add_argument("--compress", choices=["zlib", "zstd", "snappy", "lzo", "none"], help="page codec (default zlib)")
    p.add_argument("--format", choices=["kdump", "elf", "flat"], help="output format (default kdump)")
    p.add_argument("--budget", type=_size, metavar="BYTES", help="never write more than this many bytes")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="compressor processes (default 1)")
    io = p.add_mutually_exclusive_group()
    io.add_argument("--mmap", action="store_true", help="read the source through mmap windows")
    io.add_argument("--no-mmap", action="store_true", help="read the source with pread only")
    p.add_argument(
        "--iomem",
        metavar="FILE",
        help="exclude this kernel's System RAM (default /proc/iomem when SOURCE is /proc/vmcore)",
    )
    p.add_argument("--progress", action="store_true", help="show progress even when stderr is not a TTY "
                   "(then one line every few seconds)")
    p.add_argument("--quiet", action="store_true", help="no progress and no summary")
    p.add_argument("--build-zipapp", metavar="OUT.pyz",
                   help="write the crash dumper's zipapp (dump.pyz: the dumper alone, for the crash initramfs) "
                        "and exit")
    p.add_argument("--build-device-zipapp", metavar="OUT.pyz",
                   help="write the running system's zipapp (layoutc-device.pyz: the dumper, the device tree tool and "
                        "layoutc status) and exit")
    p.add_argument("source", nargs="?", metavar="SOURCE", help="ELF vmcore, e.g. /proc/vmcore")
    p.add_argument("output", nargs="?", metavar="OUTPUT", help="output file, '-' for a flattened stream on stdout")
    return p


def _size(text: str) -> int:
    import argparse

    try:
        return _byte_count(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _byte_count(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    scale = units.get(text[-1:].upper(), 1)
    try:
        value = int(text[:-1] if scale > 1 else text, 0) * scale
    except ValueError:
        raise ValueError(f"{text!r} is not a byte count (e.g. 4096, 0x1000, 512M)") from None
    if value < 0:
        raise ValueError(f"{text!r} is negative")
    return value


class Args:
    """The parsed command line: argparse's names and defaults."""

    __slots__ = ("spec", "dump_level", "compress", "format", "budget", "workers", "mmap", "no_mmap", "iomem",
                 "progress", "quiet", "build_zipapp", "build_device_zipapp", "source", "output")
    spec: str | None
    dump_level: int | None
    compress: str | None
    format: str | None
    budget: int | None
    workers: int
    mmap: bool
    no_mmap: bool
    iomem: str | None
    progress: bool
    quiet: bool
    build_zipapp: str | None
    build_device_zipapp: str | None
    source: str | None
    output: str | None

    def __init__(self, **given: object) -> None:
        for name in self.__slots__:
            setattr(self, name, given.pop(name, _DEFAULTS.get(name)))
        if given:
            raise TypeError(f"unknown arguments {sorted(given)}")


_DEFAULTS = {"workers": 1, "mmap": False, "no_mmap": False, "progress": False, "quiet": False}
_FLAGS = {"--mmap": "mmap", "--no-mmap": "no_mmap", "--progress": "progress", "--quiet": "quiet"}
_VALUED = {"--spec", "--dump-level", "--compress", "--format", "--budget", "--workers", "--iomem"}
_CHOICES = {"--compress": ("zlib", "zstd", "snappy", "lzo", "none"), "--format": ("kdump", "elf", "flat")}


def _fast_args(argv: list[str]) -> Args | None:
    """The common command lines, ``[OPTION [VALUE]]... SOURCE OUTPUT`` with each option once and values argparse
    takes as they are, parsed as argparse parses them; None for anything else (help, errors, ``--opt=value``,
    ``--``, a positional first, the zipapp builders), which then goes to argparse."""
    if len(argv) < 2:
        return None
    *options, source, output = argv
    if source.startswith("-") or (output.startswith("-") and output != "-"):
        return None
    given: dict[str, object] = {}
    value: object
    words = iter(options)
    for word in words:
        if word in _FLAGS:
            name, value = _FLAGS[word], True
        elif word in _VALUED:
            text = next(words, None)
            if text is None or text.startswith("-"):
                return None
            name, value = word[2:].replace("-", "_"), _fast_value(word, text)
        else:
            return None
        if value is None or name in given:
            return None
        given[name] = value
    if given.get("mmap") and given.get("no_mmap"):
        return None
    return Args(**given, source=source, output=output)


def _fast_value(option: str, text: str) -> object:
    """``text`` as argparse converts it for ``option``, or None where argparse might answer otherwise."""
    if option in ("--dump-level", "--workers"):
        number = int(text) if text.isascii() and text.isdigit() else None
        return None if number is None or (option == "--dump-level" and number > 31) else number
    if option == "--budget":
        try:
            return _byte_count(text)
        except ValueError:
            return None
    return text if text in _CHOICES.get(option, (text,)) else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the dumper; returns the exit code."""
    words = list(sys.argv[1:] if argv is None else argv)
    args = _fast_args(words)
    if args is None:
        p = parser()
        try:
            args = Args(**vars(p.parse_args(words)))
        except SystemExit as exc:
            return int(exc.code or 0) and ExitCode.USAGE
    out = args.build_zipapp or args.build_device_zipapp
    if out:
        from layoutc.dump.zipapp import CRASH, DEVICE, build

        size = build(out, CRASH if args.build_zipapp else DEVICE)
        print(f"{out}: {size} bytes", file=sys.stderr)
        return ExitCode.OK
    if not args.source or not args.output:
        parser().print_usage(sys.stderr)
        print("layoutc dump: error: SOURCE and OUTPUT are required", file=sys.stderr)
        return ExitCode.USAGE
    return _dump(args, args.source, args.output)


def _dump(args: Args, source: str, output: str) -> int:
    from layoutc.dump import interrupt

    restore = interrupt.install()
    try:
        return _dump_and_report(args, source, output)
    except Interrupted as exc:  # before the output was created: nothing to mark
        print(f"layoutc dump: error: {exc} before the output was written; no output", file=sys.stderr)
        return exc.exit_code
    except DumpError as exc:
        print(f"layoutc dump: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"layoutc dump: error: {exc.filename or source}: {exc.strerror}", file=sys.stderr)
        return ExitCode.DUMP_FAILED if os.path.exists(source) else ExitCode.INVALID_INPUT
    except (MemoryError, RecursionError) as exc:
        print(f"layoutc dump: error: out of memory or stack ({type(exc).__name__}); no output", file=sys.stderr)
        return ExitCode.DUMP_FAILED
    finally:
        restore()


def _dump_and_report(args: Args, source: str, output: str) -> int:
    from layoutc.dump import dumper, interrupt
    from layoutc.dump import filter_spec as spec

    base = spec.load(args.spec) if args.spec else spec.FilterSpec()
    chosen = base.with_overrides(
        dump_level=args.dump_level, compression=args.compress, format=args.format, budget=args.budget
    )
    show = not args.quiet and (args.progress or sys.stderr.isatty())
    opts = dumper.Options(
        source,
        output,
        chosen,
        workers=max(1, args.workers),
        use_mmap=False if args.no_mmap else (True if args.mmap else None),
        progress=sys.stderr if show else None,
        iomem=args.iomem,
    )
    result = dumper.run(opts)
    with interrupt.deferred():  # the dump is settled: a signal now changes nothing
        for note in result.notes:
            print(f"layoutc dump: note: {note}", file=sys.stderr)
        for drop in result.drops:
            print(f"layoutc dump: budget: dropped {drop.pages} pages: {drop.label}", file=sys.stderr)
        if not args.quiet:
            excl = ", ".join(f"{r} {n}" for r, n in result.excluded) or "none"
            print(
                f"layoutc dump: {result.pages_kept} of {result.pages_present} pages kept "
                f"(excluded: {excl}); {result.bytes_written} bytes",
                file=sys.stderr,
            )
        if result.error is not None:
            print(f"layoutc dump: error: {result.error}; the dump is INCOMPLETE", file=sys.stderr)
            return ExitCode.DUMP_FAILED
        return ExitCode.OK


def run(argv: Sequence[str]) -> NoReturn:
    """The zipapp's entry (``layoutc.dump.zipapp.BOOTSTRAP``): :func:`main`, then the process ends at once,
    without the interpreter's teardown of its objects and modules (about 3 ms of every dump, measured in
    bench/dump/RESULTS.md). By then every file is closed, the output published and the workers reaped; only
    the standard streams still hold text, flushed here (a stream that cannot be flushed does not change the
    exit code: the dump is what it was)."""
    code = main(argv)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or gone (EPIPE): nothing more can be said there
            pass
    os._exit(code)


if __name__ == "__main__":
    run(sys.argv[1:])
