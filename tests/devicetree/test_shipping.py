"""layoutc.devicetree as it ships (inside the device zipapp), and docs/arm64.md's boot loader recipes.

The zipapp carries the dumper and this package (and the other device-side packages of its PACKAGES),
never the compiler; run from it with a bare
interpreter (no site packages) the tool applies an edit, and dtc reads the result. The DTB overlay that
docs/arm64.md gives for the recovery boot, compiled by dtc and applied by fdtoverlay, yields a tree that
``verify`` accepts for the same edit: the document and the code describe the same node.
"""

from __future__ import annotations

import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from layoutc.devicetree import Edit, PmemRegion, verify
from layoutc.dump.zipapp import PACKAGES, build

from ..conftest import REPO
from .conftest import dts_of, qemu_dtb, run, tool

EDIT = ('{"schema_version": 1, "remove_seeds": true, "pmem_regions": '
        '[{"base": "0x128000000", "size": "0x10000000", "volatile": true, "numa_node_id": 0}]}')


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pyz") / "layoutc-device.pyz"
    build(str(out))
    return out


def test_zipapp_holds_only_the_device_packages(pyz: Path) -> None:
    with zipfile.ZipFile(pyz) as z:
        names = z.namelist()
    assert {n.split("/")[1] for n in names if n.startswith("layoutc/") and n.count("/") > 1} == set(PACKAGES)
    assert {"dump", "devicetree"} <= set(PACKAGES)
    assert "layoutc/devicetree/__main__.py" in names and "layoutc/code.marshal" in names


def test_the_shipped_tool_applies_an_edit(pyz: Path, tmp_path: Path) -> None:
    python3 = tool("python3")
    (tmp_path / "edit.json").write_text(EDIT)
    (tmp_path / "in.dtb").write_bytes(qemu_dtb("virt-4G"))
    out = tmp_path / "out.dtb"
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from layoutc.devicetree.__main__ import main; "
            "rc = main(sys.argv[2:]); extra = sorted(m for m in sys.modules if m.startswith('layoutc.') "
            "and not m.startswith('layoutc.devicetree')); print(extra); sys.exit(rc)")
    result = run(python3, "-S", "-c", code, str(pyz), "apply", str(tmp_path / "edit.json"), str(tmp_path / "in.dtb"),
                 str(out))
    assert result.returncode == 0 and result.stdout == "[]\n", result.stderr
    assert "pmem@128000000 {" in dts_of(out)
    env_run = subprocess.run([python3, "-m", "layoutc.devicetree", "verify", str(tmp_path / "edit.json"), str(out)],
                             env={"PYTHONPATH": str(pyz), "PATH": "/usr/bin:/bin"}, cwd="/", capture_output=True,
                             text=True)
    assert env_run.returncode == 0, env_run.stderr


def _overlay_source() -> str:
    text = (REPO / "docs" / "arm64.md").read_text()
    (block,) = re.findall(r"```dts\n(.*?)```", text, re.S)
    return block


def test_the_documented_overlay_makes_the_node_verify_accepts(tmp_path: Path) -> None:
    dtc, fdtoverlay = tool("dtc"), tool("fdtoverlay")
    (tmp_path / "recovery.dtso").write_text(_overlay_source())
    compiled = run(dtc, "-@", "-I", "dts", "-O", "dtb", "-o", str(tmp_path / "recovery.dtbo"),
                   str(tmp_path / "recovery.dtso"))
    assert compiled.returncode == 0, compiled.stderr
    (tmp_path / "base.dtb").write_bytes(qemu_dtb("virt-4G"))
    applied = run(fdtoverlay, "-i", str(tmp_path / "base.dtb"), "-o", str(tmp_path / "recovery.dtb"),
                  str(tmp_path / "recovery.dtbo"))
    assert applied.returncode == 0, applied.stderr
    edit = Edit((PmemRegion(0x1_2800_0000, 0x1000_0000, volatile=True, numa_node_id=0),), remove_seeds=False)
    assert verify((tmp_path / "recovery.dtb").read_bytes(), edit) == []
    wrong = Edit((PmemRegion(0x1_2800_0000, 0x1000_0000, volatile=True, numa_node_id=1),), remove_seeds=False)
    assert verify((tmp_path / "recovery.dtb").read_bytes(), wrong) != [], "verify can fail"
