"""The board's initramfs-tools hook and dracut module build a crash initramfs with the real tools.

``mkinitramfs -d CONFDIR`` (initramfs-tools-core) and ``dracut -m "layoutc base"`` (dracut-core) run on
the compiled conf dir and module against the lab's cached 6.1 kernel; the images are listed with
``lsinitramfs``. mkinitramfs reads ``/lib/modules/KVER`` and ``/boot/config-KVER`` only, so the test
links them there for the run and removes the links after (it needs root and no such kernel installed);
dracut takes ``--kmoddir`` and a ``dracutbasedir`` holding the system's modules beside ``99layoutc``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from layoutc.diagnostics.diagnostic import Diagnostics
from layoutc.dump import zipapp
from layoutc.frontend.load import load_profile
from layoutc.render.device import device_artifacts
from layoutc.solve import solve

from ..conftest import REPO

QEMU = REPO / "profiles" / "qemu" / "qemu-4g.yaml"
RELEASE = "6.1.0-56-cloud-amd64"
KERNEL = REPO / ".cache" / "lab" / "kernels" / RELEASE
MODULES = KERNEL / "modules" / "lib" / "modules" / RELEASE
NEEDED_MODULES = ("nd_e820.ko", "libnvdimm.ko", "nd_pmem.ko")
pytestmark = [pytest.mark.tools,
              pytest.mark.skipif(not (MODULES / "modules.dep").is_file(), reason="needs the lab's 6.1 kernel cache")]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The compiled device files of qemu-4g, and a root holding them where layoutc install lays them."""
    top = tmp_path_factory.mktemp("board")
    profile = load_profile(QEMU, str(QEMU), Diagnostics())
    assert profile is not None
    layout = solve(profile, Diagnostics())
    assert layout is not None
    for artifact in device_artifacts(profile, layout):
        path = top / artifact.relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(artifact.content)
        path.chmod(artifact.mode)
    root = top / "root"
    (root / "usr/lib/layoutc").mkdir(parents=True)
    (root / "etc/layoutc").mkdir(parents=True)
    for name in ("capture.sh", "capture-init.sh"):
        shutil.copy(top / "device" / name, root / "usr/lib/layoutc" / name)
    shutil.copy(top / "device/filter.json", root / "etc/layoutc/filter.json")
    zipapp.build(str(root / "usr/lib/layoutc/dump.pyz"), zipapp.CRASH)
    return top


def _listing(image: Path) -> set[str]:
    lister = shutil.which("lsinitramfs")
    if lister is None:
        pytest.skip("needs lsinitramfs (initramfs-tools-core)")
    out = subprocess.run([lister, str(image)], capture_output=True, text=True, check=True, timeout=120).stdout
    return {line.strip().removeprefix("usr/") for line in out.splitlines()}


def _assert_crash_contents(names: set[str]) -> None:
    for path in ("lib/layoutc/dump.pyz", "lib/layoutc/capture-init.sh", "lib/layoutc/capture.sh",
                 "etc/layoutc/filter.json", "bin/python3", "sbin/mkfs.ext4", "lib/python3.11/os.py",
                 "lib/python3.11/json/__init__.py", "lib/python3.11/argparse.py"):
        assert path in names, path
    for module in NEEDED_MODULES:
        assert any(n.startswith(f"lib/modules/{RELEASE}/") and n.endswith(f"/{module}") for n in names), module


@pytest.fixture
def kernel_links() -> Iterator[None]:
    """/lib/modules/KVER and /boot/config-KVER linked to the cache for one run, removed after."""
    links = (Path("/lib/modules") / RELEASE, Path("/boot") / f"config-{RELEASE}")
    if os.geteuid() != 0 or any(p.exists() or p.is_symlink() for p in links):
        pytest.skip("needs root and no installed kernel of the lab's release")
    made_modules = not Path("/lib/modules").exists()
    if made_modules:
        Path("/lib/modules").mkdir()
    links[0].symlink_to(MODULES)
    links[1].symlink_to(KERNEL / "config")
    try:
        yield
    finally:
        for link in links:
            link.unlink()
        if made_modules:
            Path("/lib/modules").rmdir()


@pytest.mark.usefixtures("kernel_links")
def test_mkinitramfs_with_the_board_conf_dir_holds_the_capture(compiled: Path, tmp_path: Path) -> None:
    mkinitramfs = shutil.which("mkinitramfs")
    if mkinitramfs is None:
        pytest.skip("needs mkinitramfs (initramfs-tools-core)")
    image = tmp_path / "crash.img"
    env = {**os.environ, "LAYOUTC_ROOT": str(compiled / "root")}
    run = subprocess.run([mkinitramfs, "-d", str(compiled / "device/initramfs/initramfs-tools"), "-o", str(image),
                          RELEASE], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr
    names = _listing(image)
    _assert_crash_contents(names)
    assert "scripts/init-premount/layoutc" in names
    assert "bin/busybox" in names


def test_mkinitramfs_hook_fails_without_the_dumper(compiled: Path, tmp_path: Path) -> None:
    """The hook refuses (exit 1, naming the file) when the board's files are not installed."""
    hook = compiled / "device/initramfs/initramfs-tools/hooks/layoutc"
    if not Path("/usr/share/initramfs-tools/hook-functions").is_file():
        pytest.skip("needs initramfs-tools-core")
    empty = tmp_path / "root"
    empty.mkdir()
    env = {**os.environ, "LAYOUTC_ROOT": str(empty), "DESTDIR": str(tmp_path / "dest"), "verbose": "n"}
    run = subprocess.run(["sh", str(hook)], capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 1
    assert "layoutc hook: /usr/lib/layoutc/capture-init.sh not found" in run.stderr


def test_dracut_with_the_board_module_holds_the_capture(compiled: Path, tmp_path: Path) -> None:
    dracut = shutil.which("dracut")
    if dracut is None or not Path("/usr/lib/dracut/modules.d").is_dir():
        pytest.skip("needs dracut (dracut-core)")
    base = tmp_path / "dracut"
    (base / "modules.d").mkdir(parents=True)
    for entry in Path("/usr/lib/dracut").iterdir():
        if entry.name != "modules.d":
            (base / entry.name).symlink_to(entry)
    for module in Path("/usr/lib/dracut/modules.d").iterdir():
        (base / "modules.d" / module.name).symlink_to(module)
    (base / "modules.d/99layoutc").symlink_to(compiled / "device/initramfs/dracut/99layoutc")
    (tmp_path / "conf.d").mkdir()
    image = tmp_path / "crash.img"
    env = {**os.environ, "LAYOUTC_ROOT": str(compiled / "root"), "dracutbasedir": str(base)}
    run = subprocess.run([dracut, "--no-hostonly", "--force", "-m", "layoutc base", "--kmoddir", str(MODULES),
                          "--conf", "/dev/null", "--confdir", str(tmp_path / "conf.d"), "--tmpdir", str(tmp_path),
                          str(image), RELEASE], capture_output=True, text=True, env=env, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    names = _listing(image)
    _assert_crash_contents(names)
    assert "lib/dracut/hooks/pre-mount/90-layoutc-capture.sh" in names
