"""The filter spec (``schemas/filter-spec/v1``): loading, validation, and the typed form.

Shape is checked by the schema (:mod:`.schema`); the semantic rules that a schema cannot say
(``start < end``) are checked here.  Nothing downstream sees the raw JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .errors import SpecError

PAGE_CLASSES = ("free", "cache", "cache_private", "user")
TAIL = "tail"


@dataclass(frozen=True, slots=True)
class Range:
    """A physical byte range ``[start, end)`` with its reason."""

    start: int
    end: int
    reason: str

    def pfns(self, page_size: int) -> tuple[int, int]:
        """Every page the range touches: a partly covered page is excluded whole."""
        return self.start // page_size, -(-self.end // page_size)


DropItem = Range | str


@dataclass(frozen=True, slots=True)
class FilterSpec:
    """A validated filter spec; defaults are makedumpfile's (``-c -d 1``)."""

    schema_version: int = 1
    dump_level: int = 1
    compression: str = "zlib"
    format: str = "kdump"
    exclude: tuple[Range, ...] = ()
    budget: int | None = None
    drop_order: tuple[DropItem, ...] = field(default=())

    def with_overrides(self, **changes: Any) -> FilterSpec:
        """A copy with the command-line flags that were given (None means not given)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def loads(text: str, source: str = "<spec>") -> FilterSpec:
    """Parse and validate a filter spec from JSON text."""
    import json  # only with --spec: not on every dump's start-up path

    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except (json.JSONDecodeError, ValueError) as exc:
        raise SpecError(source, [f"not valid JSON: {exc}"]) from exc
    from .schema import load_schema, validate  # only with a spec: the validator is not needed otherwise

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
        if isinstance(r, Range) and r.end <= r.start
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
    """Read, parse and validate a filter spec file."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise SpecError(path, [f"cannot read: {exc.strerror}"]) from exc
    return loads(text, path)


def _range(obj: dict[str, Any]) -> Range:
    return Range(int(obj["start"]), int(obj["end"]), str(obj["reason"]))


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out
