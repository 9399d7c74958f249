"""How the kernel itself splits a command line into parameters (read in mainline, torvalds/linux 0ea09083116d).

``parse_args`` is kernel/params.c ``parse_args`` over lib/cmdline.c ``next_arg``:

* leading spaces are skipped; a word ends at the first space outside double quotes (``isspace``,
  lib/ctype.c: space, \\t, \\n, \\v, \\f, \\r -- and byte 0xa0, which is why non-ASCII text is refused
  before it gets here);
* a double quote toggles "inside quotes" wherever it appears; there are no escapes;
* the name ends at the first ``=`` (an ``=`` in the very first position does not count: ``equals``
  is an index and 0 means "none"); a value that starts with ``"`` loses it, and then the word's
  last character is dropped if it is ``"``; a word that starts with ``"`` loses that quote and
  its last character likewise;
* a bare ``--`` ends the kernel's parameters: the rest is init's argv (init/main.c).

Names compare with ``parameq`` (kernel/params.c): ``-`` and ``_`` are the same character.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KERNEL_SPACES = " \t\n\v\f\r"  # lib/ctype.c _S in the ASCII range
_MEMPARSE_RE = re.compile(r"^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)([KMGTPEkmgtpe]?)")
_SHIFTS = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}
_ULLONG_MAX = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter as the kernel sees it: ``name`` and ``value`` (None for a flag), quotes removed."""

    name: str
    value: str | None
    raw: str  # the word as written, quotes included
    offset: int  # where the word starts in the text

    @property
    def key(self) -> str:
        """The name as ``parameq`` compares it (dash2underscore)."""
        return canonical_name(self.name)


@dataclass(frozen=True, slots=True)
class ParsedCmdline:
    params: tuple[Param, ...]
    init_args: str | None  # the text after a bare "--" (init's argv), None when there is none
    init_offset: int  # where that "--" starts
    unclosed_quote: bool  # the last word opened a double quote that the text never closes


def canonical_name(name: str) -> str:
    return name.replace("-", "_")


def _skip_spaces(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in KERNEL_SPACES:
        pos += 1
    return pos


def _until_nul(buf: list[str], start: int) -> str:
    out = []
    for ch in buf[start:]:
        if ch == "\0":
            break
        out.append(ch)
    return "".join(out)


def next_arg(text: str, pos: int) -> tuple[Param, int, bool]:
    """lib/cmdline.c next_arg() from ``pos`` (not a space): the parameter, the next position, and
    whether a double quote was left open at the end of the word."""
    start = pos
    quoted = text.startswith('"', pos)
    if quoted:
        pos += 1
    in_quote, equals, i = quoted, 0, 0
    while pos + i < len(text):
        ch = text[pos + i]
        if ch in KERNEL_SPACES and not in_quote:
            break
        if equals == 0 and ch == "=":
            equals = i
        if ch == '"':
            in_quote = not in_quote
        i += 1
    buf = list(text[pos : pos + i]) + ["\0"]
    value_at: int | None = None
    if equals:
        buf[equals] = "\0"
        value_at = equals + 1
        if buf[value_at] == '"':
            value_at += 1
            if buf[i - 1] == '"':
                buf[i - 1] = "\0"
    if quoted and i > 0 and buf[i - 1] == '"':
        buf[i - 1] = "\0"
    value = None if value_at is None else _until_nul(buf, value_at)
    param = Param(_until_nul(buf, 0), value, text[start : pos + i], start)
    after = pos + i + 1 if pos + i < len(text) else pos + i
    return param, _skip_spaces(text, after), in_quote


def parse_args(text: str) -> ParsedCmdline:
    """kernel/params.c parse_args(): every parameter up to a bare ``--``."""
    params: list[Param] = []
    pos = _skip_spaces(text, 0)
    unclosed = False
    while pos < len(text):
        param, nxt, unclosed = next_arg(text, pos)
        if param.value is None and param.name == "--":
            return ParsedCmdline(tuple(params), text[nxt:], param.offset, unclosed)
        params.append(param)
        pos = nxt
    return ParsedCmdline(tuple(params), None, len(text), unclosed)


def memparse(text: str, *, wrap: bool = True) -> tuple[int, str] | None:
    """LNX:lib/cmdline.c memparse (read at v6.1 and v7.2): a C number and an optional size suffix.

    The number is ``simple_strtoull(ptr, &end, 0)`` (LNX:lib/vsprintf.c simple_strntoull over
    LNX:lib/kstrtox.c _parse_integer_fixup_radix): ``0x`` followed by a hex digit is hex, any other
    leading ``0`` is octal (``010`` is 8, ``09`` is 0 followed by ``9``), otherwise decimal; no sign,
    no spaces, no ``_``. It stops at the first character that is not a digit of its base. One suffix
    ``K M G T P E`` in either case (``k`` as well as ``K``) multiplies by 2**10 .. 2**60. The value is an
    ``unsigned long long``: an overflowing number or shift wraps modulo 2**64, as in C (``wrap=False``
    keeps the exact value, for a caller that reports an out-of-range size instead of using it).

    Returns ``(value, rest)`` with ``rest`` the text after what was read, or None when ``text`` does not
    start with a digit (the kernel returns 0 with ``*retptr == ptr``, which its callers treat as "no
    number"). This is the one reader of kernel sizes: ``model.units.parse_size`` (the profile's
    stricter spelling), the importer and the lab use it.
    """
    match = _MEMPARSE_RE.match(text)
    if match is None:
        return None
    number, suffix = match.groups()
    if number.lower().startswith("0x"):
        value = int(number, 16)
    elif number.startswith("0") and len(number) > 1:  # C octal, as simple_strtoull reads it
        value = int(number, 8)
    else:
        value = int(number)
    value <<= _SHIFTS[suffix.lower()]
    return (value & _ULLONG_MAX if wrap else value), text[match.end() :]


def memparse_whole(text: str, *, wrap: bool = True) -> int | None:
    """``memparse`` of a whole word: the value when nothing follows the number and its suffix, else None.

    What a kernel parser that rejects trailing characters sees (e.g. LNX:kernel/crash_reserve.c
    parse_crashkernel_simple refuses any character but ``@``, space or the end after the size).
    """
    parsed = memparse(text, wrap=wrap)
    if parsed is None or parsed[1]:
        return None
    return parsed[0]
