"""Kernel-image pages held back from the page classes (docs/dumper.md, "The idt_table page").

makedumpfile's chain, which ours reproduces, calls a page cache or user data by its struct page
alone, also a page of the kernel image's text, rodata, data or bss, which the kernel never frees
(https://github.com/makedumpfile/makedumpfile/issues/21).  :func:`hold_back` cuts those sections'
pages out of the classes that read ``flags`` and ``mapping`` (``IMAGE_CLASSES``); free pages are
left to the buddy allocator's own account, hwpoison and offline to the kernel's.

It is the same cut as ``pageclass.classify(..., keep=)`` (the chain decides and skips unchanged,
then loses the kept pages), applied after the fact so that the kallsyms lookup
(:mod:`layoutc.dump.read.kallsyms`) runs only when it can change the result: when one of those
classes holds a pfn of the kernel-image PT_LOAD (the one that maps ``SYMBOL(_stext)``).  On an
idle machine none does, and the lookup is skipped.
"""

from __future__ import annotations

from layoutc.dump import extents
from layoutc.dump.extents import Extent
from layoutc.dump.read import kallsyms
from layoutc.dump.read.elf_input import Phdr
from layoutc.dump.read.vmcoreinfo import VmcoreInfo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from layoutc.dump.read.pagetable import ReadPhys

    Lookup = Callable[[dict[str, str], ReadPhys, int], tuple[list[Extent], list[str]]]

IMAGE_CLASSES = ("cache", "cache_private", "user")


def image_pfns(raw_info: dict[str, str], loads: Iterable[Phdr], ps: int) -> list[Extent] | None:
    """Pfns of the PT_LOAD that maps ``SYMBOL(_stext)``; None when there is no such load."""
    stext = VmcoreInfo(raw_info).symbol("_stext")
    if stext is None:
        return None
    for ph in loads:
        if ph.p_vaddr <= stext < ph.p_vaddr + ph.p_memsz:
            return [(ph.p_paddr // ps, -(-(ph.p_paddr + ph.p_memsz) // ps))]
    return None


def at_risk(classes: dict[str, list[Extent]], image: list[Extent] | None) -> bool:
    """Whether an ``IMAGE_CLASSES`` class takes a pfn of ``image`` (None: of anywhere)."""
    for name in IMAGE_CLASSES:
        got = classes.get(name)
        if got and (image is None or extents.intersect(got, image)):
            return True
    return False


def hold_back(
    raw_info: dict[str, str],
    loads: Iterable[Phdr],
    read_phys: ReadPhys,
    ps: int,
    classes: dict[str, list[Extent]],
    lookup: Lookup = kallsyms.keep_pfns,
) -> tuple[dict[str, list[Extent]], list[str]]:
    """``classes`` without the never-freed image sections' pages, and notes.

    ``classes`` is returned as it is when no class at risk touches the image (no lookup then), when
    VMCOREINFO names no kallsyms, or when the table is refused (a note says why).
    """
    if not at_risk(classes, image_pfns(raw_info, loads, ps)):
        return classes, []
    keep, notes = lookup(raw_info, read_phys, ps)
    if not keep:
        return classes, notes
    out = dict(classes)
    held: dict[str, int] = {}
    for name in IMAGE_CLASSES:
        if name in out:
            left = extents.subtract(out[name], keep)
            held[name] = extents.count(out[name]) - extents.count(left)
            out[name] = left
            if not left:
                del out[name]
    total = sum(held.values())
    if total:
        read_as = " or ".join(name.replace("_", " ") for name, n in held.items() if n)
        notes.append(
            f"{total} pages of the kernel image's text, rodata, data or bss read as {read_as}; "
            "kept (makedumpfile excludes them)"
        )
    return out, notes
