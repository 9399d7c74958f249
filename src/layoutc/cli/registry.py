"""The verb registry of ``layoutc``: one table of every verb, from which the parser is built.

Standard library only, so that ``layoutc dump`` and ``layoutc lab`` start without importing the
compiler: a verb's code is named by ``module:function`` and imported only when that verb runs.
"""

from __future__ import annotations

import argparse
import enum
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from layoutc.cli import arguments

EPILOG = ("exit codes: 0 ok, 1 invalid input, 2 usage, 3 changed/stale, 4 runtime/dump/lab failure. "
          "More verbs: 'layoutc dump --help', 'layoutc lab --help'. See docs/cli.md.")


class Calling(enum.Enum):
    """How a verb's entry is called."""

    NAMESPACE = "namespace"  # entry(ns) after the ``layoutc`` parser parsed the verb's arguments
    VERB_ARGV = "verb-argv"  # entry(verb, argv): parses its own arguments, inside the CLI's error handling
    STANDALONE = "standalone"  # entry(argv): a program of its own (own parser, own errors, no compiler)


@dataclass(frozen=True, slots=True)
class Verb:
    """One verb: its name, its one-line help, its arguments and the code that runs it."""

    name: str
    help: str | Callable[[str], str]  # a text, or a function of the verb's name that returns it
    entry: str  # "module:function", imported when the verb runs
    calling: Calling = Calling.NAMESPACE
    description: str | None = None
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    own_parser: str | None = None  # "module:function" of the parser of a verb that parses its own arguments

    def full_parser(self) -> argparse.ArgumentParser | None:
        """The parser of a verb that parses its own arguments (for completions and the man page)."""
        if self.own_parser is None:
            return None
        module_name, function = self.own_parser.split(":")
        make = getattr(importlib.import_module(module_name), function)
        found: argparse.ArgumentParser = make(self.name) if self.calling is Calling.VERB_ARGV else make()
        return found

    def help_text(self) -> str:
        return self.help if isinstance(self.help, str) else self.help(self.name)

    def load_entry(self) -> Callable[..., int]:
        module_name, function = self.entry.split(":")
        found: Callable[..., int] = getattr(importlib.import_module(module_name), function)
        return found


def _initramfs_arguments(parser: argparse.ArgumentParser) -> None:
    from layoutc.cli.initramfs import initramfs_arguments

    initramfs_arguments(parser)


def _review_help(verb: str) -> str:
    from layoutc.review.verbs import DESCRIPTIONS

    return DESCRIPTIONS[verb]


def _review(name: str) -> Verb:
    return Verb(name, _review_help, "layoutc.review.verbs:main_review", Calling.VERB_ARGV,
                own_parser="layoutc.review.verbs:parser")


