"""The one exception the lab raises for what the CLI reports (bad input, missing tools, failed boots)."""

from __future__ import annotations


class LabError(Exception):
    """A lab failure with a stable ``code`` (e.g. ``tool-missing``, ``cannot-emulate``) and a message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
