"""``--workers`` writing their own payloads (placed payloads, :mod:`layoutc.dump.write.workers`).

Small windows make a fixture vmcore hundreds of windows, so each child holds windows ahead of their
offsets, writes them out of order with the other child, and the parent waits for them often.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path
from typing import Any

import kdump_layout
import pytest
from test_dump_faults import INCOMPLETE, assert_readable

from layoutc.dump import dumper
from layoutc.dump import filter_spec as spec
from layoutc.dump.errors import SinkFault
from layoutc.dump.read import vmcore_source
from layoutc.dump.write import encode, kdump, sink, worker, workers


@pytest.fixture
def small_windows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """8-page windows, a wait every 4 KiB of placed data; returns the offsets placed."""
    monkeypatch.setattr(encode, "WINDOW_PAGES", 8)
    monkeypatch.setattr(kdump, "PLACED_FLUSH_BYTES", 4096)
    placed: list[int] = []
    place = workers.Placement.place

    def counted(self: workers.Placement, offset: int) -> None:
        placed.append(offset)
        place(self, offset)

    monkeypatch.setattr(workers.Placement, "place", counted)
    return placed


@pytest.mark.parametrize(("codec", "hold"), [("zlib", 1), ("none", 1), ("zlib", 3), ("zlib", 0)])
def test_placed_payloads_give_one_workers_file(
    tmp_path: Path, make_vmcore: Any, small_windows: list[int], monkeypatch: pytest.MonkeyPatch, codec: str, hold: int
) -> None:
    monkeypatch.setattr(worker, "HOLD_WINDOWS", hold)
    _, src = make_vmcore()
    outs = []
    for n in (1, 2, 3):
        out = tmp_path / f"w{n}"
        result = dumper.run(dumper.Options(src, str(out), spec=spec.FilterSpec(compression=codec), workers=n))
        assert result.error is None
        outs.append(out.read_bytes())
        # one worker writes its payloads itself; with more, the children write them, placed in file order
        assert (len(small_windows) > 100) == (n > 1) and small_windows == sorted(small_windows)
        small_windows.clear()
    assert outs[1] == outs[0] and outs[2] == outs[0]


def test_a_flattened_stream_takes_the_payloads_through_the_pipes(
    tmp_path: Path, make_vmcore: Any, small_windows: list[int]
) -> None:
    _, src = make_vmcore()
    flat = spec.FilterSpec(format="flat")
    one, two = tmp_path / "one", tmp_path / "two"
    assert dumper.run(dumper.Options(src, str(one), spec=flat)).error is None
    assert dumper.run(dumper.Options(src, str(two), spec=flat, workers=2)).error is None
    assert one.read_bytes() == two.read_bytes()
    assert small_windows == []  # records go out in order, through the parent


class FullDisk:
    """``os`` as the dumper's writers see it, on a file system that is full from byte ``limit`` of the output:
    a write reaching past it stops there, one starting there fails with ENOSPC."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def pwrite(self, fd: int, data: Any, offset: int) -> int:
        if offset >= self.limit:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return os.pwrite(fd, memoryview(data)[: self.limit - offset], offset)

    def pwritev(self, fd: int, parts: list[bytes], offset: int) -> int:
        return self.pwrite(fd, b"".join(parts), offset)


