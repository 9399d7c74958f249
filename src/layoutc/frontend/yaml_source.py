"""The only YAML reader: a strict, position-keeping loader for profiles.

It reads YAML 1.2 "core schema" values and refuses what surprises people in YAML 1.1
(``yes``/``on`` booleans, ``0755`` octal, merge keys), tags (no object construction, ever),
duplicate keys, multi-document files, deep nesting and alias bombs. Every value keeps the
position it came from, so later stages can point at ``file:line:col``.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from layoutc.diagnostics.diagnostic import Diagnostics, Span

MAX_FILE_BYTES = 1 << 20
MAX_DEPTH = 32
MAX_NODES = 20_000

Key = tuple[str | int, ...]

_NULLS = {"", "~", "null", "Null", "NULL"}
_TRUES = {"true", "True", "TRUE"}
_FALSES = {"false", "False", "FALSE"}
# YAML 1.1's bool regexp (yaml.org/type/bool.html) in the three cases it lists, as PyYAML resolves them: "nO" or
# "oN" are strings in 1.1 too (found by hypothesis: safe_dump writes nO unquoted). y/n are left out like PyYAML.
_YAML11_BOOLS = {f(w) for w in ("yes", "no", "on", "off") for f in (str.lower, str.capitalize, str.upper)}
_INT_RE = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")
_LEADING_ZERO_RE = re.compile(r"^[-+]?0[0-9_]+$")
_HEX_RE = re.compile(r"^0x[0-9a-fA-F]+$")
# Only the floats YAML 1.1 and 1.2 agree on (a dot, a signed exponent); profiles hold no floats anyway.
_FLOAT_RE = re.compile(r"^[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+][0-9]+)?$")
# C0 controls but tab, LF and CR; DEL; C1 controls (U+0085 NEL is a line break to PyYAML).
_BAD_CHARS_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")
# Unicode categories that hide, reorder or split text: format characters (bidi embeddings,
# overrides and isolates, zero-width characters, U+FEFF, tag characters), line and paragraph
# separators, and every space but U+0020 (U+00A0 is a space to the kernel's isspace(), Latin-1).
HIDDEN_CATEGORIES = frozenset({"Cf", "Zl", "Zp", "Zs"})
RULE_PLAIN_TEXT = ("profiles are plain text: no format characters (bidi controls, zero-width characters), "
                   "no Unicode line or paragraph separators, no spaces but U+0020")

# libyaml's parser when PyYAML was built with it (several times faster); same events, same marks.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

RULE_SAFE_YAML = "profiles are strict YAML 1.2: no tags, no duplicate keys, one document"


@dataclass(frozen=True)
class Document:
    """A loaded YAML file: plain data plus the position of every value and every key."""

    file: str
    data: Any
    value_spans: Mapping[Key, Span]
    key_spans: Mapping[Key, Span]

    def span(self, path: Key) -> Span:
        """The closest known position for ``path`` (walking up to the parent when needed)."""
        probe = tuple(path)
        while probe:
            if probe in self.value_spans:
                return self.value_spans[probe]
            probe = probe[:-1]
        return self.value_spans.get((), Span(self.file, 1, 1))

    def key_span(self, path: Key) -> Span:
        return self.key_spans.get(tuple(path)) or self.span(path)


class _Abort(Exception):
    """Raised inside the builder to stop at the first structural problem."""


def load(path: Path, display: str, diags: Diagnostics) -> Document | None:
    """Read ``path`` as a profile document. Returns None (with diagnostics) when it cannot."""
    raw = read_profile_bytes(path, display, diags)
    return None if raw is None else loads(raw, display, diags)


def read_profile_bytes(path: Path, display: str, diags: Diagnostics) -> bytes | None:
    """The bytes of a regular file of at most ``MAX_FILE_BYTES``; None (with a diagnostic) otherwise.

    The file is checked with stat() before it is opened, and opened with O_NONBLOCK and checked
    again with fstat(), so a FIFO (or one swapped in between the two) can never block the read.
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        _unreadable(exc, display, diags)
        return None
    if stat.S_ISDIR(info.st_mode):
        diags.error("LC002", f"{display} is a directory, not a profile", span=None, value=display,
                    hint="pass a profile file, or use 'layoutc compile DIR' to compile a directory")
        return None
    if not stat.S_ISREG(info.st_mode):
        _not_regular(info.st_mode, display, diags)
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        _unreadable(exc, display, diags)
        return None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            _not_regular(mode, display, diags)
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        _unreadable(exc, display, diags)
        return None
    finally:
        os.close(fd)
    if len(raw) > MAX_FILE_BYTES:
        diags.error("LC003", f"file is larger than {MAX_FILE_BYTES // 1024} KiB; a profile is a few KiB",
                    span=Span(display, 1, 1), hint="is this the right file?")
        return None
    return raw


