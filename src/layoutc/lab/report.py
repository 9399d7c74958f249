"""The lab's report: predicted vs observed per fact, rendered as text and as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from layoutc.dump.exit_codes import ExitCode
from layoutc.lab.facts.boot_facts import Fact

# verdict → exit code of ``layoutc lab`` (the CLI owns printing; this is the shared table)
# docs/cli.md: every failed lab step is exit 4; the verdict (fail, error, cannot-emulate) says which.
EXIT_CODES = {"pass": ExitCode.OK, "fail": ExitCode.FAILED, "error": ExitCode.FAILED,
              "cannot-emulate": ExitCode.FAILED}


@dataclass(frozen=True, slots=True)
class BootRecord:
    name: str  # production | baseline | …
    seconds: float
    returncode: int | None
    serial_log: str
    argv: tuple[str, ...]
    tail: tuple[str, ...] = ()  # a boot that timed out: the last lines of its serial log, for the report


TAIL_LINES = 30


def timeout_tail(returncode: int | None, serial: bytes) -> tuple[str, ...]:
    """The last ``TAIL_LINES`` lines of a boot's serial output when it timed out (``returncode`` None): where it
    stopped, in the report itself, for a run whose serial log is gone (CI keeps only what pytest printed)."""
    if returncode is not None:
        return ()
    text = serial.decode("utf-8", errors="replace").replace("\r", "")
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    return tuple("".join(ch if ch.isprintable() else "?" for ch in line) for line in lines[-TAIL_LINES:])


@dataclass(frozen=True, slots=True)
class Report:
    board: str
    kernel: str  # release
    kernel_pinned: bool
    accel: str
    stage: str
    verdict: str  # pass | fail | error | cannot-emulate
    facts: tuple[Fact, ...] = ()
    boots: tuple[BootRecord, ...] = ()
    notes: tuple[str, ...] = ()
    problems: tuple[str, ...] = field(default=())

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def failures(self) -> tuple[Fact, ...]:
        return tuple(f for f in self.facts if f.status == "fail")

    def to_json(self) -> str:
        data = asdict(self)
        data["exit_code"] = self.exit_code
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    def to_text(self) -> str:
        lines = [
            f"layoutc lab --stage {self.stage}: {self.board} on {self.kernel}"
            f"{'' if self.kernel_pinned else ' (pin unavailable: newest of the series)'}, accel {self.accel}",
        ]
        for boot in self.boots:
            rc = "timeout" if boot.returncode is None else f"rc {boot.returncode}"
            lines.append(f"  boot {boot.name}: {boot.seconds:.1f} s, {rc}, serial log {boot.serial_log}")
            if boot.tail:
                lines.append(f"    its last {len(boot.tail)} lines:")
                lines += [f"    | {line}" for line in boot.tail]
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  problem: {p}" for p in self.problems]
        width = max((len(f.name) for f in self.facts), default=10)
        for f in self.facts:
            mark = {"pass": "ok  ", "fail": "FAIL", "info": "info", "skip": "skip"}[f.status]
            if f.status == "pass":
                lines.append(f"  {mark} {f.name:<{width}}  {f.observed}")
            else:
                lines.append(f"  {mark} {f.name:<{width}}  predicted {f.predicted}; observed {f.observed}")
            if f.detail and f.status != "pass":
                lines.append(f"       {'':<{width}}  {f.detail}")
        n_fail = len(self.failures)
        lines.append(f"verdict: {self.verdict.upper()} ({len(self.facts)} facts, {n_fail} mismatched)")
        # the mismatches again at the end, where a log cut in the middle (CI's) still shows them
        lines += [f"  mismatched: {f.name}: predicted {f.predicted}; observed {f.observed}" for f in self.failures]
        return "\n".join(lines) + "\n"

    def write(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "report.json").write_text(self.to_json())
        (out_dir / "report.txt").write_text(self.to_text())
