"""Progress on stderr: percent, MB/s and ETA, at most a few times a second."""

from __future__ import annotations

import time
from typing import TextIO


class Progress:
    """Counts source bytes processed; prints only when enabled."""

    def __init__(self, total: int, stream: TextIO | None, label: str = "dump", interval: float = 0.5) -> None:
        self.total = max(total, 1)
        self.stream = stream
        self.label = label
        self.interval = interval
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
            self.stream.write("\r" + self.line(now))
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
            self.stream.write("\r" + self.line() + "\n")
            self.stream.flush()
