"""``crash.stack``, ``crash.makedumpfile`` and ``crash.keep_dumps``: the meaning of a distribution stack.

A distribution's kdump stack writes the dump to a file system it mounts (kdump-tools: ``KDUMP_COREDIR`` on
the booted root; kdump-utils: a ``<fs type> <partition>`` target); neither can drive a pmem window (no
target type names a /dev/pmem device or a dax file system, and nothing of theirs lays the window's
namespace out), so a window board keeps layoutc's stack (LC260; docs/reference/sources.md §13.4).

makedumpfile reads whether a page is a compound tail through the VMCOREINFO offset of
``page.compound_head``; Linux 7.1 renamed the field and its entry to ``compound_info``, and every release
up to 1.7.9 then cannot tell a tail page and excludes the first tail pages of slab and large kmalloc
allocations with their free-looking heads. Upstream fixed it after 1.7.9 (makedumpfile f50c015; no
release carries it yet): docs/reference/sources.md §13.3. layoutc warns and diverts the stack's collector
to its own dumper (LC261); without a stated version an affected one is assumed (LC262).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from layoutc.model.profile import CrashSpec, KernelVersion, Target
from layoutc.model.stack import Stack, StackSpec

if TYPE_CHECKING:
    from layoutc.frontend.elaborate import _Reader

FIXED_AFTER = (1, 7, 9)  # the last release without makedumpfile f50c015 (docs/reference/sources.md §13.3)
BROKEN_FROM = (7, 1)  # the kernel that renamed page.compound_head to compound_info
RULE = ("makedumpfile up to 1.7.9 reads tail pages through OFFSET(page.compound_head), which Linux 7.1 "
        "renamed compound_info: it excludes first tail pages of slab and large kmalloc allocations "
        "(fixed upstream after 1.7.9, makedumpfile f50c015; docs/reference/sources.md §13.3)")


def affected(version: str, kernel: KernelVersion) -> bool:
    """True when makedumpfile ``version`` drops compound tail pages of ``kernel``."""
    parts = tuple(int(p) for p in version.split("."))
    return kernel.at_least(*BROKEN_FROM) and (parts + (0, 0))[:3] <= FIXED_AFTER


def crash_stack(r: _Reader, crash: CrashSpec, kernel: KernelVersion) -> StackSpec:
    """The typed ``StackSpec``; raises LC260-LC263 on the reader."""
    stack = Stack(r.get(("crash", "stack"), "layoutc"))
    version = r.get(("crash", "makedumpfile"))
    keep = int(r.get(("crash", "keep_dumps"), 0))
    if stack is not Stack.LAYOUTC and crash.target is not Target.DISK:
        r.error("LC260", ("crash", "stack"), f"crash.stack {stack} cannot write to a pmem window",
                rule="kdump-tools and kdump-utils save the dump to a mounted file system (a directory, or a "
                     "'<fs type> <partition>' target); neither drives a pmem window "
                     "(docs/reference/sources.md §13.4)",
                hint="set crash.target: disk with a disk: section, or crash.stack: layoutc", value=str(stack))
        return StackSpec(stack, version, False, keep)
    for key, unused in (("makedumpfile", version is not None and stack is Stack.LAYOUTC),
                        ("keep_dumps", r.has(("crash", "keep_dumps")) and stack is not Stack.KDUMP_TOOLS)):
        if unused:
            r.error("LC263", ("crash", key), f"crash.{key} is set but crash.stack is {stack}",
                    rule="crash.makedumpfile describes a distribution stack's collector; crash.keep_dumps is "
                         "kdump-tools' KDUMP_NUM_DUMPS",
                    hint=f"remove crash.{key}, or set crash.stack to the stack that uses it",
                    value=str(r.get(("crash", key))))
    if stack is Stack.LAYOUTC or not kernel.at_least(*BROKEN_FROM):
        return StackSpec(stack, version, False, keep)
    if version is None:
        r.diags.warning("LC262", f"{stack} on Linux {kernel}: crash.makedumpfile is not given, so an affected "
                        "version (1.7.9 or older) is assumed; the generated configuration diverts the "
                        "collector to layoutc's dumper", span=r.span(("crash", "stack")), path="crash.stack",
                        value=str(stack), rule=RULE,
                        hint="state the distribution's version, e.g. crash.makedumpfile: \"1.7.2\" (Debian 12)")
        return StackSpec(stack, None, True, keep)
    if affected(str(version), kernel):
        r.diags.warning("LC261", f"makedumpfile {version} drops compound tail pages of Linux {kernel}: the "
                        f"generated {stack} configuration diverts the collector to layoutc's dumper",
                        span=r.span(("crash", "makedumpfile")), path="crash.makedumpfile", value=str(version),
                        rule=RULE, hint="keep the diversion until the distribution ships a makedumpfile "
                                        "with the fix (docs/distributions.md)")
        return StackSpec(stack, str(version), True, keep)
    return StackSpec(stack, str(version), False, keep)
