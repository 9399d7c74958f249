"""The struct-page decision chain vectorized with numpy (for batches dense in candidates).

Same decisions as :func:`layoutc.dump.classify.pageclass._classify_batch`, page for page (a test runs both
on the fixtures and on random struct pages), including makedumpfile's skip over the rest of each
multi-page range it excludes; only the heads of such ranges are walked one by one.  Field reads
use explicit little-endian dtypes.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from layoutc.dump.classify.pageclass import StructPageLayout, StructPages

BATCH = 512  # makedumpfile PGMM_CACHED: page + 1 of the last page of a batch is not looked at
DL_EXCLUDE_CACHE, DL_EXCLUDE_CACHE_PRI, DL_EXCLUDE_USER_DATA, DL_EXCLUDE_FREE = 2, 4, 8, 16


def classify(
    np: Any,
    lay: StructPageLayout,
    level: int,
    first: int,
    n: int,
    raw: StructPages,
    found: dict[str, list[tuple[int, int]]],
) -> None:
    """Append the excluded ranges of pages ``[first, first + n)`` to ``found``."""
    arr, known = _struct_pages(np, lay, n, raw)
    pfns = np.arange(first, first + n, dtype=np.int64)
    hits = _decisions(np, lay, level, first, n, raw, arr, known, pfns)
    skipped = _skipped(np, n, first, hits)
    for name, hit, stop in hits:
        if skipped is not None:
            hit = hit & ~skipped
        _ranges(found[name], pfns[hit], stop[hit])


def _struct_pages(
    np: Any, lay: StructPageLayout, n: int, raw: StructPages
) -> tuple[Any, dict[str, tuple[int | None, str]]]:
    """The batch as a numpy record array of the struct page fields this kernel has (little-endian)."""
    fields = {
        "flags": (lay.flags, "<u8"),
        "mapping": (lay.mapping, "<u8"),
        "mapcount": (lay.mapcount, "<i4"),
        "private": (lay.private, "<u8"),
        "chead": (lay.compound_head, "<u8"),
    }
    known = {k: v for k, v in fields.items() if v[0] is not None}
    dt = np.dtype(
        {
            "names": list(known),
            "formats": [f for _, f in known.values()],
            "offsets": [o for o, _ in known.values()],
            "itemsize": lay.size,
        }
    )
    return np.frombuffer(raw, dtype=dt, count=n), known


def _decisions(
    np: Any, lay: StructPageLayout, level: int, first: int, n: int, raw: StructPages, arr: Any, known: Any, pfns: Any
) -> list[tuple[str, Any, Any]]:
    """Each class's hit mask and range end, in the decision chain's order (a page hits one class at most)."""
    zero_u = np.zeros(n, dtype=np.uint64)
    flags = arr["flags"]
    mapping = arr["mapping"] if "mapping" in known else zero_u
    private = arr["private"] if "private" in known else zero_u
    mapcount = arr["mapcount"] if "mapcount" in known else None
    pg, val = lay.pg, lay.values

    def bit(nr: int | None) -> Any:
        if nr is None:
            return np.zeros(n, dtype=bool)
        return ((flags >> np.uint64(nr & 0x3F)) & np.uint64(1)).astype(bool)

    def eq(value: int | None) -> Any:
        if value is None or mapcount is None:
            return np.zeros(n, dtype=bool)
        return mapcount == value

    tail = (arr["chead"] & np.uint64(1)).astype(bool) if "chead" in known else np.zeros(n, dtype=bool)
    slab = eq(val["SLAB"]) | bit(pg["slab"])
    anon = (mapping & np.uint64(1)).astype(bool) & ~slab
    swapbacked = bit(pg["swapbacked"]) if pg["swapbacked"] is not None else np.ones(n, dtype=bool)
    cache = bit(pg["lru"]) | (bit(pg["swapcache"]) & swapbacked)
    orders = np.zeros(n, dtype=np.int64)
    hugetlb = np.zeros(n, dtype=bool)
    head_mask = np.uint64(pg["head_mask"] or 0)
    heads = np.nonzero(((flags & head_mask) != 0) & ~tail)[0]
    if len(heads):
        _orders(np, lay, raw, first, n, heads, flags, mapcount, orders, hugetlb)
    left = ~tail
    buddy = eq(val["BUDDY"]) & ~slab & left if level & DL_EXCLUDE_FREE else np.zeros(n, dtype=bool)
    left &= ~buddy
    free_len = lay.free_area_len
    ok = buddy & (private < np.uint64(free_len if free_len is not None else 64))  # as Chain.decide
    unaccepted = eq(val["UNACCEPTED"]) & left if level & DL_EXCLUDE_FREE else np.zeros(n, dtype=bool)
    left &= ~unaccepted
    span = np.int64(1) << np.int64((free_len or 11) - 1)
    ends = pfns + (np.int64(1) << orders)
    chain = [
        ("cache", level & DL_EXCLUDE_CACHE, cache & ~bit(pg["private"]) & ~anon, ends),
        ("cache_private", level & DL_EXCLUDE_CACHE_PRI, cache & ~anon, ends),
        ("user", level & DL_EXCLUDE_USER_DATA, anon | hugetlb, ends),
        ("hwpoison", True, bit(pg["hwpoison"]), pfns + 1),
        ("offline", True, eq(val["OFFLINE"]) & ~slab, pfns + 1),
    ]
    free_ends = pfns + (np.int64(1) << np.where(ok, private, np.uint64(0)).astype(np.int64))
    hits = [("free", ok, free_ends), ("free", unaccepted, pfns + span)]
    for name, enabled, mask, stop in chain:
        if not enabled:
            continue
        hit = mask & left
        left &= ~hit
        hits.append((name, hit, stop))
    return hits


def _skipped(np: Any, n: int, first: int, hits: list[tuple[str, Any, Any]]) -> Any:
    """Pages makedumpfile never looks at: the rest of each range of more than one page it excludes.

    Sequential, as makedumpfile's loop: a range whose first page was itself skipped skips nothing.
    Only the (few) multi-page ranges are walked in Python.
    """
    long_starts, long_ends = [], []
    for _, hit, stop in hits:
        idx = np.nonzero(hit & (stop - first > np.arange(1, n + 1)))[0]
        if len(idx):
            long_starts.append(idx)
            long_ends.append(stop[idx] - first)
    if not long_starts:
        return None
    starts = np.concatenate(long_starts)
    order = np.argsort(starts, kind="stable")
    diff = np.zeros(n + 1, dtype=np.int32)
    reach = 0
    for i, end in zip(starts[order].tolist(), np.concatenate(long_ends)[order].tolist(), strict=True):
        if i < reach:
            continue
        reach = min(end, n)
        diff[i + 1] += 1
        diff[reach] -= 1
    return np.cumsum(diff[:n]) > 0


def _orders(
    np: Any,
    lay: StructPageLayout,
    raw: StructPages,
    first: int,
    n: int,
    heads: Any,
    flags: Any,
    mapcount: Any,
    orders: Any,
    hugetlb: Any,
) -> None:
    """Order and hugetlb-ness of the compound heads at ``heads``, as ``pageclass.compound_order``."""
    # page + 1 is read only inside the batch and not past a 512-page makedumpfile batch
    heads = heads[(heads + 1 < n) & ((first + heads) % BATCH != BATCH - 1)]
    if not len(heads):
        return
    nxt = heads + 1
    val, pg_hugetlb = lay.values, lay.pg["hugetlb"]
    if val["HUGETLB"] is not None or pg_hugetlb is not None:  # 6.6+: folio._flags_1
        flags1 = flags[nxt]
        order = (flags1 & np.uint64(0xFF)).astype(np.int64)
        if val["HUGETLB"] is not None:
            huge = mapcount[heads] == val["HUGETLB"] if mapcount is not None else np.zeros(len(heads), dtype=bool)
        else:
            assert pg_hugetlb is not None
            huge = ((flags1 >> np.uint64(pg_hugetlb & 0x3F)) & np.uint64(1)).astype(bool)
    elif lay.compound_order is not None:
        rows = np.frombuffer(raw, dtype=np.uint8, count=n * lay.size).reshape(n, lay.size)
        order = rows[nxt, lay.compound_order].astype(np.int64)
        if lay.compound_dtor is not None and val["HUGETLB_PAGE_DTOR"] is not None:
            huge = rows[nxt, lay.compound_dtor] == val["HUGETLB_PAGE_DTOR"]
        else:
            huge = np.zeros(len(heads), dtype=bool)
    else:
        return
    pfn = first + heads
    bad = (order >= 64) | ((pfn & ((np.int64(1) << np.minimum(order, 62)) - 1)) != 0)
    orders[heads] = np.where(bad, 0, order)
    hugetlb[heads] = huge


def _ranges(out: list[tuple[int, int]], starts: Any, ends: Any) -> None:
    """Append ``[start, end)`` pairs, merging runs in numpy first (starts are sorted)."""
    if len(starts) == 0:
        return
    import numpy as np

    reach = np.maximum.accumulate(ends)
    brk = np.ones(len(starts), dtype=bool)
    brk[1:] = starts[1:] > reach[:-1]
    idx = np.nonzero(brk)[0]
    out.extend(zip(starts[idx].tolist(), np.maximum.reduceat(ends, idx).tolist(), strict=True))
