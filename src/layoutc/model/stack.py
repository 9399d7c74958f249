"""``crash.stack``: which kdump stack arms the crash kernel and saves the dump on a disk board.

``layoutc`` is the project's own (arm.sh, the capture and recovery units); ``kdump-tools`` is Debian's
and Ubuntu's, ``kdump-utils`` Fedora's and RHEL's (docs/distributions.md, docs/reference/sources.md §13).
For the two distribution stacks layoutc generates their configuration from the layout.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Stack(enum.StrEnum):
    LAYOUTC = "layoutc"
    KDUMP_TOOLS = "kdump-tools"
    KDUMP_UTILS = "kdump-utils"


@dataclass(frozen=True, slots=True)
class StackSpec:
    """The stack and what layoutc knows about its makedumpfile.

    ``makedumpfile`` is the version the profile states (None: not stated). ``divert`` is True when that
    makedumpfile is known to drop pages of the board's kernel (or, unstated, assumed to), so the stack's
    collector is diverted to layoutc's dumper through its makedumpfile-compatible front end.
    """

    stack: Stack = Stack.LAYOUTC
    makedumpfile: str | None = None
    divert: bool = False
    keep_dumps: int = 0  # kdump-tools KDUMP_NUM_DUMPS: 0 keeps every dump

    @property
    def distribution(self) -> bool:
        return self.stack is not Stack.LAYOUTC
