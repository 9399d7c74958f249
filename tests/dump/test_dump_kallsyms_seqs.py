"""The binary search of kallsyms_seqs_of_names (layoutc.dump.read.kallsyms_seqs): both output orders
and alignments find what the walk finds, and a layout it does not recognise or a hostile table falls
back to the walk, whose result it never changes (docs/dumper.md, "The idt_table page")."""

from __future__ import annotations

import struct
import time

import kallsyms_fixture as kf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layoutc.dump.read import kallsyms, kallsyms_seqs
from layoutc.dump.read.vmcoreinfo import VmcoreInfo

BASE, IMAGE = kf.TABLE_VA, kf.IMAGE_VA
SECTIONS = [*kf.SECTIONS[:7], kf.DECRYPTED[0], *kf.SECTIONS[7:], kf.DECRYPTED[1]]
# enough others for three marker blocks, a long name (two-byte length) and alike names among them
FILLER = [(f"fn_{i:04d}", "t", IMAGE + 0x10 * i + 8) for i in range(700)]
ALIKE = [("_sdata.cold", "t", IMAGE + 0x40), ("_sdata", "N", IMAGE + 0x50), ("x" * 300, "T", IMAGE + 0x60)]
SYMS = SECTIONS + FILLER + ALIKE
PERCPU = [("__per_cpu_start", "A", 0), ("fixed_percpu_data", "A", 0x2000)]
LAYOUTS = [(fmt, order, align) for fmt in ("6.1", "7.2") for order in ("6.2", "6.4") for align in (4, 8)]


memory = kf.memory


def ordered(
    fmt: str, order: str, align: int, syms: list[tuple[str, str, int]] = SYMS
) -> tuple[VmcoreInfo, bytearray, dict[str, int]]:
    info, blob, at = kf.build_ordered(syms + (PERCPU if fmt == "6.1" else []), BASE, fmt, order, align)
    return VmcoreInfo(info), bytearray(blob), at


def fast(info: VmcoreInfo, blob: bytes | bytearray, names: tuple[str, ...] = kallsyms.WANTED) -> dict[str, int] | None:
    """The fast path's indexes, or None (it declines)."""
    keys = ("kallsyms_names", "kallsyms_num_syms", "kallsyms_token_table", "kallsyms_token_index", "kallsyms_offsets")
    addr = {k: v for k in keys if (v := info.symbol(k)) is not None}
    read = memory(bytes(blob))
    count = struct.unpack("<I", read(addr["kallsyms_num_syms"], 4) or b"\0" * 4)[0]
    tokens = kallsyms._tokens(read, addr["kallsyms_token_table"], addr["kallsyms_token_index"])
    base = info.symbol("kallsyms_relative_base")
    return kallsyms_seqs.search(read, addr, base, count, tokens, names, kallsyms.OPTIONAL, kallsyms.TYPES)


