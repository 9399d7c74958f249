"""Numbers that used to eat the machine: every verb stays bounded on hostile and huge memory maps.

Each verb runs in a child process under RLIMIT_AS (1.5 GiB) and a timeout, so a regression (an
exabyte range turned into per-section sets) fails the test instead of swapping the shared box.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.frontend.load import load_profile
from layoutc.kernel.memblock import Present, memmap_bytes, present_sections
from layoutc.model.units import GiB, MiB, TiB

from ..conftest import REPO

LIMIT = 1536 * MiB
TIMEOUT = 60
BASE = (REPO / "profiles" / "qemu" / "qemu-4g.yaml").read_text()
HIGH_RAM = "{start: 0x100000000, end: 0x140000000, type: ram}"
TOP_HOLE = "    - {start: 0xfd00000000, end: 0x10000000000, type: reserved}\n"


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def _layoutc(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    code = "import sys; from layoutc.cli.main import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=TIMEOUT, preexec_fn=_limit, check=False)


def _profile(tmp_path: Path, name: str, high_ram: str, *, drop_hole: bool = False, block: str = "128M") -> Path:
    text = BASE.replace(HIGH_RAM, high_ram).replace("block_size: 128M", f"block_size: {block}")
    if drop_hole:
        text = text.replace(TOP_HOLE, "")
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def _verbs(profile: Path, out: Path) -> dict[str, tuple[str, ...]]:
    other = REPO / "profiles" / "qemu" / "qemu-4g.yaml"
    return {
        "compile": ("compile", str(profile), "-o", str(out)),
        "check --solve": ("check", "--solve", str(profile)),
        "explain": ("explain", str(profile)),
        "map": ("map", str(profile)),
        "map svg": ("map", "--format", "svg", str(profile)),
        "estimate": ("estimate", str(profile)),
        "diff": ("diff", str(other), str(profile), "--svg", str(out.with_suffix(".svg"))),
    }


VERBS = ("compile", "check --solve", "explain", "map", "map svg", "estimate", "diff")


@pytest.mark.parametrize("verb", VERBS)
def test_exabyte_ram_range_is_an_error_in_every_verb(tmp_path: Path, verb: str) -> None:
    profile = _profile(tmp_path, "hostile", "{start: 0x100000000, end: 1E, type: ram}", drop_hole=True)
    result = _layoutc(*_verbs(profile, tmp_path / "out")[verb], cwd=tmp_path)
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert "error[LC240]" in result.stderr and "memory.map[6].end" in result.stderr
    assert "internal error" not in result.stderr


def test_exabyte_reserved_range_is_an_error_at_plain_check(tmp_path: Path) -> None:
    text = BASE.replace("end: 0x10000000000, type: reserved", "end: 1E, type: reserved")
    (tmp_path / "p.yaml").write_text(text)
    result = _layoutc("check", "p.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert ("p.yaml:31:34: error[LC240]: memory.map[7].end: 0x1000000000000000 is past "
            "the end of the 52-bit physical address space of x86_64") in result.stderr, result.stderr


SPARSE = {
    # 2 TiB of RAM at the top of a 46-bit (4-level paging) physical address space
    "2T-at-46-bits": f"{{start: {hex((1 << 46) - 2 * TiB)}, end: {hex(1 << 46)}, type: ram}}",
    # RAM up to the last 4 GiB below the 52-bit limit: 4 PiB, one range
    "4P-to-52-bits": f"{{start: 0x100000000, end: {hex((1 << 52) - 4 * GiB)}, type: ram}}",
}


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("name", sorted(SPARSE))
def test_huge_allowed_maps_solve_in_bounded_memory(tmp_path: Path, name: str, verb: str) -> None:
    profile = _profile(tmp_path, name, SPARSE[name], drop_hole=True, block="2G")
    result = _layoutc(*_verbs(profile, tmp_path / "out")[verb], cwd=tmp_path)
    assert result.returncode in ((0, 3) if verb == "diff" else (0,)), (result.returncode, result.stderr[-2000:])


def test_memmap_counts_sections_per_range_not_per_address() -> None:
    # one range of 4 PiB is 2^25 sections: counted arithmetically, not by building a set of them
    huge = (Present(0x100000, 1 << 52, 0),)
    assert present_sections(huge, 0) == (1 << 52) // (128 * MiB)
    assert memmap_bytes(huge, 0) == ((1 << 52) // (128 * MiB)) * 2 * MiB


def test_sections_shared_by_ranges_count_once() -> None:
    present = (Present(0x1000, 0x9f000, 0), Present(0x100000, 0xbffe0000, 0), Present(0x100000000, 0x140000000, 0),
               Present(0x200000000, 0x200001000, 1))
    assert present_sections(present, 0) == 24 + 8  # [0, 3 GiB) and [4, 5 GiB)
    assert present_sections(present, 1) == 1


def test_block_size_zero_is_an_error_not_the_default(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(BASE.replace("block_size: 128M", "block_size: 0"))
    diags = Diagnostics()
    assert load_profile(path, "p.yaml", diags) is None
    assert [(d.code, d.message) for d in diags.items] == [
        ("LC204", "block size 0 is smaller than one memory section (128M on x86_64)")]
