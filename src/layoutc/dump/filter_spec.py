"""The filter spec (``schemas/filter-spec/v1``): loading, validation, and the typed form.

Shape is checked by the schema (:mod:`.schema`); the semantic rules that a schema cannot say
(``start < end``) are checked here.  Nothing downstream sees the raw JSON.
"""

from __future__ import annotations

from layoutc.dump.errors import SpecError
from layoutc.dump.record import Frozen, init

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PAGE_CLASSES = ("free", "cache", "cache_private", "user")
TAIL = "tail"


class SpecRange(Frozen):
    """A physical byte range ``[start, end)`` with its reason."""

    __slots__ = ("start", "end", "reason")
    start: int
    end: int
    reason: str

    def __init__(self, start: int, end: int, reason: str) -> None:
        init(self, start=start, end=end, reason=reason)

    def pfns(self, page_size: int) -> tuple[int, int]:
        """Every page the range touches: a partly covered page is excluded whole."""
        return self.start // page_size, -(-self.end // page_size)


DropItem = SpecRange | str


class FilterSpec(Frozen):
    """A validated filter spec; defaults are makedumpfile's (``-c -d 1``)."""

    __slots__ = ("schema_version", "dump_level", "compression", "format", "exclude", "budget", "drop_order")
    schema_version: int
    dump_level: int
    compression: str
    format: str
    exclude: tuple[SpecRange, ...]
    budget: int | None
    drop_order: tuple[DropItem, ...]

    def __init__(
        self,
        schema_version: int = 1,
        dump_level: int = 1,
        compression: str = "zlib",
        format: str = "kdump",
        exclude: tuple[SpecRange, ...] = (),
        budget: int | None = None,
        drop_order: tuple[DropItem, ...] = (),
    ) -> None:
        init(
            self,
            schema_version=schema_version,
            dump_level=dump_level,
            compression=compression,
            format=format,
            exclude=exclude,
            budget=budget,
            drop_order=drop_order,
        )

    def with_overrides(self, **changes: Any) -> FilterSpec:
        """A copy with the command-line flags that were given (None means not given)."""
        return self.replace(**{k: v for k, v in changes.items() if v is not None})


def loads(text: str, source: str = "<spec>") -> FilterSpec:
    """Parse and validate a filter spec from JSON text."""
    from layoutc.dump import json_scan  # only with --spec: not on every dump's start-up path

    try:
        data = json_scan.loads(text, object_pairs_hook=_no_duplicates)
    except ValueError as exc:  # json.JSONDecodeError is one
        raise SpecError(source, [f"not valid JSON: {exc}"]) from exc
    except RecursionError:
        raise SpecError(source, ["nested deeper than the JSON parser allows; a filter spec nests 3 levels"]) from None
    if _depth(data) > MAX_DEPTH:
        raise SpecError(source, [f"nested more than {MAX_DEPTH} levels deep; a filter spec nests 3 levels"])
    from layoutc.dump.spec_schema import (  # only with a spec: the validator is not needed otherwise
        load_schema,
        validate,
    )

    problems = validate(data, load_schema())
    if problems:
        raise SpecError(source, problems)
    ranges = [_range(r) for r in data.get("exclude", [])]
    drops: list[DropItem] = [d if isinstance(d, str) else _range(d) for d in data.get("drop_order", [])]
    semantic = [
        f"$.exclude[{i}]: end 0x{r.end:x} must be greater than start 0x{r.start:x}"
        for i, r in enumerate(ranges)
        if r.end <= r.start
    ]
    semantic += [
        f"$.drop_order[{i}]: end 0x{r.end:x} must be greater than start 0x{r.start:x}"
        for i, r in enumerate(drops)
        if isinstance(r, SpecRange) and r.end <= r.start
    ]
    if semantic:
        raise SpecError(source, semantic)
    return FilterSpec(
        schema_version=data["schema_version"],
        dump_level=data.get("dump_level", 1),
        compression=data.get("compression", "zlib"),
        format=data.get("format", "kdump"),
        exclude=tuple(ranges),
        budget=data.get("budget"),
        drop_order=tuple(drops),
    )


def load(path: str) -> FilterSpec:
    """Read, parse and validate a filter spec file (a regular file of at most 1 MiB, UTF-8)."""
    from layoutc.dump.errors import InputError
    from layoutc.dump.read.inputs import SPEC_MAX_BYTES, read_capped

    try:
        raw = read_capped(path, "filter spec", SPEC_MAX_BYTES, "give the filter.json that layoutc generated")
    except InputError as exc:
        raise SpecError(path, [f"{exc.problem}; {exc.fix}"]) from exc
    return loads(decode(raw, path), path)


BOMS = (
    (b"\xef\xbb\xbf", "UTF-8 with a byte order mark"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def decode(raw: bytes, source: str) -> str:
    """The spec's text: UTF-8 without a byte order mark (RFC 8259 §8.1), or a :class:`SpecError`."""
    fix = "save it as UTF-8 without a byte order mark"
    for bom, name in BOMS:
        if raw.startswith(bom):
            raise SpecError(source, [f"byte 0: the file is {name}; {fix}"])
    if b"\0" in raw:  # valid UTF-8, but never in JSON text: UTF-16 or UTF-32 without a mark
        at = raw.index(b"\0")
        raise SpecError(source, [f"byte {at}: 0x00 cannot appear in JSON text (the file looks UTF-16); {fix}"])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex()
        raise SpecError(source, [f"byte {exc.start}: 0x{bad} is not UTF-8; {fix}"]) from None


MAX_DEPTH = 8
"""A spec nests three levels (object, array, range object); anything deeper is not a spec."""


def _depth(data: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest = 0
    todo = [(data, 1)]
    while todo:
        node, level = todo.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                todo.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def _range(obj: dict[str, Any]) -> SpecRange:
    return SpecRange(int(obj["start"]), int(obj["end"]), str(obj["reason"]))


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out
