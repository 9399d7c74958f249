"""The arguments of the verbs the ``layoutc`` parser parses itself (standard library only).

One function per verb, named after it; ``cli/registry.py`` names them in its table. Verbs that parse
their own arguments (``dump``, ``lab`` and the review verbs) have none here.
"""

from __future__ import annotations

import argparse

STRATEGIES = ("pmem-movable", "pmem-hotplug", "cma", "cma-disk", "classic-disk", "cma-hotplug")


def format_flag(parser: argparse.ArgumentParser) -> None:
    """``--format text|json``: where diagnostics go."""
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="diagnostics as text on stderr (default) or JSON on stdout")


def check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="profile file or directory (recursive)")
    format_flag(parser)
    parser.add_argument("--no-solve", action="store_true", help="check shape and meaning only; by default "
                        "every concrete profile is also solved, which catches every error compile would")
    parser.add_argument("--solve", action="store_true", help=argparse.SUPPRESS)  # the default; scripts pass it


def compile_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH",
                        help="profile file or directory (recursive; abstract files skipped)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="output directory")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 3 when OUT is stale")
    parser.add_argument("--summary", action="store_true", help="also write OUT/summary.txt and OUT/summary.md: "
                        "one table of every board (RAM, strategy, window, guard, armed overhead, warnings)")
    format_flag(parser)


def schema_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("family", nargs="?", default="profile", choices=("profile", "layout", "filter-spec"))
    parser.add_argument("--format", choices=("json", "markdown"), default="json")


def import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sysinfo", metavar="SYSINFO")
    parser.add_argument("--board", required=True, help="board name for the profile")
    parser.add_argument("--strategy", default="pmem-movable", choices=STRATEGIES,
                        help="crash design (default: pmem-movable)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the profile here (default: stdout)")
    format_flag(parser)


def probe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--raw", metavar="DIR", help="write the raw captures (the layout import reads)")
    parser.add_argument("--root", default="/", help=argparse.SUPPRESS)
    format_flag(parser)


def codes_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("markdown", "json"), default="markdown",
                        help="the Markdown table (docs/diagnostics.md; default) or JSON")


def completion_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=("bash", "zsh", "fish"), metavar="SHELL", help="bash, zsh or fish")


def man_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no arguments: the page is the same everywhere


def install_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("profile", nargs="?", metavar="PROFILE", help="the board's profile (compiled first)")
    parser.add_argument("--from", dest="compiled", metavar="DIR",
                        help="lay an already compiled board (OUT, or OUT/<board> of a fleet) instead")
    parser.add_argument("--root", required=True, metavar="DIR",
                        help="the installed system's / (an image tree, or / on the device itself)")
    parser.add_argument("--uninstall", action="store_true",
                        help="remove exactly what the root's install manifest lists")
    parser.add_argument("--force", action="store_true",
                        help="replace or remove files that are not layoutc's or that changed since the install")
    parser.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    parser.add_argument("--preset", action="store_true",
                        help="write a systemd preset file instead of the units' enablement links")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="a report as text (default) or JSON on stdout")