def _unreadable(exc: OSError, display: str, diags: Diagnostics) -> None:
    if exc.errno == errno.ENOENT:
        diags.error("LC001", f"no such file: {display}", span=None, path="", value=display,
                    hint="check the path; profiles usually live in profiles/")
    elif exc.errno == errno.ELOOP:
        diags.error("LC001", f"symbolic link loop: {display}", value=display,
                    rule="a profile path must lead to a file through at most 40 symbolic links",
                    hint="point the link at the profile file itself")
    else:
        diags.error("LC001", f"cannot read {display}: {exc.strerror}", value=display,
                    hint="check the path and its permissions")


_FILE_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
               (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def _not_regular(mode: int, display: str, diags: Diagnostics) -> None:
    kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
    diags.error("LC007", f"{display} is {kind}, not a profile file", value=display,
                rule="profiles are regular files (layoutc never reads pipes, sockets or devices)",
                hint="pass the profile file itself")


def loads(raw: bytes, display: str, diags: Diagnostics) -> Document | None:
    """Parse profile bytes; ``display`` names the file in diagnostics."""
    text = _decode(raw, display, diags)
    if text is None:
        return None
    if not _prescan(text, display, diags):
        return None
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:  # pragma: no cover - prescan parses the same text
        _syntax_error(exc, display, diags)
        return None
    if root is None:
        diags.error("LC019", "the file is empty", span=Span(display, 1, 1),
                    hint="start from a bundled profile, e.g. profiles/qemu/qemu-4g.yaml")
        return None
    builder = _Builder(display, diags)
    try:
        data = builder.build(root, ())
    except _Abort:
        return None
    if diags.has_errors:
        return None
    return Document(display, data, builder.value_spans, builder.key_spans)


def _decode(raw: bytes, display: str, diags: Diagnostics) -> str | None:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        diags.error("LC004", f"invalid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
                    span=Span(display, line, col), rule="profiles are UTF-8 text",
                    hint="save the file as UTF-8")
        return None
    bad = _BAD_CHARS_RE.search(text)
    if bad is not None:
        diags.error("LC005", f"control character U+{ord(bad.group()):04X} in the file",
                    span=_text_span(display, text, bad.start()), rule="profiles are plain text",
                    hint="remove the character; is this a binary file?")
        return None
    hidden = hidden_character(text)
    if hidden is not None:
        diags.error("LC008", f"invisible or layout character {describe_character(text[hidden])} in the file",
                    span=_text_span(display, text, hidden), rule=RULE_PLAIN_TEXT,
                    hint="delete it and retype the text around it; write an ASCII space where a space is meant")
        return None
    return text


def hidden_character(text: str) -> int | None:
    """The index of the first character of ``HIDDEN_CATEGORIES`` in ``text``, or None."""
    if text.isascii():
        return None
    for match in _NON_ASCII_RE.finditer(text):
        if unicodedata.category(match.group()) in HIDDEN_CATEGORIES:
            return match.start()
    return None


def describe_character(char: str) -> str:
    """``U+202E (RIGHT-TO-LEFT OVERRIDE)``: the code point and its Unicode name."""
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


def _text_span(display: str, text: str, index: int) -> Span:
    line = text.count("\n", 0, index) + 1
    return Span(display, line, index - (text.rfind("\n", 0, index) + 1) + 1)


def _syntax_error(exc: yaml.YAMLError, display: str, diags: Diagnostics) -> None:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    span = Span(display, mark.line + 1, mark.column + 1) if mark is not None else Span(display, 1, 1)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    diags.error("LC010", message, span=span, rule="YAML 1.2 syntax",
                hint="check indentation and quoting near this position")


def _prescan(text: str, display: str, diags: Diagnostics) -> bool:
    """Walk parser events (iterative, no recursion) to refuse hostile structure before composing."""
    depth = 0
    documents = 0
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    diags.error("LC011", "more than one YAML document in the file",
                                span=_mark_span(display, event.start_mark), rule=RULE_SAFE_YAML,
                                hint="keep one profile per file; remove the '---' separator")
                    return False
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    diags.error("LC012", f"nesting deeper than {MAX_DEPTH} levels",
                                span=_mark_span(display, event.start_mark), rule=RULE_SAFE_YAML,
                                hint="a profile is a few levels deep; is this the right file?")
                    return False
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            if isinstance(event, (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                tag = event.tag
                implicit = event.implicit[0] if isinstance(event, yaml.ScalarEvent) else event.implicit
                if tag is not None and not implicit and tag != "!":
                    diags.error("LC013", f"YAML tag '{tag}' is not allowed",
                                span=_mark_span(display, event.start_mark), rule=RULE_SAFE_YAML,
                                hint="remove the tag; profiles hold plain values only")
                    return False
    except yaml.YAMLError as exc:
        _syntax_error(exc, display, diags)
        return False
    return True


def _mark_span(display: str, mark: Any) -> Span:
    return Span(display, mark.line + 1, mark.column + 1)


class _Builder:
    """Turns composed nodes into plain data, expanding aliases within a node budget."""

    def __init__(self, display: str, diags: Diagnostics) -> None:
        self.display = display
        self.diags = diags
        self.nodes = 0
        self.value_spans: dict[Key, Span] = {}
        self.key_spans: dict[Key, Span] = {}

    def build(self, node: yaml.Node, path: Key) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            self.diags.error("LC015", f"aliases expand to more than {MAX_NODES} values",
                             span=_mark_span(self.display, node.start_mark), rule=RULE_SAFE_YAML,
                             hint="write the values out; anchors and aliases are for small reuse")
            raise _Abort
        span = _mark_span(self.display, node.start_mark)
        self.value_spans.setdefault(path, span)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return self._scalar(node, path, span)

    def _mapping(self, node: yaml.MappingNode, path: Key) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key_span = _mark_span(self.display, key_node.start_mark)
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.diags.error("LC020", "merge keys ('<<') are not allowed", span=key_span,
                                 path=dotted(path), rule=RULE_SAFE_YAML,
                                 hint="use 'extends:' to layer a board on its family base")
                raise _Abort
            if not isinstance(key_node, yaml.ScalarNode) or (
                not key_node.style and _plain_key_is_not_text(str(key_node.value))
            ):
                self.diags.error("LC018", "mapping keys must be plain strings", span=key_span,
                                 path=dotted(path), value=_node_text(key_node), rule=RULE_SAFE_YAML,
                                 hint="quote the key or rename it")
                raise _Abort
            key = str(key_node.value)
            child = (*path, key)
            if key in result:
                first = self.key_spans[child]
                self.diags.error("LC014", f"duplicate key '{key}' (first defined at line {first.line})",
                                 span=key_span, path=dotted(child), value=key, rule=RULE_SAFE_YAML,
                                 hint="remove one of the two; YAML would silently keep the last")
                raise _Abort
            self.key_spans[child] = key_span
            result[key] = self.build(value_node, child)
        return result

    def _scalar(self, node: yaml.ScalarNode, path: Key, span: Span) -> Any:
        text = str(node.value)
        if node.style:  # quoted or block scalar: always a string (libyaml says '' for plain, PyYAML None)
            return text
        if text in _NULLS:
            return None
        if text in _TRUES:
            return True
        if text in _FALSES:
            return False
        if text in _YAML11_BOOLS:
            self.diags.error("LC016", f"'{text}' is a boolean in YAML 1.1 and a string in YAML 1.2",
                             span=span, path=dotted(path), value=text, rule=RULE_SAFE_YAML,
                             hint=f"write true or false, or quote it ('{text}') if you mean the word")
            return text
        if _LEADING_ZERO_RE.match(text):
            self.diags.error("LC017", f"'{text}' has a leading zero: YAML 1.1 reads it as octal",
                             span=span, path=dotted(path), value=text, rule=RULE_SAFE_YAML,
                             hint=f"write {int(text.replace('_', ''))} if you mean decimal, or quote it ('{text}')")
            return text
        if _INT_RE.match(text):
            return int(text)
        if _HEX_RE.match(text):
            return int(text, 16)
        if _FLOAT_RE.match(text):
            return float(text)
        return text


def _plain_key_is_not_text(text: str) -> bool:
    """A plain key that YAML 1.2 reads as null, a boolean or a number (``1:``, ``true:``, ``~:``)."""
    return (text in _NULLS or text in _TRUES or text in _FALSES or bool(_INT_RE.match(text))
            or bool(_HEX_RE.match(text)) or bool(_FLOAT_RE.match(text)) or bool(_LEADING_ZERO_RE.match(text)))


def _node_text(node: yaml.Node) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else type(node).__name__


def dotted(path: Key) -> str:
    """Render a key path as people write it: ``memory.map[2].start``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            shown = part if part.isprintable() and hidden_character(part) is None else json.dumps(part)
            out += f".{shown}" if out else shown
    return out


