"""Progress on a pipe is one line per update, never a carriage return, at most one every few seconds."""

from __future__ import annotations

import io
import os

import pytest

from layoutc.dump.write import progress as progress_module
from layoutc.dump.write.progress import LOG_INTERVAL, Progress


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _run(stream: io.TextIOBase, clock: _Clock) -> None:
    shown = Progress(1000, stream, "dump")  # type: ignore[arg-type]
    for _ in range(40):  # 40 updates a quarter second apart: 10 s
        clock.now += 0.25
        shown.advance(25)
    shown.close()


def test_a_pipe_gets_whole_lines_every_few_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", clock)
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w") as pipe:
        _run(pipe, clock)
    with os.fdopen(read_end) as reader:
        text = reader.read()
    assert "\r" not in text and text.endswith("\n")
    lines = text.splitlines()
    assert len(lines) == int(10 / LOG_INTERVAL) + 1, lines  # one per interval, and the last
    assert all(line.startswith("dump: ") for line in lines)
    assert lines[-1].startswith("dump: 100.0%")


def test_a_terminal_redraws_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", clock)

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    _run(term, clock)
    text = term.getvalue()
    assert text.count("\n") == 1 and text.count("\r") == 21  # every half second, and the last
