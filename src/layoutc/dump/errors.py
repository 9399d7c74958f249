"""Error types of the dumper.

Each error carries the data a caller needs to report it (which input, where, what was expected);
only ``__main__`` turns them into messages and exit codes.
"""

from __future__ import annotations

from layoutc.dump.exit_codes import ExitCode

__all__ = ["BudgetError", "DumpError", "ExitCode", "FormatError", "IncompleteDump", "InputError",
           "Interrupted", "OutputRefused", "SinkFault", "SourceFault", "SpecError"]


class DumpError(Exception):
    """Base class of every error the dumper raises on purpose."""

    exit_code = ExitCode.DUMP_FAILED


class FormatError(DumpError):
    """Malformed input file: names the file offset and the field that is wrong."""

    exit_code = ExitCode.INVALID_INPUT

    def __init__(self, source: str, offset: int, field: str, problem: str) -> None:
        super().__init__(f"{source}:0x{offset:x}: {field}: {problem}")
        self.source = source
        self.offset = offset
        self.field = field
        self.problem = problem


class SpecError(DumpError):
    """The filter spec does not satisfy its schema or its semantic rules."""

    exit_code = ExitCode.INVALID_INPUT

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: invalid filter spec:\n" + "\n".join(f"  {p}" for p in problems))
        self.source = source
        self.problems = tuple(problems)


class SourceFault(DumpError):
    """Reading the dump source failed (EIO, truncated file) at a file offset."""

    def __init__(self, offset: int, size: int, reason: str) -> None:
        super().__init__(f"source read of {size} bytes at 0x{offset:x} failed: {reason}")
        self.offset = offset
        self.size = size
        self.reason = reason

    def __reduce__(self) -> tuple[type[SourceFault], tuple[int, int, str]]:
        # Raised in worker processes and pickled back to the parent.
        return (SourceFault, (self.offset, self.size, self.reason))


class SinkFault(DumpError):
    """Writing the output failed (ENOSPC, EIO, broken pipe)."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"output write at 0x{offset:x} failed: {reason}")
        self.offset = offset
        self.reason = reason


class BudgetError(DumpError):
    """The byte budget cannot be met even after dropping everything the spec allows."""

    def __init__(self, budget: int, minimum: int) -> None:
        super().__init__(f"byte budget {budget} cannot be met: headers and metadata alone need {minimum} bytes")
        self.budget = budget
        self.minimum = minimum


class IncompleteDump(DumpError):
    """The dump was written but lacks pages it should have (truncated source, budget not met)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InputError(DumpError):
    """An input or output path the dumper must not use as given: names the path, the rule and the fix."""

    exit_code = ExitCode.INVALID_INPUT

    def __init__(self, path: str, problem: str, fix: str) -> None:
        super().__init__(f"{path}: {problem}; {fix}")
        self.path = path
        self.problem = problem
        self.fix = fix


class OutputRefused(InputError):
    """OUTPUT would destroy the source or cannot take this format: a usage error, nothing is opened."""

    exit_code = ExitCode.USAGE


class Interrupted(DumpError):
    """SIGTERM, SIGINT or SIGHUP arrived: the dump stops, what is written stays readable."""

    def __init__(self, signum: int) -> None:
        import signal

        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(f"interrupted by {self.name}")

    def __reduce__(self) -> tuple[type[Interrupted], tuple[int]]:
        return (Interrupted, (self.signum,))
