"""SIGTERM, SIGINT and SIGHUP: stop the dump cleanly instead of dying with a half-written file.

The handler raises :class:`~layoutc.dump.errors.Interrupted` where the dumper stands, unless that
is inside a :func:`critical` section (a writer updating its bookkeeping together with the file):
there the signal is remembered and raised when the section ends.  :func:`deferred` holds signals
for a whole region (settling a dump: marking it INCOMPLETE, renaming it) without raising at its
end; :func:`allowed` reopens the page stream inside such a region.  Only the first signal raises:
later ones find the dump already stopping (SIGKILL still ends everything).

Worker processes (``write.workers``' forked children) ignore SIGINT (a Ctrl-C reaches the whole
process group; the parent stops them) and take SIGTERM's default action, which is how the parent
ends them when it stops reading their pipes.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from layoutc.dump.errors import Interrupted

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class _State:
    """Process-wide, as signal dispositions are."""

    depth = 0  # > 0: inside a critical or deferred section
    signum: int | None = None  # the first signal received
    raised = False  # Interrupted was raised once: never again


def _handler(signum: int, frame: FrameType | None) -> None:
    del frame
    if _State.signum is not None:
        return
    _State.signum = signum
    if _State.depth == 0:
        _State.raised = True
        raise Interrupted(signum)


def install() -> Callable[[], None]:
    """Handle the stop signals in this (main) thread; returns a function restoring the previous ones."""
    _State.depth, _State.signum, _State.raised = 0, None, False
    previous = {s: signal.signal(s, _handler) for s in SIGNALS}

    def restore() -> None:
        for s, h in previous.items():
            signal.signal(s, h)

    return restore


def for_worker() -> None:
    """Dispositions of a worker process: SIGINT ignored, SIGTERM (and SIGHUP) end it quietly."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def _raise_pending() -> None:
    if _State.depth == 0 and _State.signum is not None and not _State.raised:
        _State.raised = True
        raise Interrupted(_State.signum)


@contextmanager
def critical() -> Iterator[None]:
    """Hold a signal until the section ends, then raise it (if nothing else is propagating)."""
    _State.depth += 1
    try:
        yield
    finally:
        _State.depth -= 1
    _raise_pending()


@contextmanager
def deferred() -> Iterator[None]:
    """Hold signals for the whole section; a signal that arrived is not raised at its end."""
    _State.depth += 1
    try:
        yield
    finally:
        _State.depth -= 1
        if _State.signum is not None:
            _State.raised = True


@contextmanager
def allowed() -> Iterator[None]:
    """Inside a deferred section: let a signal stop the work again (raised at once if one is waiting)."""
    saved = _State.depth
    _State.depth = 0
    try:
        _raise_pending()
        yield
    finally:
        _State.depth = saved


def pending() -> int | None:
    """The signal received, if any."""
    return _State.signum
