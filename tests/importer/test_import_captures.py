"""Every real capture imports into a profile that passes the front end and describes the same RAM."""

from __future__ import annotations

from pathlib import Path

import pytest

from layoutc.importer.iomem import top_level
from layoutc.importer.zoneinfo import present_pages
from layoutc.model.profile import MemRange, Profile

from .helpers import CAPTURES, TRIMS, capture_dirs, import_text, load_text, ram_pages, read

ALL = capture_dirs()
RAW_FILES = (
    "iomem",
    "lsmem.json",
    "lsmem.txt",
    "block_size_bytes",
    "cmdline",
    "uname-r",
    "zoneinfo",
    "dmesg",
)


def _profile(name: str, tmp_path: Path) -> Profile:
    text, diags = import_text(name)
    assert text is not None and len(diags) == 0, [f"{d.code} {d.message}" for d in diags]
    profile, load_diags = load_text(text, tmp_path)
    assert profile is not None and len(load_diags) == 0, [f"{d.code} {d.message}" for d in load_diags]
    return profile


def test_every_capture_is_covered_and_documented() -> None:
    assert len(ALL) == 12, ALL  # 8 captures of x86 QEMU guests and a host, 3 arm64 QEMU virt ones, the origin thread
    readme = (CAPTURES / "README.md").read_text()
    tops = sorted({name.split("/")[0] for name in ALL})
    # kconfig/ holds kernel configurations (its own README), not memory-map captures
    assert tops == sorted(p.name for p in CAPTURES.iterdir() if p.is_dir() and p.name != "kconfig")
    for top in tops:
        assert f"| `{top}` |" in readme, f"{top} has no row in tests/captures/README.md"
    for name in ALL:
        if name.startswith("qemu-"):  # a QEMU guest's capture is complete: every raw file, dmesg included
            assert [f for f in RAW_FILES if not (CAPTURES / name / f).is_file()] == [], name
        if "/movablecore-" in name:
            assert (CAPTURES / name / "offline-test.json").is_file(), name
        if name.startswith("qemu-arm64-"):  # a device-tree guest: the tree it booted with
            assert (CAPTURES / name / "fdt.dtb").is_file(), name


@pytest.mark.parametrize("name", ALL)
def test_capture_imports_and_loads_cleanly(name: str, tmp_path: Path) -> None:
    profile = _profile(name, tmp_path)
    assert profile.board == "imported"
    assert profile.memory.total_ram > 0


@pytest.mark.parametrize("name", [n for n in ALL if (CAPTURES / n / "zoneinfo").exists()])
def test_per_node_ram_equals_zoneinfo_present(name: str, tmp_path: Path) -> None:
    profile = _profile(name, tmp_path)
    info, _ = read(name)
    assert info is not None and info.zones is not None
    trims = TRIMS if info.dmesg is not None and info.dmesg.e820 else ()
    expected = {node: pages for node, pages in present_pages(info.zones).items() if pages}
    assert ram_pages(profile, trims) == expected


@pytest.mark.parametrize("name", [n for n in ALL if (CAPTURES / n / "iomem").exists()])
def test_total_ram_equals_iomem_system_ram(name: str, tmp_path: Path) -> None:
    profile = _profile(name, tmp_path)
    info, _ = read(name)
    assert info is not None and info.iomem is not None
    iomem_ram = sum(e.end - e.start for e in top_level(info.iomem) if e.name == "System RAM")
    trims = TRIMS if info.dmesg is not None and info.dmesg.e820 else ()
    assert sum(pages for pages in ram_pages(profile, trims).values()) * 4096 <= iomem_ram
    assert _bytes(profile.memory.ram, trims) == iomem_ram


