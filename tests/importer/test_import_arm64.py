"""arm64 device-tree captures: the tree's memory facts, the board's map, its diagnostics, import → check → compile."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layoutc.cli.main import main
from layoutc.devicetree.fdt import parse, serialize
from layoutc.devicetree.tree import Node, Property, Tree, encode_reg
from layoutc.diagnostics.diagnostic import Diagnostics, render_text
from layoutc.frontend.load import load_profile
from layoutc.importer import import_profile, read_sysinfo
from layoutc.importer.dt_memory import parse_fdt_memory
from layoutc.importer.sysinfo_types import DtRange
from layoutc.model.profile import Strategy

from .helpers import CAPTURES, import_text, load_text

REAL_DTB = (CAPTURES / "qemu-arm64-virt-8G-numa2" / "fdt.dtb").read_bytes()

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
ROOT = HERE.parents[1]
ARM64 = ["qemu-arm64-virt-4G", "qemu-arm64-virt-4G/armed-256M", "qemu-arm64-virt-8G-numa2"]


def _dt(name: str) -> Tree:
    return parse((CAPTURES / name / "fdt.dtb").read_bytes())


def _capture_with_tree(tmp_path: Path, name: str, tree: Tree, **texts: str) -> Path:
    """A copy of capture ``name`` with ``tree`` as its fdt.dtb and the given files replaced."""
    capture = tmp_path / "capture"
    shutil.copytree(CAPTURES / name, capture, ignore=shutil.ignore_patterns("armed-*"))
    (capture / "fdt.dtb").write_bytes(serialize(tree))
    for file, text in texts.items():
        (capture / file).write_text(text)
    return capture


def _import(capture: Path, strategy: Strategy = Strategy.PMEM_MOVABLE) -> tuple[str | None, Diagnostics]:
    diags = Diagnostics()
    info = read_sysinfo(capture, diags, display="cap")
    assert info is not None, render_text(diags)
    return import_profile(info, "b", strategy, diags), diags


def test_the_device_tree_memory_facts() -> None:
    diags = Diagnostics()
    four = parse_fdt_memory((CAPTURES / ARM64[0] / "fdt.dtb").read_bytes(), "fdt.dtb", diags)
    eight = parse_fdt_memory((CAPTURES / ARM64[2] / "fdt.dtb").read_bytes(), "fdt.dtb", diags)
    assert four is not None and eight is not None and len(diags) == 0
    assert four.memory == (DtRange(0x40000000, 0x140000000, "/memory@40000000"),)
    assert sorted(eight.memory, key=lambda r: r.start) == [
        DtRange(0x40000000, 0x140000000, "/memory@40000000", 0),
        DtRange(0x140000000, 0x240000000, "/memory@140000000", 1),
    ]
    assert four.reserved == four.pmem == four.usable == () and four.elfcorehdr is None
    assert four.model == "linux,dummy-virt"


@pytest.mark.parametrize("name", ARM64)
def test_golden_profile(name: str) -> None:
    text, diags = import_text(name)
    assert text is not None and len(diags) == 0, render_text(diags)
    golden = GOLDEN / (name.replace("/", "--") + ".yaml")
    if os.environ.get("LAYOUTC_UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text)
    assert text == golden.read_text()


@pytest.mark.parametrize("name", ARM64)
def test_import_check_compile(name: str, tmp_path: Path) -> None:
    text, _ = import_text(name)
    assert text is not None
    profile_path = tmp_path / "imported.yaml"
    profile_path.write_text(text)
    assert main(["check", str(profile_path)]) == 0
    assert main(["compile", str(profile_path), "-o", str(tmp_path / "out")]) == 0
    edit = (tmp_path / "out" / "device" / "crash-dt.json").read_text()
    assert '"pmem_regions"' in edit and '"volatile": true' in edit
    assert f'"numa_node_id": {1 if "numa2" in name else 0}' in edit  # the window lies in the highest node


@pytest.mark.parametrize(
    ("name", "bundled"),
    [("qemu-arm64-virt-4G", "chromebook-4g.yaml"), ("qemu-arm64-virt-8G-numa2", "server-8g-2node.yaml")],
)
def test_import_matches_the_bundled_arm64_map(name: str, bundled: str, tmp_path: Path) -> None:
    reference = load_profile(ROOT / "profiles" / "arm64" / bundled, bundled, Diagnostics())
    text, _ = import_text(name)
    assert reference is not None and text is not None
    imported, diags = load_text(text, tmp_path)
    assert imported is not None and len(diags) == 0, render_text(diags)
    assert imported.memory.ranges == reference.memory.ranges
    assert imported.memory.srat == reference.memory.srat is True


def test_layout_parameters_are_undone_on_arm64(tmp_path: Path) -> None:
    plain, _ = import_text("qemu-arm64-virt-4G")
    armed, _ = import_text("qemu-arm64-virt-4G/armed-256M")
    assert plain is not None and armed is not None
    assert armed.split("memory:", 1)[1].split("crash:")[0] == plain.split("memory:", 1)[1].split("crash:")[0]
    assert '  cmdline: "console=ttyAMA0"  # the captured cmdline without movablecore=512M crashkernel=256M' in armed
    recovery = _capture_with_tree(
        tmp_path, "qemu-arm64-virt-4G", _dt("qemu-arm64-virt-4G"), cmdline="console=ttyAMA0 mem=3584M cma=0\n"
    )
    text, diags = _import(recovery)
    assert text is not None
    assert '  cmdline: "console=ttyAMA0"  # the captured cmdline without mem=3584M cma=0' in text
    assert "#   - mem=3584M: the recovery boot's limit (layoutc sets it); RAM above it is the board's" in text
    assert "#   - cma=0: sizes the default CMA area inside System RAM; it is RAM in the map" in text
    assert "    - {start: 0x40000000, end: 0x140000000, type: ram, node: 0}  # 4 GiB" in text
    assert [d.code for d in diags] == []  # iomem still shows all 4 GiB here: no disagreement


def test_device_tree_and_iomem_disagree(tmp_path: Path) -> None:
    iomem = (CAPTURES / "qemu-arm64-virt-4G/iomem").read_text()
    cut = iomem.replace("40000000-13fffffff : System RAM", "40000000-11fffffff : System RAM")
    cut = cut.replace("  13ae00000-13fffffff : reserved\n", "")
    capture = _capture_with_tree(
        tmp_path, "qemu-arm64-virt-4G", _dt("qemu-arm64-virt-4G"), cmdline="console=ttyAMA0 mem=3584M\n", iomem=cut
    )
    text, diags = _import(capture)
    assert text is not None and "    - {start: 0x40000000, end: 0x140000000, type: ram, node: 0}  # 4 GiB" in text
    assert render_text(diags) == (
        "cap/iomem:1:1: warning[LC432]: fdt.dtb gives 4 GiB of RAM, /proc/iomem 3.5 GiB of System RAM: "
        "[0x120000000, 0x140000000) is RAM in fdt.dtb but not System RAM in /proc/iomem; the map follows fdt.dtb\n"
        "  = rule: the device tree is the memory the firmware gave the kernel; System RAM in /proc/iomem is what "
        "the kernel kept of it after mem= and no-map reservations (LNX:arch/arm64/kernel/setup.c "
        "request_standard_resources)\n"
        "  = hint: mem=3584M on the captured cmdline ends the kernel's memory early\n"
    )


def test_a_crash_kernel_capture_is_refused(tmp_path: Path) -> None:
    tree = _dt("qemu-arm64-virt-4G")
    chosen = tree.root.child("chosen")
    assert chosen is not None
    chosen = chosen.with_property(Property("linux,elfcorehdr", encode_reg(((0xFBE00000, 0x10000),), 2, 2)))
    chosen = chosen.with_property(Property("linux,usable-memory-range", encode_reg(((0xEC000000, 0x10000000),), 2, 2)))
    crash = Tree(tree.root.with_child(chosen), tree.reservations, tree.boot_cpuid_phys)
    text, diags = _import(_capture_with_tree(tmp_path, "qemu-arm64-virt-4G", crash))
    assert text is None
    assert render_text(diags) == (
        "cap/fdt.dtb:1:1: error[LC431]: the capture was taken inside a crash kernel: /chosen has linux,elfcorehdr "
        "[0xfbe00000, 0xfbe10000), so its memory is the crash reservation's, not the board's\n"
        "  = rule: kexec-tools gives a crash kernel /chosen linux,elfcorehdr and linux,usable-memory-range; that "
        "kernel sees only the crash reservation (LNX:drivers/of/fdt.c early_init_dt_check_for_usable_mem_range)\n"
        "  = hint: probe the device in its normal boot (after the dump is saved, or before arming)\n"
    )


def test_malformed_tree_is_LC430(tmp_path: Path) -> None:
    capture = tmp_path / "bad"
    shutil.copytree(CAPTURES / "qemu-arm64-virt-4G", capture, ignore=shutil.ignore_patterns("armed-*"))
    (capture / "fdt.dtb").write_bytes(b"\xd0\x0d\xfe\xed" + b"\x00" * 36)
    diags = Diagnostics()
    assert read_sysinfo(capture, diags, display="bad") is None
    assert render_text(diags) == (
        "bad/fdt.dtb:1:1: error[LC430]: not a usable device tree: version 0 (last compatible 0) is not readable as "
        "17 (at byte 0x14)\n"
        "  = rule: fdt.dtb is a flattened device tree (DTSpec v0.4 chapter 5) of at most 2 MiB whose memory nodes, "
        "/reserved-memory and /chosen have whole reg pairs in their parent's cells (LNX:drivers/of/fdt.c "
        "early_init_dt_scan_memory)\n"
        "  = hint: capture /sys/firmware/fdt again as root, byte for byte (layoutc probe --raw DIR does)\n"
    )


def _window_tree(no_map: bool, in_memory: bool) -> Tree:
    """The 4G tree with a volatile pmem-region at 0x128000000 + 256M (the measured window), as a recovery boot has."""
    tree = _dt("qemu-arm64-virt-4G")
    root = tree.root
    if not in_memory:  # the memory nodes exclude the window (kexec -l with a split tree)
        memory = root.child("memory@40000000")
        assert memory is not None
        reg = encode_reg(((0x40000000, 0xE8000000), (0x138000000, 0x8000000)), 2, 2)
        root = root.with_child(memory.with_property(Property("reg", reg)))
    window = encode_reg(((0x128000000, 0x10000000),), 2, 2)
    pmem = Node(
        "pmem@128000000",
        (Property.string("compatible", "pmem-region"), Property("reg", window), Property("volatile"),
         Property.u32("numa-node-id", 0)),
    )
    root = root.with_child(pmem)
    if no_map:
        carve = Node("pmemwin@128000000", (Property("reg", window), Property("no-map")))
        holder = Node(
            "reserved-memory",
            (Property.u32("#address-cells", 2), Property.u32("#size-cells", 2), Property("ranges")),
            (carve,),
        )
        root = root.with_child(holder)
    return Tree(root, tree.reservations, tree.boot_cpuid_phys)


@pytest.mark.parametrize(("no_map", "in_memory"), [(False, True), (True, True), (False, False)])
def test_a_window_of_an_earlier_layout_is_ram_again(no_map: bool, in_memory: bool, tmp_path: Path) -> None:
    text, diags = _import(_capture_with_tree(tmp_path, "qemu-arm64-virt-4G", _window_tree(no_map, in_memory)))
    assert text is not None
    assert "    - {start: 0x40000000, end: 0x140000000, type: ram, node: 0}  # 4 GiB" in text
    where = "inside a memory node" if in_memory else "outside the memory nodes"
    assert (
        f"#   - pmem-region /pmem@128000000 [0x128000000, 0x138000000) is a window of an earlier layout ({where}): "
        "it is RAM again" in text
    )
    # the tree's own RAM differs from iomem's exactly when it leaves the window out
    assert [d.code for d in diags] == ([] if in_memory and not no_map else ["LC432"])


def test_no_map_reservations_are_reserved_and_persistent_regions_pmem(tmp_path: Path) -> None:
    tree = _dt("qemu-arm64-virt-4G")
    carve = Node("tee@60000000", (Property("reg", encode_reg(((0x60000000, 0x2000000),), 2, 2)), Property("no-map")))
    keep = Node("cma@70000000", (Property("reg", encode_reg(((0x70000000, 0x4000000),), 2, 2)),))
    holder = Node(
        "reserved-memory",
        (Property.u32("#address-cells", 2), Property.u32("#size-cells", 2), Property("ranges")),
        (carve, keep),
    )
    nvdimm = Node(
        "pmem@200000000",
        (Property.string("compatible", "pmem-region"), Property("reg", encode_reg(((0x200000000, 0x40000000),), 2, 2))),
    )
    root = tree.root.with_child(holder).with_child(nvdimm)
    iomem = (CAPTURES / "qemu-arm64-virt-4G/iomem").read_text().replace(
        "40000000-13fffffff : System RAM\n",
        "40000000-5fffffff : System RAM\n60000000-61ffffff : reserved\n62000000-13fffffff : System RAM\n",
    )
    text, diags = _import(
        _capture_with_tree(tmp_path, "qemu-arm64-virt-4G", Tree(root, tree.reservations), iomem=iomem),
        Strategy.CLASSIC_DISK,
    )
    assert text is not None and len(diags) == 0, render_text(diags)
    assert text.split("  map:\n", 1)[1].split("crash:")[0] == (
        "    - {start: 0x40000000, end: 0x60000000, type: ram, node: 0}  # 512 MiB\n"
        "    - {start: 0x60000000, end: 0x62000000, type: reserved}  # 32 MiB\n"
        "    - {start: 0x62000000, end: 0x140000000, type: ram, node: 0}  # 3.5 GiB\n"
        "    - {start: 0x200000000, end: 0x240000000, type: pmem}  # 1 GiB\n"
    )


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_the_memory_reader_never_raises_on_arbitrary_bytes(blob: bytes) -> None:
    diags = Diagnostics()
    facts = parse_fdt_memory(blob, "fdt.dtb", diags)
    assert (facts is None) == diags.has_errors
    assert all(d.code == "LC430" for d in diags)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 0x2000), st.integers(0, 255)), min_size=1, max_size=8))
def test_the_memory_reader_never_raises_on_a_damaged_real_tree(edits: list[tuple[int, int]]) -> None:
    """Bytes of QEMU's real tree overwritten (its header, structure and strings lie in the first 8 KiB)."""
    blob = bytearray(REAL_DTB)
    for at, value in edits:
        blob[at] = value
    diags = Diagnostics()
    facts = parse_fdt_memory(bytes(blob), "fdt.dtb", diags)
    assert (facts is None) == diags.has_errors
    assert all(d.code == "LC430" for d in diags)
    if facts is not None:
        assert all(r.start < r.end <= 1 << 64 for r in (*facts.memory, *facts.reserved, *facts.pmem))


