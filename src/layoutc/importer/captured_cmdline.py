"""The captured kernel cmdline: split like the kernel does, layout parameters recognised.

Splitting follows lib/cmdline.c ``next_arg``: parameters are separated by spaces, and double
quotes protect spaces (``opt="a b"``). Layout parameters (``movablecore=``, ``kernelcore=``,
``memmap=``, ``crashkernel=``, ...) are layoutc's to choose, so they are taken out of the
board's cmdline and their effect on the captured map is undone by ``board``. ``memmap=``
entries are parsed per arch/x86/kernel/e820.c ``parse_memmap_one``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.frontend.cmdline_rules import OWNED_PARAMS
from layoutc.importer import parse_report as report
from layoutc.kernel.params import memparse

DROPPED = ("BOOT_IMAGE",)  # set by the boot loader, not by the board
# Layout parameters: the solver emits them per boot stage (OWNED_PARAMS is the LC210 list of cmdline_rules).
LAYOUT_PARAMS = tuple(sorted(set(OWNED_PARAMS)))


@dataclass(frozen=True, slots=True)
class MemmapEdit:
    """One ``memmap=`` entry. op: '!' '$' '#' '@' (typed range), 'limit', 'exactmap' or '%'."""

    op: str
    start: int | None
    size: int | None
    text: str


@dataclass(frozen=True, slots=True)
class Cmdline:
    """The captured cmdline split into what the board keeps and what layoutc owns."""

    board: tuple[str, ...]
    layout: tuple[str, ...]
    dropped: tuple[str, ...]
    memmap: tuple[MemmapEdit, ...]
    mem_limit: str | None  # mem= value, kept on the board cmdline but it truncates RAM

    @property
    def board_text(self) -> str:
        return " ".join(self.board)


def split_cmdline(text: str) -> list[str] | None:
    """Split like next_arg(): spaces separate, double quotes group. None on an unterminated quote."""
    tokens: list[str] = []
    current = ""
    quoted = False
    for char in text.strip():
        if char == '"':
            quoted = not quoted
            current += char
        elif char.isspace() and not quoted:
            if current:
                tokens.append(current)
            current = ""
        else:
            current += char
    if quoted:
        return None
    if current:
        tokens.append(current)
    return tokens


def parse_memmap(value: str) -> list[MemmapEdit] | None:
    """Parse one memmap= value (comma-separated entries). None when an entry is malformed."""
    edits: list[MemmapEdit] = []
    for entry in value.split(","):
        if entry == "exactmap":
            edits.append(MemmapEdit("exactmap", None, None, entry))
            continue
        head = memparse(entry)
        if head is None:
            return None
        size, rest = head
        if rest == "":
            edits.append(MemmapEdit("limit", None, size, entry))
            continue
        op, rest = rest[0], rest[1:]
        if op == "%":
            edits.append(MemmapEdit("%", None, size, entry))
            continue
        start = memparse(rest)
        if op not in "@#$!" or start is None or start[1] != "":
            return None
        edits.append(MemmapEdit(op, start[0], size, entry))
    return edits


def parse_cmdline(text: str, display: str, diags: Diagnostics, extra: tuple[str, ...] = ()) -> Cmdline | None:
    """Split the captured cmdline; report an unterminated quote or a malformed memmap= entry.

    ``extra`` names more layout parameters for the board's arch (arm64: ``mem=``, ``cma=``)."""
    tokens = split_cmdline(text)
    if tokens is None:
        report.error(
            diags,
            "LC408",
            f"unterminated double quote in the cmdline: '{report.shown(text.strip())}'",
            file=display,
            line=1,
            col=text.rfind('"') + 1,
            value=text.strip(),
            hint="the kernel groups text between double quotes; close the quote",
        )
        return None
    board: list[str] = []
    layout: list[str] = []
    dropped: list[str] = []
    memmap: list[MemmapEdit] = []
    mem_limit: str | None = None
    ok = True
    for at, token in enumerate(tokens):
        if token == "--":  # the rest goes to init, not to the kernel (init/main.c)
            board.extend(tokens[at:])
            break
        name, _, value = token.partition("=")
        if name in DROPPED:
            dropped.append(token)
        elif name in LAYOUT_PARAMS or name in extra:
            layout.append(token)
            if name == "memmap":
                edits = parse_memmap(value)
                if edits is None:
                    report.error(
                        diags,
                        "LC408",
                        f"malformed memmap= entry: '{token}'",
                        file=display,
                        line=1,
                        col=text.find(token) + 1,
                        value=token,
                        hint="memmap=SIZE[@#$!]START, memmap=SIZE, memmap=exactmap "
                            "(docs/reference/kernel-rules.md §3.1)",
                    )
                    ok = False
                else:
                    memmap.extend(edits)
        else:
            board.append(token)
            if name == "mem":
                mem_limit = value
    if not ok:
        return None
    return Cmdline(tuple(board), tuple(layout), tuple(dropped), tuple(memmap), mem_limit)


KERNEL_VERSION_RE = re.compile(r"^([0-9]+)\.([0-9]+)(?:\.([0-9]+))?")


def kernel_version(release: str) -> str | None:
    """The profile's kernel.version from a release string: '7.2.13+deb14-amd64' -> '7.2.13'."""
    match = KERNEL_VERSION_RE.match(release.strip())
    if match is None:
        return None
    major, minor, patch = match.groups()
    return f"{major}.{minor}" + (f".{patch}" if patch is not None else "")