@pytest.mark.parametrize("name", ALL)
def test_ram_covers_exactly_the_lsmem_blocks(name: str, tmp_path: Path) -> None:
    profile = _profile(name, tmp_path)
    info, _ = read(name)
    assert info is not None and info.lsmem is not None
    block = profile.memory.block_size
    lsmem_blocks = {b for row in info.lsmem.rows for b in range(row.start // block, row.end // block)}
    ram_blocks = {b for r in profile.memory.ram for b in range(r.start // block, (r.end - 1) // block + 1)}
    assert ram_blocks == lsmem_blocks


@pytest.mark.parametrize("name", [n for n in ALL if "movablecore" in n])
def test_layout_parameters_are_undone(name: str, tmp_path: Path) -> None:
    booted = _profile(name, tmp_path)
    plain = _profile(str(Path(name).parent), tmp_path)
    assert booted.memory == plain.memory
    assert booted.board_cmdline == plain.board_cmdline == "console=ttyS0"
    text, _ = import_text(name)
    assert text is not None
    assert "# This is the board's memory map, not the captured layout's" in text
    assert f"#   - {(CAPTURES / name / 'cmdline').read_text().split()[1]}: only splits zones" in text


def test_origin_thread_lsmem_imports(tmp_path: Path) -> None:
    profile = _profile("origin-thread", tmp_path)
    assert profile.memory.total_ram == 4 << 30
    assert profile.memory.block_size == 128 << 20
    assert [(r.start, r.end, r.node) for r in profile.memory.ram] == [
        (0x0, 0xC0000000, 0),
        (0x100000000, 0x140000000, 0),
    ]
    text, _ = import_text("origin-thread")
    assert text is not None and "block-granular" in text
    assert "srat: false  # unknown without dmesg" in text


def test_numa2_nodes_come_from_the_srat(tmp_path: Path) -> None:
    profile = _profile("qemu-k7-pc-8G-numa2", tmp_path)
    assert profile.memory.srat is True
    assert [(r.start, r.end) for r in profile.memory.node_ram(1)] == [(0x140000000, 0x240000000)]
    assert sum(r.size for r in profile.memory.node_ram(0)) == (4 << 30) - 0x400 - 0x60000 - 0x20000


def test_host_without_dmesg_uses_iomem(tmp_path: Path) -> None:
    profile = _profile("host-24G", tmp_path)
    assert profile.kernel_version.major == 6 and profile.kernel_version.minor == 18
    assert profile.board_cmdline == ""
    assert profile.memory.srat is False
    assert profile.memory.ranges[0] == MemRange(0, 0x1000, profile.memory.ranges[0].type, None)


@pytest.mark.parametrize(
    ("name", "bundled"), [("qemu-k7-pc-4G", "qemu-4g.yaml"), ("qemu-k7-pc-8G-numa2", "qemu-8g-numa2.yaml")]
)
def test_import_matches_the_bundled_profile_map(name: str, bundled: str, tmp_path: Path) -> None:
    path = Path(__file__).resolve().parents[2] / "profiles" / "qemu" / bundled
    from layoutc.diagnostics.diagnostic import Diagnostics
    from layoutc.frontend.load import load_profile

    reference = load_profile(path, bundled, Diagnostics())
    assert reference is not None
    imported = _profile(name, tmp_path)

    def shape(p: Profile) -> list[tuple[int, int, str, int | None]]:
        return [
            (r.start, r.end, str(r.type), r.node or 0 if r.type == "ram" else None) for r in p.memory.ranges
        ]

    assert shape(imported) == shape(reference)
    assert imported.memory.srat == reference.memory.srat


def test_import_is_deterministic() -> None:
    first, _ = import_text("qemu-k7-pc-8G-numa2/movablecore-512M")
    second, _ = import_text("qemu-k7-pc-8G-numa2/movablecore-512M")
    assert first == second


def _bytes(ranges: tuple[MemRange, ...], trims: tuple[tuple[int, int], ...]) -> int:
    from .helpers import cut

    return sum(b - a for r in ranges for a, b in cut((r.start, r.end), trims))


@pytest.mark.parametrize("name", [n for n in ALL if (CAPTURES / n / "lsmem.json").exists()])
def test_lsmem_text_and_json_agree(name: str) -> None:
    from layoutc.diagnostics.diagnostic import Diagnostics
    from layoutc.importer.lsmem import parse_lsmem_json, parse_lsmem_text

    diags = Diagnostics()
    as_json = parse_lsmem_json((CAPTURES / name / "lsmem.json").read_text(), "lsmem.json", diags)
    as_text = parse_lsmem_text((CAPTURES / name / "lsmem.txt").read_text(), "lsmem.txt", diags)
    assert as_json is not None and as_text is not None and len(diags) == 0
    assert as_json.rows == as_text.rows
    assert as_text.block_size == 128 << 20


def test_lsmem_json_without_bytes_and_with_old_spellings() -> None:
    from layoutc.diagnostics.diagnostic import Diagnostics
    from layoutc.importer.lsmem import parse_lsmem_json

    text = (
        '{"memory": [{"range": "0x0000000000000000-0x00000000bfffffff", "size": "3G", "state": "online",'
        ' "removable": "yes", "block": "0-23", "node": "0", "zones": "DMA32/Normal"},'
        ' {"range": "0x0000000100000000-0x000000013fffffff", "size": "1G", "state": "offline",'
        ' "removable": "", "block": "32-39"}]}'
    )
    diags = Diagnostics()
    parsed = parse_lsmem_json(text, "lsmem.json", diags)
    assert parsed is not None and len(diags) == 0
    assert [(r.start, r.end, r.removable, r.node, r.zones) for r in parsed.rows] == [
        (0, 0xC0000000, True, 0, ("DMA32", "Normal")),
        (0x100000000, 0x140000000, None, None, ()),
    ]
