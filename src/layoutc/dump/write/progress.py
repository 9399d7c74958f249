"""Progress on stderr: percent, MB/s and ETA.

On a terminal one line is redrawn (``\\r``) at most a few times a second. Anywhere else (a pipe, a
log file) each update is a line of its own, at most one every ``LOG_INTERVAL`` seconds, so a log
stays readable line by line.
"""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

LOG_INTERVAL = 5.0  # seconds between progress lines when the stream is not a terminal


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


class Progress:
    """Counts source bytes processed; prints only when enabled."""

    def __init__(self, total: int, stream: TextIO | None, label: str = "dump", interval: float = 0.5) -> None:
        self.total = max(total, 1)
        self.stream = stream
        self.label = label
        self.terminal = stream is not None and _is_terminal(stream)
        self.interval = interval if self.terminal else max(interval, LOG_INTERVAL)
        self.done = 0
        self._start = time.monotonic()
        self._last = 0.0

    def advance(self, nbytes: int) -> None:
        """Record ``nbytes`` more of the source as processed."""
        self.done += nbytes
        if self.stream is None:
            return
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self.stream.write("\r" + self.line(now) if self.terminal else self.line(now) + "\n")
            self.stream.flush()

    def line(self, now: float | None = None) -> str:
        """The progress line without the carriage return."""
        elapsed = max((now or time.monotonic()) - self._start, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        pct = 100.0 * self.done / self.total
        eta = f"{int(left) // 60}:{int(left) % 60:02d}"
        return f"{self.label}: {pct:5.1f}% {rate / 1e6:8.1f} MB/s ETA {eta}"

    def close(self) -> None:
        """End the progress line."""
        if self.stream is not None:
            self.stream.write(("\r" if self.terminal else "") + self.line() + "\n")
            self.stream.flush()
