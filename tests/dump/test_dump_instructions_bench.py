"""bench/dump/instructions_bench.py reads callgrind's profile files itself: self costs by shared object and by
function, and the inclusive costs of each function's calls; ``--stages`` cuts our dump where
bench/dump/stage_marks.py marks it and makedumpfile's by its functions.

callgrind_annotate (valgrind 3.19) lists inclusive costs for a profile part that ``--dump-before`` cut, which is
how a forked worker's instructions are counted once; the bench adds up the files' cost lines instead.  These
profiles are written by hand in callgrind's format (name compression, a call's inclusive cost line, subposition
compression, two position columns).
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "bench" / "dump"))

import stage_marks  # noqa: E402
from instructions_bench import (  # noqa: E402
    ENTRIES,
    Profile,
    codec_work,
    mdf_stages,
    merged,
    our_stages,
    read_profile,
    self_cost,
    stage_cells,
)

from layoutc.dump import dumper  # noqa: E402
from layoutc.dump import filter_spec as spec  # noqa: E402

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


def test_each_function_keeps_its_own_cost_and_its_calls_inclusive_costs_apart(tmp_path: Path) -> None:
    got = read_profile(write(tmp_path, WORKER))
    assert dict(got.by_function) == {"preadv64v2": 55, "ZSTD_compress2": 1000, "_PyEval_EvalFrameDefault": 130}
    # preadv64v2: the call active when the part began (1185) and the call of ZSTD_compress2 (1000)
    assert dict(got.in_calls) == {"preadv64v2": 2185, "_PyEval_EvalFrameDefault": 35}
    assert got.calls_to["ZSTD_compress2"] == 1 and got.calls_to["preadv64v2"] == 2
    assert got.inclusive("_PyEval_EvalFrameDefault") == 165
    assert got.inclusive("ZSTD_compress2") == 1000


def profile(by_object: dict[str, int], inclusive: dict[str, int] | None = None, calls: dict[str, int] | None = None,
            ) -> Profile:  # fmt: skip
    got = Profile()
    got.by_object.update(by_object)
    got.in_calls.update(inclusive or {})
    got.calls_to.update(calls or {})
    return got


def test_the_processes_of_a_wrapper_script_add_up() -> None:
    sh = profile({"dash": 7, "libc.so.6": 3}, {"main": 2})
    mdf = profile({"makedumpfile": 50, "libc.so.6": 10}, {"main": 5}, {"deflate": 4})
    both = merged([sh, mdf])
    assert dict(both.by_object) == {"dash": 7, "libc.so.6": 13, "makedumpfile": 50}
    assert both.in_calls["main"] == 7 and both.calls_to["deflate"] == 4


def test_our_profile_parts_are_the_marked_stages_in_order() -> None:
    parts = {f"callgrind.ours.4242.{n}": profile({"python3.11": n}) for n in range(1, len(stage_marks.PARTS))}
    parts["callgrind.ours.4242"] = profile({"python3.11": 100})
    got = our_stages(parts)
    assert {stage: dict(c) for stage, c in got.items()} == {
        "start": {"python3.11": 1},
        "classification": {"python3.11": 2},
        "plan": {"python3.11": 3 + 5},
        "hold-back": {"python3.11": 4},
        "pages": {"python3.11": 6},
        "end": {"python3.11": 100},
    }


def test_a_marked_dump_cut_otherwise_is_refused() -> None:
    parts = {"callgrind.ours.4242.1": profile({}), "callgrind.ours.4242": profile({})}
    with pytest.raises(SystemExit) as refused:
        our_stages(parts)
    assert str(refused.value) == (
        "the marked dump left the profile files ['callgrind.ours.4242', 'callgrind.ours.4242.1']; expected one "
        "process cut into 7 parts (start, classification, plan, hold-back, plan, pages, end)"
    )


def test_makedumpfile_stages_come_from_its_functions_inclusive_costs() -> None:
    mdf = profile({"makedumpfile": 300, "libz.so.1.2.13": 700, "libc.so.6": 200},
                  {"exclude_unnecessary_pages": 90, "write_kdump_pages_cyclic": 800, "deflateReset": 150,
                   "deflate": 500},
                  {"exclude_unnecessary_pages": 2, "deflateReset": 40, "deflate": 40})  # fmt: skip
    mdf.by_function.update({"exclude_unnecessary_pages": 10, "write_kdump_pages_cyclic": 20, "deflate": 30})
    assert mdf_stages(mdf, ENTRIES["zlib"][0]) == {
        "classification": 100, "codec": 680, "pages": 820 - 680, "else": 1200 - 100 - 820, "total": 1200,
        "passes": 2, "calls": 40,
    }  # fmt: skip
    assert codec_work(mdf, ("deflate",)) == (530, 40)


def test_a_makedumpfile_without_its_symbols_cannot_be_staged() -> None:
    with pytest.raises(SystemExit) as refused:
        mdf_stages(profile({"makedumpfile": 10}), ENTRIES["zstd"][0])
    assert "does not name exclude_unnecessary_pages and write_kdump_pages_cyclic" in str(refused.value)


def test_a_stage_row_sets_makedumpfile_beside_ours() -> None:
    theirs = {"classification": 178_400_000, "codec": 4_918_400_000, "pages": 82_200_000, "else": 22_800_000,
              "total": 5_201_800_000, "passes": 2, "calls": 45_636}  # fmt: skip
    ours = {stage: collections.Counter({"python3.11": 0}) for stage in stage_marks.PARTS}
    ours["start"]["python3.11"] = 44_700_000
    ours["classification"]["python3.11"] = 160_900_000
    ours["hold-back"]["python3.11"] = 22_900_000
    ours["plan"]["python3.11"] = 3_000_000
    ours["pages"].update({"python3.11": 200_100_000, "libzstd.so.1.5.4": 4_974_000_000})
    ours["end"]["python3.11"] = 100_000
    row = stage_cells("7.2-mixed", "zstd", theirs, ours, (4_908_000_000, 44_051), "same")
    assert row == (
        "| 7.2-mixed | zstd | 178.4 (2 passes) / 160.9 | 22.9 | 4918.4 / 4908.0 | 82.2 / 266.1 | 45636 / 44051 | "
        "22.8 / 47.8 (start 44.7) | 5201.8 / 5405.7 | 1.039 | same |"
    )


def test_the_stage_marks_fall_where_the_parts_say(make_vmcore: Any, tmp_path: Path, monkeypatch: Any) -> None:
    """The marks run the dump as it is (the same file as an unmarked dump) and come in the order that
    ``PARTS`` names the parts between them."""
    _, src = make_vmcore()
    plain, marked = tmp_path / "plain.kdump", tmp_path / "marked.kdump"
    assert dumper.run(dumper.Options(src, str(plain), spec=spec.FilterSpec())).error is None
    for holder, name in stage_marks.MARKED:  # undone after the test
        owner = getattr(dumper, holder) if holder else dumper
        monkeypatch.setattr(owner, name, getattr(owner, name))
    seen: list[str] = []
    stage_marks.install(dumper, lambda: seen.append(sys._getframe(1).f_locals["call"].__name__))
    assert dumper.run(dumper.Options(src, str(marked), spec=spec.FilterSpec())).error is None
    assert seen == ["for_dump", "for_dump", "hold_back", "hold_back", "_write", "_write"]
    inside = {1: "classification", 3: "hold-back", 5: "pages"}  # the part after mark N, for N odd: in its function
    assert [stage_marks.PARTS[n] for n in sorted(inside)] == list(inside.values())
    assert marked.read_bytes() == plain.read_bytes()
