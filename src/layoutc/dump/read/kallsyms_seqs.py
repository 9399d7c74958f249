"""Section symbols by binary search of ``kallsyms_seqs_of_names`` (docs/dumper.md, "The idt_table page").

:func:`layoutc.dump.read.kallsyms.lookup` tries this first and walks every record of
``kallsyms_names`` only when it returns None: it changes the lookup's speed, not its result.

``kallsyms_seqs_of_names`` came with Linux 6.2 ("kallsyms: Improve the performance of
kallsyms_lookup_name()") and went into the 6.1 stable series (6.1.60) as a dependency: one 3-byte
big-endian symbol index per symbol, ordered by the name without its type character, equal names by
address, then by index (LNX:scripts/kallsyms.c write_src, compare_names; LNX:kernel/kallsyms.c
get_symbol_seq, kallsyms_lookup_names, get_symbol_offset; read in the 6.1 stable backport, in
"scripts/kallsyms: change the output order" and in a 7.x write_src).  ``kallsyms_markers`` holds
the offset into ``kallsyms_names`` of every 256th record.  VMCOREINFO names neither table, but
write_src's output order places both, each label aligned (``ALGN``: 8 bytes on 64-bit; the 7.x
write_src read has ``.balign 4``, and the 7.2 vmcores' labels are 4- and not 8-aligned):

- 6.1.60 to 6.3: offsets, relative_base, num_syms, names, markers, seqs_of_names, token_table,
  token_index;
- 6.4 on: num_syms, names, markers, token_table, token_index, offsets, [relative_base],
  seqs_of_names.

The markers are taken only when they start at 0, increase, and the last block's records end where
the aligned markers begin; every seq read is bounded by the symbol count, every block by 256
records' worth of bytes; every name found is decoded whole and compared exactly.  Where clang LTO
sorted names with their ``.llvm.`` suffix cut off, such a name compares after the bare one, so the
search still lands on the first of its run, and the run (``name`` and ``name.suffix``) is read
through for the lowest index, as the walk finds it.  Anything unexpected returns None.
"""

from __future__ import annotations

from layoutc.dump.read.kallsyms import KSYM_NAME_LEN, MAX_NAMES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from layoutc.dump.read.kallsyms import ReadVirt

MAX_BLOCK = 256 * (2 + KSYM_NAME_LEN)  # bytes of 256 records at most
MAX_RUN = 64  # records named alike (``name`` or ``name.suffix``) read through at most


class _Decline(Exception):
    """The table does not verify; the caller walks instead."""


class _Table:
    """The name-sorted view of one verified table, with the blocks and names decoded so far."""

    def __init__(
        self,
        read: ReadVirt,
        names_va: int,
        names_end: int,
        markers: tuple[int, ...],
        seqs_va: int,
        count: int,
        tokens: list[bytes],
    ) -> None:
        self.read, self.names_va, self.names_end = read, names_va, names_end
        self.markers, self.seqs_va, self.count, self.tokens = markers, seqs_va, count, tokens
        self._blocks: dict[int, bytes] = {}
        self._entries: dict[int, tuple[bytes, int]] = {}

    def entry(self, pos: int) -> tuple[bytes, int]:
        """The full name (type first) and the index of the ``pos``-th symbol by name."""
        got = self._entries.get(pos)
        if got is None:
            raw = self.read(self.seqs_va + 3 * pos, 3)
            if raw is None:
                raise _Decline
            index = int.from_bytes(raw, "big")
            if index >= self.count:
                raise _Decline
            got = self._entries[pos] = (self.name(index), index)
        return got

    def name(self, index: int) -> bytes:
        """The full name of symbol ``index``: its block from the markers, at most 255 records skipped."""
        blk = self._block(index >> 8)
        pos = 0
        for _ in range(index & 0xFF):
            n = blk[pos]
            pos += n + 1 if n < 0x80 else ((n & 0x7F) | blk[pos + 1] << 7) + 2
        n = blk[pos]
        if n & 0x80:
            n = (n & 0x7F) | blk[pos + 1] << 7
            pos += 1
        if not 0 < n <= KSYM_NAME_LEN or pos + 1 + n > len(blk):
            raise _Decline
        tokens = self.tokens
        return b"".join([tokens[b] for b in blk[pos + 1 : pos + 1 + n]])

    def _block(self, k: int) -> bytes:
        blk = self._blocks.get(k)
        if blk is None:
            start = self.markers[k]
            end = self.markers[k + 1] if k + 1 < len(self.markers) else self.names_end
            if end - start > MAX_BLOCK:
                raise _Decline
            blk = self.read(self.names_va + start, end - start)
            if blk is None:
                raise _Decline
            self._blocks[k] = blk
        return blk


