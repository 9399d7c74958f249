"""Hostile input: mutated DTBs give a tree or an FdtError, never another exception, within the deadline;
and any tree the strategies build survives write-then-read unchanged.

LAYOUTC_FUZZ_EXAMPLES (default 300) sets the examples per test, as in tests/dump/test_dump_fuzz.py.
"""

from __future__ import annotations

import os
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layoutc.devicetree import FdtError, Node, Property, Tree, parse, serialize
from layoutc.devicetree.fdt import HEADER

from .conftest import qemu_dtb

FUZZ = settings(
    max_examples=int(os.environ.get("LAYOUTC_FUZZ_EXAMPLES", "300")),
    deadline=2000,
    suppress_health_check=[HealthCheck.too_slow],
)
PACKED = serialize(parse(qemu_dtb("virt-8G-numa2")))
NAME = st.text("abcxyz0189,._+-#@", min_size=1, max_size=12).filter(lambda n: not n.startswith("#") or len(n) > 1)


def _survives(blob: bytes) -> None:
    try:
        tree = parse(blob)
    except FdtError as err:
        assert err.offset >= -1
        return
    try:
        again = serialize(tree)
    except FdtError:
        return
    assert parse(again) == tree
    assert serialize(parse(again)) == again


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    blob = bytearray(PACKED)
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["byte", "word", "header", "cut", "splice"]))
        at = draw(st.integers(0, len(blob) - 1))
        if kind == "byte":
            blob[at] = draw(st.integers(0, 255))
        elif kind == "word" and at + 4 <= len(blob):
            special = [0, 1, 2, 3, 4, 9, 0xFFFFFFFF, 0x7FFFFFFF, len(blob)]
            word = draw(st.sampled_from(special) | st.integers(0, (1 << 32) - 1))
            blob[at : at + 4] = struct.pack(">I", word)
        elif kind == "header":
            field = draw(st.integers(1, 9))
            blob[4 * field : 4 * field + 4] = struct.pack(">I", draw(st.integers(0, len(blob) + 64)))
        elif kind == "cut":
            del blob[max(at, 1) :]
        else:
            length = draw(st.integers(1, 64))
            blob[at:at] = blob[draw(st.integers(0, len(blob) - 1)) :][:length]
    return bytes(blob)


@FUZZ
@given(mutated())
def test_mutated_dtbs_are_refused_or_read(blob: bytes) -> None:
    _survives(blob)


@FUZZ
@given(st.binary(min_size=0, max_size=256))
def test_random_bytes_behind_a_valid_magic(tail: bytes) -> None:
    _survives(struct.pack(">I", 0xD00DFEED) + tail)


def test_the_header_alone_never_crashes() -> None:
    for total in (0, 39, 40, 41, (1 << 32) - 1):
        for offset in (0, 40, 41, 1 << 31):
            _survives(HEADER.pack(0xD00DFEED, total, offset, offset, offset, 17, 16, 0, 0, 0) + bytes(64))


def _node(depth: int) -> st.SearchStrategy[Node]:
    props = st.dictionaries(NAME, st.binary(max_size=24), max_size=4).map(
        lambda d: tuple(Property(k, v) for k, v in d.items()))
    kids = st.dictionaries(NAME.filter(lambda n: "#" not in n), _node(depth - 1), max_size=3) if depth else st.just({})
    return st.builds(lambda name, p, c: Node(name, p, tuple(Node(k, v.properties, v.children) for k, v in c.items())),
                     st.just("n"), props, kids)  # fmt: skip


TREES = st.builds(
    lambda root, rsv, cpu: Tree(Node("", root.properties, root.children), tuple(rsv), cpu),
    _node(3),
    st.lists(st.tuples(st.integers(0, (1 << 64) - 1), st.integers(1, (1 << 64) - 1)), max_size=3),
    st.integers(0, (1 << 32) - 1),
)


@FUZZ
@given(TREES)
def test_any_tree_round_trips(tree: Tree) -> None:
    blob = serialize(tree)
    assert parse(blob) == tree
    assert serialize(parse(blob)) == blob
