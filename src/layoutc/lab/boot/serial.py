"""Parsing the guest's serial console log (the protocol is described in ``guest.py``).

The log mixes kernel messages (before ``/init`` silences printk, and any emergency message after) with our
frames. Inside a ``BEGIN``/``END`` frame only lines made of base64 characters are taken, so a stray kernel
line cannot corrupt a file; a frame whose payload does not decode is reported as a problem, not guessed at.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_B64 = re.compile(r"^[A-Za-z0-9+/=]+$")
PREFIX = "LAYOUTC-"


@dataclass(frozen=True, slots=True)
class GuestOutput:
    """Everything the guest reported."""

    release: str | None
    done: bool
    files: Mapping[str, bytes]
    missing: frozenset[str]
    observations: tuple[Mapping[str, Any], ...]
    problems: tuple[str, ...]
    console: str = field(repr=False)  # the non-protocol lines (boot messages, panics)

    def text(self, name: str) -> str | None:
        data = self.files.get(name)
        return None if data is None else data.decode("utf-8", "replace")

    def of_kind(self, kind: str) -> tuple[Mapping[str, Any], ...]:
        return tuple(o for o in self.observations if o.get("kind") == kind)

    def last_words(self, count: int = 4) -> str:
        """The console's last ``count`` non-blank lines joined by `` | ``, or from the first panic line on when
        the kernel panicked: what a report shows when a guest stopped short, so that a run whose serial log
        is gone (a CI machine's) still says why."""
        lines = [line.strip() for line in self.console.splitlines() if line.strip()]
        for i, line in enumerate(lines):
            if "Kernel panic" in line or "BUG:" in line or "Oops" in line:
                lines = lines[i : i + count]
                break
        else:
            lines = lines[-count:]
        return " | ".join(lines)[:600] or "(no console output)"


def parse_serial(raw: bytes) -> GuestOutput:
    """Parse a serial log captured from a guest running our ``/init``."""
    lines = raw.decode("utf-8", "replace").replace("\r", "").split("\n")
    files: dict[str, bytes] = {}
    missing: set[str] = set()
    observations: list[Mapping[str, Any]] = []
    problems: list[str] = []
    console: list[str] = []
    release: str | None = None
    done = False
    frame: str | None = None
    chunks: list[str] = []
    for lineno, line in enumerate(lines, start=1):
        stripped = line.strip()
        if frame is not None:
            if stripped == f"{PREFIX}END {frame}":
                try:
                    files[frame] = base64.b64decode("".join(chunks), validate=True)
                except (binascii.Error, ValueError) as exc:
                    problems.append(f"serial:{lineno}: frame {frame!r} does not decode: {exc}")
                frame, chunks = None, []
            elif _B64.match(stripped):
                chunks.append(stripped)
            else:
                console.append(line)
            continue
        idx = line.find(PREFIX)
        if idx < 0:
            console.append(line)
            continue
        word, _, rest = line[idx + len(PREFIX) :].partition(" ")
        rest = rest.strip()
        if word == "BEGIN":
            frame, chunks = rest, []
        elif word == "MISSING":
            missing.add(rest)
        elif word == "START":
            release = rest or None
        elif word == "DONE":
            done = True
        elif word == "OBS":
            try:
                obs = json.loads(rest)
            except json.JSONDecodeError as exc:
                problems.append(f"serial:{lineno}: observation is not JSON ({exc.msg}): {rest[:120]}")
                continue
            if isinstance(obs, dict):
                observations.append(obs)
            else:
                problems.append(f"serial:{lineno}: observation is not an object: {rest[:120]}")
        else:
            console.append(line)
    if frame is not None:
        problems.append(f"serial: frame {frame!r} never ended (guest stopped mid-output)")
    return GuestOutput(release, done, files, frozenset(missing), tuple(observations), tuple(problems),
                       "\n".join(console))  # fmt: skip
