"""Kernel-image pages held back from the page classes (layoutc.dump.classify.imagekeep): the kallsyms
lookup runs only when a class that reads flags and mapping takes a pfn of the image PT_LOAD, and the
cut is exactly ``pageclass`` ``keep=``'s (docs/dumper.md, "The idt_table page")."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from layoutc.dump import extents
from layoutc.dump.classify import imagekeep
from layoutc.dump.extents import Extent
from layoutc.dump.read.elf_input import Phdr

TYPE_CHECKING = False
if TYPE_CHECKING:
    from layoutc.dump.read.pagetable import ReadPhys

STEXT = 0xFFFFFFFF81000000
INFO = {"SYMBOL(_stext)": f"{STEXT:x}"}
IMAGE_LOAD = Phdr(1, 7, 0x1000, STEXT, 0x1000000, 0x400000, 0x400000, 0)
RAM_LOAD = Phdr(1, 7, 0x2000, 0xFFFF888000100000, 0x100000, 0x7F00000, 0x7F00000, 0)
IMAGE = (0x1000, 0x1400)
SECTIONS = [(0x1000, 0x1200), (0x1300, 0x1380)]  # what the lookup would find


class Counting:
    """A stand-in for kallsyms.keep_pfns that counts its calls."""

    def __init__(self, keep: list[Extent], notes: list[str] | None = None) -> None:
        self.keep, self.notes, self.calls = keep, notes or [], 0

    def __call__(self, raw_info: dict[str, str], read_phys: ReadPhys, ps: int) -> tuple[list[Extent], list[str]]:
        self.calls += 1
        return self.keep, list(self.notes)


def unreadable(pa: int, n: int) -> bytes | None:
    return None


def hold(classes: dict[str, list[Extent]], lookup: Counting, info: dict[str, str] = INFO) -> tuple[dict, list[str]]:
    return imagekeep.hold_back(info, (RAM_LOAD, IMAGE_LOAD), unreadable, 4096, classes, lookup=lookup)


def test_image_pfns_is_the_load_that_maps_stext() -> None:
    assert imagekeep.image_pfns(INFO, (RAM_LOAD, IMAGE_LOAD), 4096) == [IMAGE]
    assert imagekeep.image_pfns(INFO, (RAM_LOAD,), 4096) is None
    assert imagekeep.image_pfns({}, (RAM_LOAD, IMAGE_LOAD), 4096) is None


def test_no_lookup_when_no_image_page_is_cache_or_user() -> None:
    """As on an idle machine: free pages of the image (freed init sections) and cache elsewhere."""
    lookup = Counting(SECTIONS)
    classes = {"free": [(0x1250, 0x1260)], "cache": [(0x5000, 0x6000)], "user": [(0x1400, 0x1500)]}
    assert hold(classes, lookup) == (classes, [])
    assert lookup.calls == 0


def test_lookup_when_an_image_page_is_cache_and_only_sections_are_held() -> None:
    lookup = Counting(SECTIONS)
    classes = {
        "free": [(0x1100, 0x1101)],
        "cache": [(0x1100, 0x1102), (0x1250, 0x1260), (0x5000, 0x6000)],
        "user": [(0x1300, 0x1301)],
        "hwpoison": [(0x1301, 0x1302)],
    }
    got, notes = hold(classes, lookup)
    assert lookup.calls == 1
    assert got == {
        "free": [(0x1100, 0x1101)],  # the buddy allocator's own account
        "cache": [(0x1250, 0x1260), (0x5000, 0x6000)],  # a freed gap stays excluded
        "hwpoison": [(0x1301, 0x1302)],
    }
    assert notes == [
        "3 pages of the kernel image's text, rodata, data or bss read as cache or user; "
        "kept (makedumpfile excludes them)"
    ]


def test_no_image_load_means_any_cache_page_asks() -> None:
    lookup = Counting([])
    classes = {"cache": [(0x5000, 0x5001)]}
    got, _ = imagekeep.hold_back(INFO, (RAM_LOAD,), unreadable, 4096, classes, lookup=lookup)
    assert got == classes and lookup.calls == 1


def test_a_refused_table_leaves_the_classes_and_passes_its_note() -> None:
    note = "kernel image sections not held back from the page classes: symbol 0 is an empty name"
    lookup = Counting([], [note])
    classes = {"cache_private": [(0x1100, 0x1101)]}
    assert hold(classes, lookup) == (classes, [note])


def test_the_cache_private_note_names_the_class() -> None:
    got, notes = hold({"cache_private": [(0x1100, 0x1101)]}, Counting(SECTIONS))
    assert got == {}
    assert notes == [
        "1 pages of the kernel image's text, rodata, data or bss read as cache private; "
        "kept (makedumpfile excludes them)"
    ]


ranges = st.lists(st.tuples(st.integers(0xF00, 0x1500), st.integers(1, 0x80)), max_size=6).map(
    lambda rs: extents.normalize((a, a + n) for a, n in rs)
)


@settings(max_examples=200, deadline=None)
@given(cache=ranges, user=ranges, free=ranges, keep=ranges)
def test_the_cut_is_keep_on_the_classes_it_reads(
    cache: list[Extent], user: list[Extent], free: list[Extent], keep: list[Extent]
) -> None:
    classes = {k: v for k, v in (("cache", cache), ("user", user), ("free", free)) if v}
    lookup = Counting(keep)
    got, _ = hold(classes, lookup)
    touched = any(extents.intersect(v, [IMAGE]) for k, v in classes.items() if k != "free")
    assert lookup.calls == int(touched)
    for name, pages in classes.items():
        want = extents.subtract(pages, keep) if touched and keep and name != "free" else pages
        assert got.get(name, []) == want
