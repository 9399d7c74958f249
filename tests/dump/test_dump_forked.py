"""Page classification split between forked processes (classify/forked.py): the same result as one process,
and a child that fails costs only time."""

from __future__ import annotations

import os
from typing import Any

import kernel_fixture
import pytest

from layoutc.dump.classify import forked, pageclass
from layoutc.dump.read import elf_input as elf
from layoutc.dump.read import physmap
from layoutc.dump.read import vmcore_source as source

PS = 4096


def test_split_runs_every_part_and_keeps_their_order() -> None:
    parent = os.getpid()
    got = forked.split(lambda part: (part, os.getpid() == parent), [1, 2, 3, 4])
    assert [value for value, _ in got] == [1, 2, 3, 4]
    assert [here for _, here in got] == [True, False, False, False]  # parts after the first ran in children


def test_a_failing_or_silent_child_has_its_part_run_here() -> None:
    parent = os.getpid()

    def run(part: int) -> list[int]:
        if os.getpid() != parent and part == 2:
            raise RuntimeError("a child that fails")
        if os.getpid() != parent and part == 3:
            os._exit(0)  # a child that ends without a word
        return [part] * part

    assert forked.split(run, [1, 2, 3]) == [[1], [2, 2], [3, 3, 3]]


@pytest.mark.parametrize("generation", ["6.1", "7.1"])
def test_classes_from_several_processes_equal_one(
    generation: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = kernel_fixture.Kernel(generation).fixture().write(str(tmp_path / "vmcore"))
    monkeypatch.setattr(pageclass, "CHUNK", pageclass.BATCH)  # many small batches to split
    reader = source.FileReader(path)
    try:
        core = elf.parse(reader, path)
        pmap = physmap.build(core.loads, PS)
        read = physmap.PhysReader(pmap, reader).read
        runs = [pageclass.for_dump(core.vmcoreinfo, read, pmap.present, PS, 31, workers=n) for n in (1, 2, 3)]
    finally:
        reader.close()
    assert runs[0][0] and runs[0] == runs[1] == runs[2]
