"""Faults: truncated source, EIO, ENOSPC, budgets.

After every fault the output must stay readable: each page that bitmap 2 still claims reads back
exactly (drgn), the header says INCOMPLETE and the exit code is 4.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import kdump_layout
import pytest
import vmcore_fixtures as fixtures

from conftest import need_module, run_dump
from layoutc.dump import dumper
from layoutc.dump import filter_spec as spec
from layoutc.dump.errors import SourceFault
from layoutc.dump.read import elf_input as elf
from layoutc.dump.read import vmcore_source as source

PS = fixtures.PS
INCOMPLETE = 0x8


def assert_readable(path: str, fx: fixtures.Fixture, *, at_least: int = 1) -> list[int]:
    """Every dumped pfn reads back exactly through drgn; returns the dumped pfns."""
    drgn: Any = need_module("drgn")
    kd = kdump_layout.read(path)
    dumped = kd.dumped
    assert len(dumped) >= at_least
    prog = drgn.Program()
    prog.set_core_dump(path)
    for pfn in dumped:
        assert prog.read(pfn * PS, PS, True) == fixtures.expected_page(fx, pfn), f"pfn {pfn:#x}"
    return dumped


class FailingReader:
    """A FileReader that raises EIO for reads reaching past ``fail_at`` (an injected bad sector)."""

    def __init__(self, path: str, fail_at: int) -> None:
        self.inner = source.FileReader(path, use_mmap=False)
        self.fail_at = fail_at

    @property
    def size(self) -> int:
        return self.inner.size

    def read(self, offset: int, size: int) -> bytes | memoryview:
        if offset + size > self.fail_at:
            raise SourceFault(offset, size, os.strerror(5))
        return self.inner.read(offset, size)

    def close(self) -> None:
        self.inner.close()


def test_eio_mid_dump_leaves_a_readable_incomplete_dump(make_vmcore: Any, tmp_path: Path) -> None:
    fx, src = make_vmcore()
    meta = elf.parse(source.FileReader(src), src)
    bad = meta.loads[2].p_offset + 0x123000  # inside the big RAM segment
    out = str(tmp_path / "out")
    result = dumper.run(dumper.Options(src, out), reader=FailingReader(src, bad))
    assert isinstance(result.error, SourceFault)
    assert "Input/output error" in str(result.error)
    kd = kdump_layout.read(out)
    assert kd.status & INCOMPLETE
    dumped = assert_readable(out, fx, at_least=100)
    assert max(dumped) < 0x100 + 0x123  # nothing at or past the fault is claimed
    # zero pages are in bitmap 2 (they share one page_desc) and the summary counts them apart
    assert result.pages_kept + dict(result.excluded).get("zero", 0) == len(dumped)


def test_truncated_source_dumps_what_is_there(make_vmcore: Any, tmp_path: Path) -> None:
    fx, src = make_vmcore()
    size = os.path.getsize(src)
    os.truncate(src, size - 0x50000 - 0x123)  # cuts the last segment in the middle of a page
    out = tmp_path / "out"
    proc = run_dump(src, str(out))
    assert proc.returncode == 4, proc.stderr.decode()
    err = proc.stderr.decode()
    assert "p_offset: segment" in err and "extends past the end of the file" in err
    assert "the source is truncated: 81 pages past its end were not dumped" in err
    kd = kdump_layout.read(str(out))
    assert kd.status & INCOMPLETE
    dumped = assert_readable(str(out), fx, at_least=1000)
    last = max(fx.pfns())
    assert set(range(last - 80, last + 1)).isdisjoint(dumped)
    assert last - 81 in dumped


@pytest.mark.parametrize("fmt", ["kdump", "elf"])
def test_enospc_mid_write(tmp_path: Path, make_vmcore: Any, fmt: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    fx, src = make_vmcore()
    mnt = tmp_path / "small"
    mnt.mkdir()
    size = "400k" if fmt == "kdump" else "2m"
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], capture_output=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount tmpfs here: {mount.stderr.decode().strip()}")
    try:
        out = str(mnt / "out")
        proc = run_dump("--format", fmt, src, out)
        assert proc.returncode == 4, proc.stderr.decode()
        assert "No space left on device" in proc.stderr.decode()
        assert "INCOMPLETE" in proc.stderr.decode()
        if fmt == "kdump":
            assert kdump_layout.read(out).status & INCOMPLETE
            assert_readable(out, fx, at_least=50)
        else:
            check_incomplete_elf(out, fx)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)  # lazy: drgn may still hold the file


def check_incomplete_elf(path: str, fx: fixtures.Fixture) -> None:
    drgn: Any = need_module("drgn")
    reader = source.FileReader(path)
    try:
        meta = elf.parse(reader, path)
    finally:
        reader.close()
    assert any(n.name == "LAYOUTC" and n.desc.rstrip(b"\0") == b"INCOMPLETE" for n in meta.notes)
    prog = drgn.Program()
    prog.set_core_dump(path)
    n = 0
    for ph in meta.loads:
        for pfn in range(ph.p_paddr // PS, (ph.p_paddr + ph.p_filesz) // PS):
            assert prog.read(pfn * PS, PS, True) == fixtures.expected_page(fx, pfn), f"pfn {pfn:#x}"
            n += 1
    assert n > 50


def budget_spec(tmp_path: Path, budget: int, drop_order: list[Any]) -> str:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"schema_version": 1, "budget": budget, "drop_order": drop_order}))
    return str(path)


MOVABLE = {"start": 0x200000, "end": 0x400000, "reason": "movable"}


@pytest.mark.parametrize("fmt", ["kdump", "elf"])
def test_budget_drops_in_order_and_is_never_exceeded(make_vmcore: Any, tmp_path: Path, fmt: str) -> None:
    fx, src = make_vmcore()
    full = tmp_path / "full"
    assert run_dump("--format", fmt, src, str(full)).returncode == 0
    budget = full.stat().st_size - 20 * PS
    out = tmp_path / "out"
    proc = run_dump("--format", fmt, "--spec", budget_spec(tmp_path, budget, [MOVABLE, "tail"]), src, str(out))
    assert proc.returncode == 0, proc.stderr.decode()
    assert out.stat().st_size <= budget
    err = proc.stderr.decode()
    assert "budget: dropped" in err and "movable [0x200000, 0x400000)" in err
    if fmt == "kdump":
        dumped = assert_readable(str(out), fx, at_least=1200)
        movable = set(range(0x200, 0x400))
        assert movable - set(dumped), "the movable range is dropped first"
        assert set(range(0x400, 0x800)) & set(fx.pfns()) - fx.nodata_pfns() <= set(dumped), "nothing else is"
        # highest movable pages go first: what is left of the range is its low part
        left = sorted(movable & set(dumped))
        assert left == list(range(0x200, 0x200 + len(left)))


def test_budget_without_tail_cuts_and_fails(make_vmcore: Any, tmp_path: Path) -> None:
    fx, src = make_vmcore()
    out = tmp_path / "out"
    proc = run_dump("--spec", budget_spec(tmp_path, 200_000, [MOVABLE]), src, str(out))
    assert proc.returncode == 4
    assert "the byte budget could not be met" in proc.stderr.decode()
    assert out.stat().st_size <= 200_000
    assert kdump_layout.read(str(out)).status & INCOMPLETE
    assert_readable(str(out), fx, at_least=50)


def test_budget_below_the_metadata_is_an_error(make_vmcore: Any, tmp_path: Path) -> None:
    _, src = make_vmcore()
    proc = run_dump("--budget", "4096", src, str(tmp_path / "out"))
    assert proc.returncode == 4
    assert "byte budget 4096 cannot be met: headers and metadata alone need" in proc.stderr.decode()
    assert not (tmp_path / "out").exists()


def test_budget_that_fits_measures_nothing(make_vmcore: Any, tmp_path: Path) -> None:
    _, src = make_vmcore()
    opts = dumper.Options(src, str(tmp_path / "out"), spec.FilterSpec(budget=1 << 30))
    result = dumper.run(opts)
    assert result.complete and result.drops == ()


def test_unwritable_output_is_a_dump_failure(make_vmcore: Any, tmp_path: Path) -> None:
    _, src = make_vmcore()
    proc = run_dump(src, str(tmp_path / "missing-dir" / "out"))
    assert proc.returncode == 4
    assert "cannot create" in proc.stderr.decode() and "No such file or directory" in proc.stderr.decode()


def test_eio_in_a_worker_process_is_the_same_incomplete_dump(
    make_vmcore: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --workers the children read the source; a fault there reaches the parent as the SourceFault it
    is, and the dump ends exactly as it does with one worker."""
    fx, src = make_vmcore()
    meta = elf.parse(source.FileReader(src), src)
    bad = meta.loads[2].p_offset + 0x123000

    class FailingFileReader(source.FileReader):
        def read(self, offset: int, size: int) -> bytes | bytearray | memoryview:
            if offset + size > bad:
                raise SourceFault(offset, size, os.strerror(5))
            return super().read(offset, size)

    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    single = dumper.run(dumper.Options(src, one), reader=FailingReader(src, bad))
    # what the forked children open: the parent's reader, opened again
    monkeypatch.setattr(source.FileReader, "reopened", lambda self: FailingFileReader(self.path))
    many = dumper.run(dumper.Options(src, two, workers=2))
    assert isinstance(many.error, SourceFault) and str(many.error) == str(single.error)
    assert kdump_layout.read(two).status & INCOMPLETE
    assert kdump_layout.read(two).dumped == kdump_layout.read(one).dumped
    assert_readable(two, fx, at_least=100)


def test_workers_leave_no_child_behind(make_vmcore: Any, tmp_path: Path) -> None:
    _, src = make_vmcore()
    result = dumper.run(dumper.Options(src, str(tmp_path / "out"), workers=3))
    assert result.error is None
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # every child was reaped