def test_probe_copies_the_device_tree_and_json_keeps_its_facts(tmp_path: Path) -> None:
    from layoutc.importer import probe, raw_files, sysinfo_json
    from layoutc.importer.sysinfo_document import decode_sysinfo

    capture = CAPTURES / "qemu-arm64-virt-8G-numa2"
    root = tmp_path / "root"
    for rel, file in (
        ("proc/iomem", "iomem"),
        ("proc/cmdline", "cmdline"),
        ("proc/zoneinfo", "zoneinfo"),
        ("proc/sys/kernel/osrelease", "uname-r"),
        ("sys/firmware/fdt", "fdt.dtb"),
    ):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes((capture / file).read_bytes())
    diags = Diagnostics()
    info = probe(root, diags)
    assert info is not None and info.devicetree is not None
    assert raw_files(info)["fdt.dtb"] == REAL_DTB
    decoded = decode_sysinfo(sysinfo_json(info), "probe.json", diags)
    assert decoded is not None and decoded.devicetree == info.devicetree and not diags.has_errors
    probed = import_profile(info, "b", Strategy.PMEM_MOVABLE, diags)
    from_json = import_profile(decoded, "b", Strategy.PMEM_MOVABLE, diags)
    assert probed is not None and probed == from_json
    assert "    - {start: 0x140000000, end: 0x240000000, type: ram, node: 1}  # 4 GiB" in probed
