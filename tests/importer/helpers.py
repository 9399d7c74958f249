"""Helpers of the importer tests: import a capture, load the profile, count RAM the kernel's way."""

from __future__ import annotations

from pathlib import Path

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.frontend.load import load_profile
from layoutc.importer import import_profile, read_sysinfo
from layoutc.importer.sysinfo_types import SysInfo
from layoutc.model.profile import Profile, Strategy

HERE = Path(__file__).resolve().parent
CAPTURES = HERE.parent / "captures"
PAGE = 4096
TRIMS = ((0x0, 0x1000), (0xA0000, 0x100000))  # setup.c trim_bios_range: what iomem lacks vs e820


def capture_dirs() -> list[str]:
    """Every capture directory (relative names), the origin thread's lsmem included."""
    return sorted(
        str(p.parent.relative_to(CAPTURES))
        for p in CAPTURES.rglob("*")
        if p.name in ("iomem", "lsmem.txt")
        and (p.parent / p.name).is_file()
        and (p.name == "iomem" or not (p.parent / "iomem").exists())
    )


def read(name: str) -> tuple[SysInfo | None, Diagnostics]:
    diags = Diagnostics()
    return read_sysinfo(CAPTURES / name, diags, display=f"captures/{name}"), diags


def import_text(
    name: str, strategy: Strategy = Strategy.PMEM_MOVABLE, board: str = "imported"
) -> tuple[str | None, Diagnostics]:
    info, diags = read(name)
    assert info is not None, [str(d) for d in diags]
    return import_profile(info, board, strategy, diags), diags


def load_text(text: str, tmp_path: Path) -> tuple[Profile | None, Diagnostics]:
    path = tmp_path / "imported.yaml"
    path.write_text(text)
    diags = Diagnostics()
    profile = load_profile(path, "imported.yaml", diags)
    # A capture without the kernel's config imports without kernel.config: check then warns that it
    # assumes a Debian-like kernel (LC244), and only then. The other diagnostics are the test's.
    assumed = [d for d in diags if d.code == "LC244"]
    assert bool(assumed) == ("\n  config:" not in text and profile is not None and not diags.has_errors), assumed
    rest = Diagnostics()
    rest.extend(d for d in diags if d.code != "LC244")
    return profile, rest


def ram_pages(profile: Profile, trims: tuple[tuple[int, int], ...] = ()) -> dict[int, int]:
    """Whole 4 KiB pages of RAM per node, minus ``trims`` (how /proc/zoneinfo 'present' counts)."""
    pages: dict[int, int] = {}
    for r in profile.memory.ram:
        for start, end in cut((r.start, r.end), trims):
            count = end // PAGE - -(-start // PAGE)
            pages[r.node or 0] = pages.get(r.node or 0, 0) + max(count, 0)
    return pages


def cut(pair: tuple[int, int], trims: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    pieces = [pair]
    for lo, hi in trims:
        nxt = []
        for a, b in pieces:
            nxt += [(a, min(b, lo))] if a < lo else []
            nxt += [(max(a, hi), b)] if b > hi else []
        pieces = [(a, b) for a, b in nxt if b > a]
    return pieces
