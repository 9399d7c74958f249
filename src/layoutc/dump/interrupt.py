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

import os

from layoutc.dump.errors import Interrupted

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType, TracebackType
    from typing import Any

    signal: Any
try:
    # CPython's C module behind ``signal``, whose Signals/Handlers enums and ``enum`` itself cost every dump's
    # start-up about 3 ms (measured); the calls and constants used here are the same.
    import _signal as signal  # type: ignore[import-not-found,no-redef,unused-ignore]
except ImportError:  # another interpreter
    import signal  # type: ignore[no-redef,unused-ignore]

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


def stop(pid: int) -> None:
    """End worker process ``pid`` (SIGTERM, which workers take with the default action); gone already is fine."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


def _raise_pending() -> None:
    if _State.depth == 0 and _State.signum is not None and not _State.raised:
        _State.raised = True
        raise Interrupted(_State.signum)


class critical:  # noqa: N801 - used as a function: ``with critical():``
    """Hold a signal until the section ends, then raise it (if nothing else is propagating).

    A class, not a generator: one is entered for every window of a dump."""

    __slots__ = ()

    def __enter__(self) -> None:
        _State.depth += 1

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        _State.depth -= 1
        if kind is None:
            _raise_pending()


class deferred:  # noqa: N801
    """Hold signals for the whole section; a signal that arrived is not raised at its end."""

    __slots__ = ()

    def __enter__(self) -> None:
        _State.depth += 1

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        _State.depth -= 1
        if _State.signum is not None:
            _State.raised = True


class allowed:  # noqa: N801
    """Inside a deferred section: let a signal stop the work again (raised at once if one is waiting)."""

    __slots__ = ("_saved",)

    def __enter__(self) -> None:
        self._saved = _State.depth
        _State.depth = 0
        try:
            _raise_pending()
        except BaseException:
            _State.depth = self._saved
            raise

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        _State.depth = self._saved


def pending() -> int | None:
    """The signal received, if any."""
    return _State.signum
