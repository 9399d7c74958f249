"""Run a dumper zipapp as a device does, with a call of ``getppid()`` at each edge of the dump's stages.

    python3 -I -S bench/dump/stage_marks.py dump.pyz --quiet --spec FILTER.json SOURCE OUTPUT

``instructions_bench.py --stages`` runs this under callgrind with ``--dump-before=getppid``: each call closes
a part of the profile, so the parts are the stages, in :data:`PARTS` order.  The dumper calls ``getppid`` nowhere
else, and neither does the interpreter.  Only the dumper's stage functions are wrapped (the module attributes it
calls them through); its code, its start-up and its output are the device's.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # nothing more imported at run time: the start stage is the device's
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

MARKED = (("pageclass", "for_dump"), ("imagekeep", "hold_back"), ("", "_write"))
"""The stages' functions: (the ``layoutc.dump.dumper`` attribute that holds each, "" for dumper itself; its name)."""
PARTS = ("start", "classification", "plan", "hold-back", "plan", "pages", "end")
"""What each part of the profile holds, in order: before the first mark, between marks, after the last."""


def marked(call: Callable[..., Any], mark: Callable[[], object]) -> Callable[..., Any]:
    def stage(*args: Any, **kwargs: Any) -> Any:
        mark()
        try:
            return call(*args, **kwargs)
        finally:
            mark()

    return stage


def install(dumper: ModuleType, mark: Callable[[], object] = os.getppid) -> None:
    """Wrap the stage functions of ``dumper`` (``layoutc.dump.dumper``) with ``mark`` before and after."""
    for holder, name in MARKED:
        owner = getattr(dumper, holder) if holder else dumper
        setattr(owner, name, marked(getattr(owner, name), mark))


def main() -> None:
    sys.path.insert(0, sys.argv.pop(1))
    from layoutc.dump import dumper
    from layoutc.dump.__main__ import run

    install(dumper)
    run(sys.argv[1:])


if __name__ == "__main__":
    main()
