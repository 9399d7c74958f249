"""The byte budget: decide what to drop, before writing, so that the output never exceeds it.

The output size is ``fixed + sum(page costs)`` where ``fixed`` does not depend on which pages are
kept (kdump: headers and bitmaps, the 24-byte descs count as page cost; ELF: headers with room for
the extra segments that dropping can create).  When even the worst case (every page stored raw)
fits, nothing is measured.  Otherwise the page costs are measured exactly (a dry run of the
encoder: compression is deterministic) and ``drop_order`` is applied in order; the last item
dropped loses its highest pages first, only as many as needed.
"""

from __future__ import annotations

from layoutc.dump import extents
from layoutc.dump.errors import BudgetError
from layoutc.dump.extents import Extent
from layoutc.dump.filter_spec import PAGE_CLASSES, TAIL, DropItem, SpecRange
from layoutc.dump.record import Frozen, init

TYPE_CHECKING = False
if TYPE_CHECKING:  # a protocol for the type checker alone: importing typing costs every dump's start-up
    from typing import Protocol

    class Costs(Protocol):
        """Exact or bounding costs of page sets in one output format."""

        def worst(self, pages: list[Extent]) -> int:
            """An upper bound of the cost of ``pages``, without reading them."""
            ...

        def cost(self, pages: list[Extent]) -> int:
            """The exact cost of ``pages``."""
            ...

        def prefix(self, pages: list[Extent], avail: int) -> int:
            """The first pfn of ``pages`` (in pfn order) whose page no longer fits in ``avail``."""
            ...


class Drop(Frozen):
    """Pages dropped to meet the budget, and why."""

    __slots__ = ("label", "pages")
    label: str
    pages: int

    def __init__(self, label: str, pages: int) -> None:
        init(self, label=label, pages=pages)


class BudgetPlan(Frozen):
    """The pages to write; ``complete`` is False when the spec's drops were not enough."""

    __slots__ = ("keep", "drops", "notes", "complete", "measured")
    keep: list[Extent]
    drops: tuple[Drop, ...]
    notes: tuple[str, ...]
    complete: bool
    measured: bool

    def __init__(
        self,
        keep: list[Extent],
        drops: tuple[Drop, ...],
        notes: tuple[str, ...],
        complete: bool,
        measured: bool,
    ) -> None:
        init(self, keep=keep, drops=drops, notes=notes, complete=complete, measured=measured)


def label(item: DropItem) -> str:
    """How a drop item is named in reports."""
    if isinstance(item, SpecRange):
        return f"{item.reason} [0x{item.start:x}, 0x{item.end:x})"
    return item


def solve(
    keep: list[Extent],
    budget: int | None,
    fixed: int,
    drop_order: tuple[DropItem, ...],
    page_size: int,
    costs: Costs,
    classes: dict[str, list[Extent]] | None = None,
) -> BudgetPlan:
    """Choose the kept pages so that ``fixed + cost(keep) <= budget``.

    ``classes`` maps page classes (free, cache, cache_private, user) to their pages, for the
    class items of ``drop_order``; a class it lacks cannot be dropped and a note says so.
    """
    if budget is None:
        return BudgetPlan(keep, (), (), True, False)
    avail = budget - fixed
    if avail < 0:
        raise BudgetError(budget, fixed)
    if costs.worst(keep) <= avail:
        return BudgetPlan(keep, (), (), True, False)
    tiers, rest, notes = _tiers(keep, drop_order, page_size, classes)
    kept_tiers, drops, remaining = _drop_tiers(tiers, rest, avail, costs)
    current = extents.normalize([e for p in kept_tiers for e in p] + rest)
    complete = True
    if remaining > avail:
        tail = TAIL in drop_order
        cut = costs.prefix(current, avail)
        current, high = _split(current, cut)
        drops.append(Drop("tail" if tail else "tail (not in drop_order)", extents.count(high)))
        complete = tail
    return BudgetPlan(current, tuple(drops), tuple(notes), complete, True)


Tier = tuple[DropItem, list[Extent]]


def _tiers(
    keep: list[Extent], drop_order: tuple[DropItem, ...], page_size: int, classes: dict[str, list[Extent]] | None
) -> tuple[list[Tier], list[Extent], list[str]]:
    """The kept pages of each drop item before ``tail`` (each page in its first item), what is left, notes."""
    notes: list[str] = []
    tiers: list[Tier] = []
    rest = keep
    for item in drop_order:
        if item == TAIL:
            break
        if isinstance(item, str) and item in PAGE_CLASSES:
            if classes is None or item not in classes:
                notes.append(
                    f"drop_order: page class {item!r} is unknown for this source (no struct pages, "
                    f"or VMCOREINFO lacks what the class needs); nothing dropped for it"
                )
                continue
            pages = extents.intersect(rest, classes[item])
        else:
            assert isinstance(item, SpecRange)
            pages = extents.intersect(rest, [item.pfns(page_size)])
        tiers.append((item, pages))
        rest = extents.subtract(rest, pages)
    return tiers, rest, notes


def _drop_tiers(
    tiers: list[Tier], rest: list[Extent], avail: int, costs: Costs
) -> tuple[list[list[Extent]], list[Drop], int]:
    """Drop whole tiers in order until the rest fits; the last one loses its highest pages only.
    Returns each tier's kept pages, the drops and the cost of what is kept."""
    spent = {id(p): costs.cost(p) for _, p in tiers}
    remaining = costs.cost(rest) + sum(spent.values())
    drops: list[Drop] = []
    kept_tiers = [p for _, p in tiers]
    for i, (item, pages) in enumerate(tiers):
        if remaining <= avail:
            break
        without = remaining - spent[id(pages)]
        if without <= avail:
            cut = costs.prefix(pages, avail - without)
            low, high = _split(pages, cut)
            kept_tiers[i] = low
            drops.append(Drop(label(item), extents.count(high)))
            remaining = without + costs.cost(low)
            break
        kept_tiers[i] = []
        drops.append(Drop(label(item), extents.count(pages)))
        remaining = without
    return kept_tiers, drops, remaining


def _split(pages: list[Extent], pfn: int) -> tuple[list[Extent], list[Extent]]:
    return extents.intersect(pages, [(0, pfn)]), extents.subtract(pages, [(0, pfn)])
