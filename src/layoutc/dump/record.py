"""``Frozen``: the dumper's immutable records, without ``dataclasses``.

``import dataclasses`` pulls in ``inspect`` (and ``ast``, ``dis``, ``tokenize``), and each dataclass
compiles its methods at import: together about 10 ms of every dump's start-up, the cost that matters
when a dump takes 0.3 s.  A record lists its fields in ``__slots__``, in the order of its
``__init__`` parameters, and sets them there with :func:`init`; equality, hashing, ``repr``, pickling
and the refusal to assign are those of a frozen dataclass.

``typing`` is not imported at run time either (6-7 ms): the dumper's modules import what only the type
checker needs, protocols included, under ``TYPE_CHECKING = False`` / ``if TYPE_CHECKING:`` (mypy takes a
name ``TYPE_CHECKING`` as true), and their annotations are never evaluated (``from __future__ import
annotations``).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Self


class Frozen:
    """Base of a record whose fields are its ``__slots__`` (also its ``__init__`` parameters, in order)."""

    __slots__: tuple[str, ...] = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Frozen)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__qualname__}({fields})"

    def __reduce__(self) -> tuple[type[Self], tuple[Any, ...]]:
        return type(self), self._values()

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` (as ``dataclasses.replace``)."""
        unknown = changes.keys() - set(self.__slots__)
        if unknown:
            raise TypeError(f"{type(self).__qualname__} has no field {sorted(unknown)[0]!r}")
        values = zip(self.__slots__, self._values(), strict=True)
        return type(self)(*(changes.get(name, value) for name, value in values))


def init(record: Frozen, **fields: object) -> None:
    """Set a new record's fields (from its ``__init__``)."""
    for name, value in fields.items():
        object.__setattr__(record, name, value)