def test_a_full_disk_under_the_workers_keeps_what_one_worker_keeps(
    tmp_path: Path, make_vmcore: Any, small_windows: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The children write past the offset where another child's write failed; the dump still claims only
    pages whose data is whole, the same pages as with one worker."""
    fx, src = make_vmcore()
    whole = tmp_path / "whole"
    assert dumper.run(dumper.Options(src, str(whole))).error is None
    limit = whole.stat().st_size * 3 // 5
    full = FullDisk(limit)
    monkeypatch.setattr(sink, "os", full)  # the parent's writes (one worker)
    monkeypatch.setattr(worker, "os", full)  # the children's writes (inherited by fork), and the parent's own
    got = {}
    for n in (1, 2):
        out = tmp_path / f"w{n}"
        result = dumper.run(dumper.Options(src, str(out), workers=n))
        assert isinstance(result.error, SinkFault) and "No space left on device" in str(result.error)
        assert kdump_layout.read(str(out)).status & INCOMPLETE
        got[n] = assert_readable(str(out), fx, at_least=100)
    assert got[2] == got[1]
    assert small_windows  # the two-worker run placed its payloads


def test_reserve_is_the_budget_check_of_a_write() -> None:
    class Target:
        final = "-"

        def open(self) -> int:
            return os.open(os.devnull, os.O_WRONLY)

    file_sink = sink.FileSink(Target(), budget=8192)  # type: ignore[arg-type]
    flat_fd = os.open(os.devnull, os.O_WRONLY)
    try:
        for made in (file_sink, sink.FlatSink(flat_fd, 8192)):
            made.reserve(4096, 4096)
            with pytest.raises(SinkFault, match="exceed the budget of 8192 bytes"):
                made.reserve(4096, 4097)
        assert file_sink.shared_fd is not None and sink.FlatSink(flat_fd).shared_fd is None
    finally:
        file_sink.close(publish=False)
        os.close(flat_fd)


def test_a_worker_gone_makes_a_slower_dump_not_a_different_one(
    tmp_path: Path, make_vmcore: Any, small_windows: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child that dies holding windows it reported (killed, out of memory): the offsets sent to it find no
    reader (EPIPE), and the parent encodes those windows and the child's later ones itself."""
    _, src = make_vmcore()
    one = tmp_path / "one"
    assert dumper.run(dumper.Options(src, str(one))).error is None
    hold = worker.Held.hold
    held = [0]  # per child: each starts from the parent's 0

    def die_on_the_third(self: worker.Held, payload: bytes) -> None:
        hold(self, payload)
        held[0] += 1
        if held[0] == 3:
            os._exit(0)

    monkeypatch.setattr(worker.Held, "hold", die_on_the_third)
    two = tmp_path / "two"
    assert dumper.run(dumper.Options(src, str(two), workers=2)).error is None
    assert two.read_bytes() == one.read_bytes()


@pytest.mark.parametrize("fmt", ["kdump", "flat"])
def test_a_worker_killed_mid_report_makes_the_same_file(
    tmp_path: Path, make_vmcore: Any, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """Through the pipe a report of 1 MiB windows is not atomic: a child that ends inside one has that
    window, and the rest of its share, encoded by the parent."""
    _, src = make_vmcore()
    flat = spec.FilterSpec(format=fmt)
    one = tmp_path / "one"
    assert dumper.run(dumper.Options(src, str(one), spec=flat)).error is None
    write_all = worker.write_all
    sent = [0]

    def cut_the_second(fd: int, parts: list[bytes]) -> None:
        sent[0] += 1
        if sent[0] == 2:
            os.write(fd, b"".join(parts)[:20])  # the header and part of what follows
            os._exit(0)
        write_all(fd, parts)

    monkeypatch.setattr(worker, "write_all", cut_the_second)
    two = tmp_path / "two"
    assert dumper.run(dumper.Options(src, str(two), spec=flat, workers=2)).error is None
    assert two.read_bytes() == one.read_bytes()


@pytest.mark.parametrize("use_mmap", [True, False])
def test_workers_read_the_source_as_the_parent_does(
    tmp_path: Path, make_vmcore: Any, small_windows: list[int], monkeypatch: pytest.MonkeyPatch, use_mmap: bool
) -> None:
    """``--mmap``/``--no-mmap`` reach the children: each worker reads through mmap windows or with pread as
    the parent was told to (on ``/proc/vmcore`` a ``--no-mmap`` child that mapped anyway could die of SIGBUS)."""
    seen = tmp_path / "readers"
    made = vmcore_source.FileReader.__init__

    def noted(self: vmcore_source.FileReader, path: str, **kw: Any) -> None:
        made(self, path, **kw)
        with seen.open("a") as f:
            f.write(f"{os.getpid()} {self._use_mmap}\n")

    monkeypatch.setattr(vmcore_source.FileReader, "__init__", noted)
    _, src = make_vmcore()
    one, two = tmp_path / "one", tmp_path / "two"
    for out, n in ((one, 1), (two, 2)):
        opts = dumper.Options(src, str(out), spec=spec.FilterSpec(compression="zlib"), workers=n, use_mmap=use_mmap)
        assert dumper.run(opts).error is None
    assert two.read_bytes() == one.read_bytes()
    readers = [line.split() for line in seen.read_text().splitlines()]
    children = {pid for pid, _ in readers} - {str(os.getpid())}
    assert len(children) == 2
    assert {mode for _, mode in readers} == {str(use_mmap)}


def test_a_child_holds_payloads_up_to_a_windows_bytes_and_always_the_latest() -> None:
    """The bound on what a placing child holds is in bytes: small payloads wait together, a large one alone."""
    offsets, unused = os.pipe()
    try:
        held = worker.Held(-1, offsets, -1, budget=100)
        for size, over in ((60, 0), (30, 0), (50, 1), (5, 1), (500, 4)):
            held.payloads.append(bytes(size))
            held.held += size
            assert held.over() == over, (size, [len(p) for p in held.payloads])
    finally:
        os.close(offsets)
        os.close(unused)


class _SlowFirstChild:
    """The first child forked sleeps before each window it encodes; which child reported each window."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, delay: float) -> None:
        self.slow = False  # set in the parent before the first fork, so that only the first child inherits it
        self.by_child: dict[int, int] = {}
        start, encode_window, report = workers._Child.start, encode.Encoder.encode, workers._Child._window

        def started(cls: type[workers._Child], others: list[workers._Child], *args: Any) -> workers._Child:
            self.slow = not others
            try:
                return start.__func__(cls, others, *args)  # type: ignore[attr-defined,no-any-return]
            finally:
                self.slow = False

        def slowed(enc: encode.Encoder, *args: Any) -> encode.PageWindow:
            if self.slow:
                time.sleep(delay)
            return encode_window(enc, *args)

        def reported(child: workers._Child, *args: Any) -> encode.PageWindow:
            self.by_child[child.pid] = self.by_child.get(child.pid, 0) + 1
            return report(child, *args)

        monkeypatch.setattr(workers._Child, "start", classmethod(started))
        monkeypatch.setattr(encode.Encoder, "encode", slowed)
        monkeypatch.setattr(workers._Child, "_window", reported)


@pytest.mark.parametrize("fmt", ["kdump", "flat"])
def test_a_slower_child_takes_fewer_windows_and_the_file_is_the_same(
    tmp_path: Path, make_vmcore: Any, small_windows: list[int], monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """Windows go to whichever child is free (the token pipe), not round-robin: a child that is slowed down (a
    busier core) takes fewer, and the parent still writes them in order."""
    _, src = make_vmcore()
    flat = spec.FilterSpec(compression="zlib", format=fmt)
    one, two = tmp_path / "one", tmp_path / "two"
    assert dumper.run(dumper.Options(src, str(one), spec=flat)).error is None
    seen = _SlowFirstChild(monkeypatch, delay=0.02)
    assert dumper.run(dumper.Options(src, str(two), spec=flat, workers=2)).error is None
    assert two.read_bytes() == one.read_bytes()
    slow, fast = sorted(seen.by_child.values())
    assert slow + fast > 100 and slow * 4 < fast, seen.by_child


@pytest.mark.parametrize("which", ["first", "every"])
def test_a_window_taken_by_a_child_that_dies_before_reporting_it_is_encoded_here(
    tmp_path: Path, make_vmcore: Any, small_windows: list[int], monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    """A child killed between taking a job from the token pipe and reporting it: no child reports that window, and
    the parent encodes it (and, when every child is gone, all the rest) itself."""
    _, src = make_vmcore()
    one = tmp_path / "one"
    assert dumper.run(dumper.Options(src, str(one))).error is None
    parent, encode_window = os.getpid(), encode.Encoder.encode
    taken = [0]  # per child (each starts from the parent's 0)
    victim = tmp_path / "victim"  # "first": the first child to take its fifth window, only

    def dying(enc: encode.Encoder, *args: Any) -> encode.PageWindow:
        if os.getpid() != parent:
            taken[0] += 1
            if taken[0] == 5 and (which == "every" or _claim(victim)):
                os._exit(0)
        return encode_window(enc, *args)

    monkeypatch.setattr(encode.Encoder, "encode", dying)
    two = tmp_path / "two"
    assert dumper.run(dumper.Options(src, str(two), spec=spec.FilterSpec(compression="zlib"), workers=2)).error is None
    assert two.read_bytes() == one.read_bytes()
    assert victim.exists() == (which == "first")


def _claim(path: Path) -> bool:
    """True for the first process to call it (the file is created exclusively)."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


@pytest.mark.parametrize("when", ["at the start", "after its last report"])
def test_a_child_that_ends_before_its_first_job_or_after_its_last_leaves_the_same_file(
    tmp_path: Path, make_vmcore: Any, small_windows: list[int], monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """One child ends before it takes a job (the other takes them all), or as it reports DONE while it still
    holds payloads waiting for their offsets (the parent encodes those again and writes them itself)."""
    _, src = make_vmcore()
    one = tmp_path / "one"
    assert dumper.run(dumper.Options(src, str(one))).error is None
    victim, parent = tmp_path / "victim", os.getpid()
    serve, write_all = worker.serve, worker.write_all

    def ends_first(*args: Any) -> None:
        if _claim(victim):
            os._exit(0)
        serve(*args)

    def ends_at_done(fd: int, parts: list[bytes]) -> None:
        if os.getpid() != parent and worker.HEADER.unpack(parts[0][: worker.HEADER.size])[1] == worker.DONE:
            if _claim(victim):
                os._exit(0)
        write_all(fd, parts)

    if when == "at the start":
        monkeypatch.setattr(worker, "serve", ends_first)
    else:
        monkeypatch.setattr(worker, "write_all", ends_at_done)
    two = tmp_path / "two"
    assert dumper.run(dumper.Options(src, str(two), spec=spec.FilterSpec(compression="zlib"), workers=2)).error is None
    assert two.read_bytes() == one.read_bytes()
    assert victim.exists()
