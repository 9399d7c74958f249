"""Work split between forked processes and joined (``--workers N``): page classification's struct-page batches.

Classification runs before any page is written, so with several CPUs it is the part of a dump that one core
does while the others wait (about 15 ms of a 0.3 s zstd dump, measured: bench/dump/RESULTS.md). Its batches
are independent (makedumpfile's decision chain never looks past a batch), so :func:`split` runs part 0 here and
every other part in a forked child, which sends its result back through a pipe as ``marshal`` data (plain
lists, tuples, ints and strings; nothing to unpickle). A child that fails or ends without a whole result has
its part run here instead: a slower dump, never a different one.
"""

from __future__ import annotations

import gc
import marshal
import os

from layoutc.dump import interrupt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

LENGTH = 8  # bytes of the little-endian length in front of a result


def split(run: Callable[[Any], Any], parts: Sequence[Any]) -> list[Any]:
    """``[run(p) for p in parts]``, the parts after the first in forked children at the same time."""
    children: list[tuple[int, int]] = []  # (pid, read end)
    gc.freeze()  # the parent's objects out of every collection: a child's collector would copy their pages
    try:
        for part in parts[1:]:
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: never returns
                os.close(read_end)
                for _pid, other in children:
                    os.close(other)
                _serve(write_end, run, part)
            os.close(write_end)
            children.append((pid, read_end))
        results = [run(parts[0])]
        for (_pid, fd), part in zip(children, parts[1:], strict=True):
            got = _receive(fd)
            results.append(run(part) if got is None else got[0])
        return results
    finally:
        _reap(children)


def _serve(fd: int, run: Callable[[Any], Any], part: Any) -> None:
    code = 1
    try:
        interrupt.for_worker()
        data = marshal.dumps(run(part))
        view = memoryview(len(data).to_bytes(LENGTH, "little") + data)
        while view:
            view = view[os.write(fd, view) :]
        code = 0
    except BaseException:  # noqa: BLE001, S110 - the parent runs this part itself
        pass
    finally:
        os._exit(code)


def _receive(fd: int) -> tuple[Any] | None:
    """``(result,)`` when the whole result arrived, else None."""
    parts = []
    while chunk := os.read(fd, 1 << 20):
        parts.append(chunk)
    data = b"".join(parts)
    if len(data) < LENGTH or int.from_bytes(data[:LENGTH], "little") != len(data) - LENGTH:
        return None
    try:
        return (marshal.loads(data[LENGTH:]),)
    except (EOFError, ValueError, TypeError):
        return None


def _reap(children: list[tuple[int, int]]) -> None:
    """Close the pipes and wait for the children (ended already, or stopped now: their result is not needed)."""
    for pid, fd in children:
        os.close(fd)
        interrupt.stop(pid)
    for pid, _fd in children:
        os.waitpid(pid, 0)