def walked(info: VmcoreInfo, blob: bytes | bytearray, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """``lookup`` with the fast path turned off: today's walk."""
    with monkeypatch.context() as m:
        m.setattr(kallsyms_seqs, "search", lambda *args: None)
        return kallsyms.lookup(info, memory(bytes(blob)))


@pytest.mark.parametrize(("fmt", "order", "align"), LAYOUTS)
def test_both_orders_find_what_the_walk_finds(
    fmt: str, order: str, align: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    info, blob, _ = ordered(fmt, order, align)
    assert fast(info, blob) is not None
    found = kallsyms.lookup(info, memory(bytes(blob)))
    assert found == {n: a for n, _, a in SECTIONS}
    assert found == walked(info, blob, monkeypatch)


def test_alike_names_give_the_first_with_a_kept_type() -> None:
    """``_sdata`` of type N (not in TYPES) and ``_sdata.cold`` sort next to ``_sdata``; the walk skips both."""
    info, blob, _ = ordered("7.2", "6.4", 8)
    got = fast(info, blob)
    assert got is not None
    syms = sorted(SYMS, key=lambda s: s[2])
    assert syms[got["_sdata"]] == ("_sdata", "D", IMAGE + 0x1A00000)


def test_the_walks_table_has_no_seqs_and_is_walked() -> None:
    """The 6.1 layout without seqs_of_names (mainline v6.1): the fast path declines."""
    info, blob = kf.build(SECTIONS, BASE, "7.2")
    assert fast(VmcoreInfo(info), blob) is None
    assert kallsyms.lookup(VmcoreInfo(info), memory(blob))["__bss_stop"] == IMAGE + 0x2800000


@pytest.mark.parametrize("offsets", ["inside the names", "8 bytes past the token index"])
def test_an_unrecognised_order_is_walked(offsets: str) -> None:
    """Offsets neither right after the token index (6.4+) nor before the names (6.2): walked."""
    info, blob, at = ordered("7.2", "6.4", 8)
    moved = at["names"] + 8 if offsets == "inside the names" else at["offsets"] + 8
    info.raw["SYMBOL(kallsyms_offsets)"] = f"{BASE + moved:x}"
    assert fast(info, blob) is None


@pytest.mark.parametrize(
    "edit",
    [
        "first marker not 0",
        "markers not increasing",
        "marker past the names",
        "seq past the count",
        "seqs all 0",
        "names end early",
    ],
)
@pytest.mark.parametrize(("fmt", "order", "align"), [("6.1", "6.2", 8), ("7.2", "6.4", 4)])
def test_hostile_markers_or_seqs_fall_back_to_the_walk(
    edit: str, fmt: str, order: str, align: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    info, blob, at = ordered(fmt, order, align)
    m, s, count = at["markers"], at["seqs_of_names"], len(SYMS) + (len(PERCPU) if fmt == "6.1" else 0)
    if edit == "first marker not 0":
        struct.pack_into("<I", blob, m, 1)
    elif edit == "markers not increasing":
        struct.pack_into("<I", blob, m + 4, 0)
    elif edit == "marker past the names":
        struct.pack_into("<I", blob, m + 8, 0x7FFFFFFF)
    elif edit == "seq past the count":
        for pos in range(count):
            blob[s + 3 * pos : s + 3 * pos + 3] = (count + pos).to_bytes(3, "big")
    elif edit == "seqs all 0":
        blob[s : s + 3 * count] = bytes(3 * count)
    else:  # a record's length lies: the last block no longer ends at the markers
        last = kf.encode(b"t" + b"fn_0699")
        at_last = blob.find(bytes([len(last)]) + last, at["names"])
        blob[at_last] += 1
    assert fast(info, blob) is None
    start = time.process_time()
    try:
        got: dict[str, int] | str = kallsyms.lookup(info, memory(bytes(blob)))
    except kallsyms.Refused as exc:
        got = str(exc)
    assert time.process_time() - start < 2
    try:
        want: dict[str, int] | str = walked(info, blob, monkeypatch)
    except kallsyms.Refused as exc:
        want = str(exc)
    assert got == want


NAMES = st.sampled_from([n for n, _, _ in SECTIONS] + ["_sdata.cold", "__bss_start.llvm.7", "a", "_", "zz", "__", "_s"])


@settings(max_examples=150, deadline=None)
@given(
    layout=st.sampled_from(LAYOUTS),
    syms=st.lists(st.tuples(NAMES, st.sampled_from("TtDdBbRrNnUw"), st.integers(0, 0x3FFFFF)), min_size=1, max_size=40),
    filler=st.integers(0, 600),
)
def test_fast_path_and_walk_agree(layout: tuple[str, str, int], syms: list[tuple[str, str, int]], filler: int) -> None:
    """Random symbol sets, names repeated with any type: the indexes found are the walk's, name for name."""
    fmt, order, align = layout
    table = [(n, t, IMAGE + a) for n, t, a in syms] + [(f"f{i}", "t", IMAGE + 0x400000 + i) for i in range(filler)]
    info, blob, _ = ordered(fmt, order, align, table)
    names = tuple(dict.fromkeys(n for n, _, _ in SECTIONS + [("_sdata.cold", "", 0), ("__bss_start.llvm.7", "", 0)]))
    keys = ("kallsyms_names", "kallsyms_num_syms", "kallsyms_token_table", "kallsyms_token_index", "kallsyms_offsets")
    addr = {k: v for k in keys if (v := info.symbol(k)) is not None}
    read = memory(bytes(blob))
    count = struct.unpack("<I", read(addr["kallsyms_num_syms"], 4) or b"")[0]
    tokens = kallsyms._tokens(read, addr["kallsyms_token_table"], addr["kallsyms_token_index"])
    got = kallsyms_seqs.search(
        read, addr, info.symbol("kallsyms_relative_base"), count, tokens, (), names, kallsyms.TYPES
    )
    names_blob = read(addr["kallsyms_names"], addr["kallsyms_token_table"] - addr["kallsyms_names"]) or b""
    assert got == kallsyms._walk(names_blob, count, tokens, names)


@settings(max_examples=150, deadline=None)
@given(
    layout=st.sampled_from(LAYOUTS),
    edits=st.lists(st.tuples(st.integers(0, 0x5000), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_any_corrupted_ordered_table_gives_addresses_or_a_refusal(
    layout: tuple[str, str, int], edits: list[tuple[int, int]]
) -> None:
    info, blob, _ = ordered(*layout)
    for at, value in edits:
        blob[at % len(blob)] = value
    start = time.process_time()
    try:
        found = kallsyms.lookup(info, memory(bytes(blob)))
    except kallsyms.Refused as exc:
        assert str(exc)
        return
    finally:
        assert time.process_time() - start < 2
    assert set(kallsyms.WANTED) <= set(found)
