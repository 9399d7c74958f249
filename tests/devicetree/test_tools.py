"""Independent tools as oracles: Debian's dtc, fdtget and fdtput (device-tree-compiler), and QEMU's own
DTBs (data/README.md; dumped afresh too when qemu-system-aarch64 is installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from layoutc.devicetree import apply, edit_from_json, parse, serialize
from layoutc.devicetree.dts import to_dts
from layoutc.devicetree.edit import apply_to_tree

from .conftest import QEMU_DTBS, dts_of, qemu_dtb, run, tool
from .test_edit import NODE0, NODE1
from .test_fdt_fuzz import TREES

QEMU_ARGS = {
    "virt-4G": ["-m", "4G"],
    "virt-8G-numa2": ["-m", "8G", "-smp", "2", "-object", "memory-backend-ram,id=m0,size=4G",
                      "-object", "memory-backend-ram,id=m1,size=4G", "-numa", "node,nodeid=0,memdev=m0,cpus=0",
                      "-numa", "node,nodeid=1,memdev=m1,cpus=1"],
}  # fmt: skip


def dtc_dtb(path: Path, *force: str) -> bytes:
    """``dtc -I dtb -O dtb``: dtc's own re-layout of a blob."""
    argv = [tool("dtc"), *force, "-I", "dtb", "-O", "dtb", str(path)]
    result = subprocess.run(argv, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


@pytest.mark.parametrize("name", QEMU_DTBS)
def test_qemu_dtb_round_trips_like_dtc(tmp_path: Path, name: str) -> None:
    original, ours = tmp_path / "qemu.dtb", tmp_path / "ours.dtb"
    original.write_bytes(qemu_dtb(name))
    ours.write_bytes(serialize(parse(original.read_bytes())))
    assert ours.read_bytes() == dtc_dtb(original)  # byte for byte what dtc writes
    assert dts_of(ours) == dts_of(original)  # and the same tree as dtc reads QEMU's blob


@pytest.mark.parametrize(("name", "doc", "reg"), [("virt-4G", NODE0, "1 28000000 0 10000000"),
                                                  ("virt-8G-numa2", NODE1, "2 28000000 0 10000000")])  # fmt: skip
def test_the_edit_as_dtc_and_fdtget_read_it(tmp_path: Path, name: str, doc: dict[str, object], reg: str) -> None:
    edit = edit_from_json(doc)
    out = tmp_path / "crash.dtb"
    out.write_bytes(apply(qemu_dtb(name), edit))
    region = edit.pmem_regions[0]
    result = run(tool("dtc"), "-I", "dtb", "-O", "dts", str(out))
    assert result.returncode == 0 and result.stderr == "", result.stderr  # no dtc warning either
    assert f"\t{region.node_name} {{\n\t\tcompatible = \"pmem-region\";\n" in result.stdout
    assert "kaslr-seed" not in result.stdout and "rng-seed" not in result.stdout
    fdtget = tool("fdtget")
    assert run(fdtget, "-t", "x", str(out), region.path, "reg").stdout.strip() == reg
    assert run(fdtget, str(out), region.path, "compatible").stdout.strip() == "pmem-region"
    assert run(fdtget, "-p", str(out), region.path).stdout.split() == (
        ["compatible", "reg", "volatile"] + (["numa-node-id"] if region.numa_node_id is not None else []))
    if region.numa_node_id is not None:
        assert run(fdtget, str(out), region.path, "numa-node-id").stdout.strip() == str(region.numa_node_id)
    assert run(fdtget, "-p", str(out), "/chosen").stdout.split() == ["stdout-path"]


def test_a_tree_changed_by_fdtput_reads(tmp_path: Path) -> None:
    """The kernel zeroes kaslr-seed in place; fdtput does the same here, and kexec-tools' check passes."""
    blob = tmp_path / "virt.dtb"
    blob.write_bytes(qemu_dtb("virt-4G"))
    fdtput = tool("fdtput")
    assert run(fdtput, "-t", "x", str(blob), "/chosen", "kaslr-seed", "0", "0").returncode == 0
    assert run(fdtput, "-c", "-p", str(blob), "/reserved-memory/win@128000000").returncode == 0
    tree = parse(blob.read_bytes())
    assert tree.find("/chosen").u64("kaslr-seed") == 0  # type: ignore[union-attr]
    assert tree.find("/reserved-memory/win@128000000") is not None


@pytest.mark.parametrize("name", QEMU_DTBS)
def test_show_is_source_dtc_compiles_back_to_the_same_tree(tmp_path: Path, name: str) -> None:
    tree = parse(qemu_dtb(name))
    source = tmp_path / "shown.dts"
    source.write_text(to_dts(tree))
    result = subprocess.run([tool("dtc"), "-I", "dts", "-O", "dtb", str(source)], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    assert parse(result.stdout) == tree


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])  # fmt: skip
@given(TREES)
def test_any_tree_is_laid_out_as_dtc_lays_it_out(tmp_path: Path, tree: object) -> None:
    blob = tmp_path / "t.dtb"
    blob.write_bytes(serialize(tree))  # type: ignore[arg-type]
    assert dtc_dtb(blob, "-f", "-q") == blob.read_bytes()  # -f: the names are not all DTSpec's characters


@pytest.mark.parametrize("name", QEMU_DTBS)
def test_fresh_qemu_dump_matches_the_checked_in_one(tmp_path: Path, name: str) -> None:
    qemu = shutil.which("qemu-system-aarch64")
    if qemu is None:
        pytest.skip("qemu-system-aarch64 is not installed: the checked-in DTBs stand in")
    fresh = tmp_path / "fresh.dtb"
    argv = [qemu, "-machine", f"virt,dumpdtb={fresh}", "-cpu", "max", "-nographic", *QEMU_ARGS[name]]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and fresh.exists(), result.stderr
    ours = tmp_path / "ours.dtb"
    ours.write_bytes(serialize(parse(fresh.read_bytes())))
    assert ours.read_bytes() == dtc_dtb(fresh)
    # the seeds are random per dump; everything else is the checked-in tree
    strip = edit_from_json({"schema_version": 1, "pmem_regions": [{"base": "0x0", "size": "0x1", "volatile": True}]})
    assert apply_to_tree(parse(fresh.read_bytes()), strip) == apply_to_tree(parse(qemu_dtb(name)), strip)
