"""bench/dump/instructions_bench.py reads callgrind's profile files itself: self costs by shared object.

callgrind_annotate (valgrind 3.19) lists inclusive costs for a profile part that ``--dump-before`` cut, which is
how a forked worker's instructions are counted once; the bench adds up the files' cost lines instead.  These
profiles are written by hand in callgrind's format (name compression, a call's inclusive cost line, subposition
compression, two position columns).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "bench" / "dump"))

from instructions_bench import self_cost  # noqa: E402

# A worker's part as --dump-before leaves it: the call active when the part began (calls=0) and a call to
# another object each carry an inclusive cost line, which is not the caller's own.
WORKER = """# callgrind format
version: 1
creator: callgrind-3.19.0
pid: 8753
part: 1

positions: line
events: Ir
summary: 1185

ob=(1) /usr/lib/x86_64-linux-gnu/libc.so.6
fl=(1) ./misc/preadv64v2.c
fn=(1) preadv64v2
89 30
+2 5
calls=0 0
58 1185
cob=(2) /usr/lib/x86_64-linux-gnu/libzstd.so.1.5.4
cfn=(2) ZSTD_compress2
calls=1 52
-3 1000
* 20

ob=(2)
fl=(2) ???
fn=(2)
0 1000

ob=(3) /usr/bin/python3.11
fl=(3) ???
fn=(3) _PyEval_EvalFrameDefault
0 100
cob=(1)
cfn=(1)
calls=2 89
0 35
0 30
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "callgrind.ours.1"
    path.write_text(text)
    return path


def test_each_object_keeps_its_own_cost_and_not_the_inclusive_cost_of_its_calls(tmp_path: Path) -> None:
    got = self_cost(write(tmp_path, WORKER))
    assert dict(got) == {"libc.so.6": 55, "libzstd.so.1.5.4": 1000, "python3.11": 130}
    assert sum(got.values()) == 1185


def test_with_instruction_positions_the_cost_is_the_third_column(tmp_path: Path) -> None:
    text = WORKER.replace("positions: line", "positions: instr line")
    text = text.replace("89 30\n+2 5\n", "0x1f0 89 30\n+4 +2 5\n").replace("0 1000\n", "0x10 0 1000\n")
    text = text.replace("0 100\n", "0x20 0 100\n").replace("* 20\n", "+8 * 20\n").replace("0 30\n", "+2 * 30\n")
    assert dict(self_cost(write(tmp_path, text))) == {"libc.so.6": 55, "libzstd.so.1.5.4": 1000, "python3.11": 130}


def test_a_profile_whose_lines_do_not_add_up_to_its_summary_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, WORKER.replace("summary: 1185", "summary: 3600"))
    with pytest.raises(SystemExit) as refused:
        self_cost(path)
    assert str(refused.value) == f"{path}: the cost lines add up to 1185, its summary says 3600"