VERBS: tuple[Verb, ...] = (
    Verb("check", "validate profiles (files or directories) and report every problem", "layoutc.cli.verbs:cmd_check",
         description="Load, layer, schema-check and meaning-check profiles. Abstract family bases are checked "
         "too. Exit 0 when valid, 1 when not.", add_arguments=arguments.check_arguments),
    Verb("compile", "solve profiles and write their artifacts", "layoutc.cli.verbs:cmd_compile",
         description="Compile PATH (a profile, or a directory of profiles: OUT/<board>/...) into OUT, plus "
         "OUT/manifest.json. Writes atomically and only changed files; writes nothing when any profile is "
         "invalid.", add_arguments=arguments.compile_arguments),
    Verb("install", "lay a board's compiled files into a root (an image tree, or / on the device)",
         "layoutc.cli.install:cmd_install",
         description="Compile PROFILE (or take the compiled board --from DIR, checked against its compile "
         "manifest and its profile) and lay every file at its installed path below --root, the units enabled; "
         "record it in /var/lib/layoutc/manifest.json. A second run changes nothing; --uninstall removes what "
         "the manifest lists. Never writes outside the root; all or nothing. See docs/install.md.",
         add_arguments=arguments.install_arguments),
    Verb("schema", "print a bundled schema (profile, layout, filter-spec)", "layoutc.cli.verbs:cmd_schema",
         description="Print a bundled JSON Schema as JSON, or the profile reference as Markdown (--format "
         "markdown; this is docs/profile-reference.md).", add_arguments=arguments.schema_arguments),
    Verb("import", "turn a device's memory map (probe JSON or raw captures) into a profile",
         "layoutc.cli.verbs:cmd_import",
         description="Read SYSINFO (probe's JSON, or a directory with iomem, lsmem.json|lsmem.txt, "
         "block_size_bytes, cmdline, uname-r, zoneinfo, dmesg, fdt.dtb) and write a v1 profile. Layout "
         "parameters on the captured cmdline are undone.", add_arguments=arguments.import_arguments),
    Verb("probe", "read this machine's memory map (run on the device)", "layoutc.cli.verbs:cmd_probe",
         description="Read /proc/iomem, lsmem, block_size_bytes, /proc/cmdline, uname -r, /proc/zoneinfo, "
         "dmesg and /sys/firmware/fdt. Print SysInfo JSON, or write raw captures with --raw DIR.",
         add_arguments=arguments.probe_arguments),
    Verb("initramfs", "build a board's crash initramfs from a device's root, and check that it fits",
         "layoutc.cli.initramfs:cmd_initramfs",
         description="Build the crash initramfs of PROFILE (or a compiled OUT/BOARD) for kernel KVER from the "
         "device's files under --root: busybox, python3 with the stdlib the dumper imports, the dumper, the "
         "tools capture.sh runs, the needed modules of /lib/modules/KVER. Prints its sizes against the "
         "reservation; exit 1 with LC530 (nothing written) when it does not fit. See docs/initramfs.md.",
         add_arguments=_initramfs_arguments),
    Verb("codes", "list every diagnostic code with its rule", "layoutc.cli.verbs:cmd_codes",
         description="Print the table of diagnostic codes (docs/diagnostics.md).",
         add_arguments=arguments.codes_arguments),
    Verb("completion", "print the shell completion script (bash, zsh, fish)", "layoutc.cli.shell:cmd_completion",
         description="Print the completion script of SHELL on stdout; the wheel also installs them.",
         add_arguments=arguments.completion_arguments),
    Verb("man", "print the manual page (roff)", "layoutc.cli.shell:cmd_man",
         description="Print layoutc(1) as roff on stdout ('layoutc man | man -l -'); the wheel also installs it.",
         add_arguments=arguments.man_arguments),
    _review("explain"),
    _review("diff"),
    _review("map"),
    _review("estimate"),
    Verb("dump", "write a filtered crash dump from /proc/vmcore or an ELF vmcore (see 'layoutc dump --help')",
         "layoutc.dump.__main__:main", Calling.STANDALONE, own_parser="layoutc.dump.__main__:parser"),
    Verb("lab", "boot the compiled layout in real kernels under QEMU and compare (see 'layoutc lab --help')",
         "layoutc.lab.verb:main", Calling.STANDALONE, own_parser="layoutc.lab.verb:build_parser"),
    Verb("status", "this device's crash-dump state against its installed layout (run on the device)",
         "layoutc.status.__main__:main", Calling.STANDALONE, own_parser="layoutc.status.__main__:parser"),
)


def verb_named(name: str) -> Verb | None:
    """The registered verb called ``name``, if any."""
    return next((v for v in VERBS if v.name == name), None)


def build_parser(version: str, verbs: Sequence[Verb] = VERBS) -> argparse.ArgumentParser:
    """The ``layoutc`` parser; a verb that parses its own arguments gets a placeholder without ``--help``."""
    parser = argparse.ArgumentParser(
        prog="layoutc", allow_abbrev=False,
        description="Compile per-board YAML profiles into proven crash-dump memory layouts.", epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"layoutc {version}")
    sub: Any = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb in verbs:
        if verb.calling is not Calling.NAMESPACE:
            sub.add_parser(verb.name, help=verb.help_text(), add_help=False)
            continue
        verb_parser = sub.add_parser(verb.name, help=verb.help_text(), description=verb.description)
        if verb.add_arguments is not None:
            verb.add_arguments(verb_parser)
        verb_parser.set_defaults(registered_verb=verb)
    return parser