def search(
    read: ReadVirt,
    addr: dict[str, int],
    base_va: int | None,
    count: int,
    tokens: list[bytes],
    wanted: tuple[str, ...],
    optional: tuple[str, ...],
    types: str,
) -> dict[str, int] | None:
    """Index of each of ``wanted`` (all) and of those of ``optional`` the table has; None: walk instead."""
    try:
        table = _locate(read, addr, base_va, count, tokens)
        if table is None:
            return None
        found: dict[str, int] = {}
        for name in wanted + optional:
            index = _find(table, name.encode(), types.encode())
            if index is not None:
                found[name] = index
            elif name in wanted:
                return None
        return found
    except (_Decline, IndexError):
        return None


def _find(table: _Table, name: bytes, types: bytes) -> int | None:
    """The lowest index named ``name`` with a type of ``types``, as the walk finds it; None: there is none."""
    lo, hi = 0, table.count
    while lo < hi:
        mid = (lo + hi) // 2
        if table.entry(mid)[0][1:] < name:
            lo = mid + 1
        else:
            hi = mid
    best = None
    for pos in range(lo, min(lo + MAX_RUN, table.count)):
        full, index = table.entry(pos)
        key = full[1:]
        if key != name and not key.startswith(name + b"."):
            return best
        if key == name and full[:1] in types and (best is None or index < best):
            best = index
    if lo + MAX_RUN < table.count:
        raise _Decline
    return best


def _locate(
    read: ReadVirt, addr: dict[str, int], base_va: int | None, count: int, tokens: list[bytes]
) -> _Table | None:
    """The table with its markers and seqs placed by write_src's order, verified; None when neither order fits."""
    names, table, index, offsets = (
        addr[k] for k in ("kallsyms_names", "kallsyms_token_table", "kallsyms_token_index", "kallsyms_offsets")
    )
    labels = [names, addr["kallsyms_num_syms"], table, index, offsets] + ([] if base_va is None else [base_va])
    nm = (count + 255) >> 8
    for a in (8, 4):
        if any(v % a for v in labels):
            continue
        if offsets > index:  # 6.4+
            if offsets != _up(index + 512, a):
                continue
            seqs = _up(offsets + 4 * count, a)
            if base_va is not None:
                if base_va != seqs:
                    continue
                seqs = _up(base_va + 8, a)
            markers_va = _down(table - 4 * nm, a)
        elif offsets < names < table:  # 6.1.60 to 6.3
            seqs = _down(table - 3 * count, a)
            markers_va = _down(seqs - 4 * nm, a)
        else:
            return None
        got = _markers(read, names, markers_va, nm, count, a)
        if got is not None:
            return _Table(read, names, got[1], got[0], seqs, count, tokens)
    return None


def _markers(
    read: ReadVirt, names: int, markers_va: int, nm: int, count: int, a: int
) -> tuple[tuple[int, ...], int] | None:
    """The markers at ``markers_va`` and the length of the names, when the names end just before them."""
    size = markers_va - names
    if not 0 < size <= MAX_NAMES:
        return None
    raw = read(markers_va, 4 * nm)
    if raw is None:
        return None
    markers = tuple(int.from_bytes(raw[i : i + 4], "little") for i in range(0, 4 * nm, 4))
    if markers[0] != 0 or any(x >= y for x, y in zip(markers, markers[1:], strict=False)) or markers[-1] >= size:
        return None
    last = read(names + markers[-1], size - markers[-1])
    if last is None:
        return None
    pos = 0
    for _ in range(count - 256 * (nm - 1)):
        n = last[pos]
        if n & 0x80:
            n = (n & 0x7F) | last[pos + 1] << 7
            pos += 1
        if not 0 < n <= KSYM_NAME_LEN:
            return None
        pos += n + 1
    end = markers[-1] + pos
    return (markers, end) if end <= size and _up(names + end, a) == markers_va else None


def _up(va: int, a: int) -> int:
    return -(-va // a) * a


def _down(va: int, a: int) -> int:
    return va - va % a
