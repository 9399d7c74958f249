"""``layoutc initramfs``: the archive the kernel unpacks, the fit against the reservation, exact diagnostics."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from ..conftest import REPO

QEMU = str(REPO / "profiles" / "qemu" / "qemu-4g.yaml")
CACHE = REPO / ".cache" / "lab" / "kernels"
RELEASE = "6.1.0-56-cloud-amd64"
MODULES = CACHE / RELEASE / "modules"
needs_kernel = pytest.mark.skipif(not (MODULES / "lib/modules" / RELEASE / "modules.dep").is_file()
                                  or not Path("/bin/busybox").is_file(),
                                  reason="needs the lab's 6.1 kernel (layoutc lab --debian 6.1) and busybox")


def _members(data: bytes) -> list[bytes]:
    """Each gzip member decompressed on its own, as the kernel's unpacker takes them."""
    out = []
    while data:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out.append(d.decompress(data))
        data = d.unused_data
    return out


def _listing(archive: bytes) -> list[str]:
    names: list[str] = []
    for member in _members(archive):
        proc = subprocess.run(["cpio", "-it", "--quiet"], input=member, capture_output=True, check=True)
        names += proc.stdout.decode().split()
    return names


@needs_kernel
@pytest.mark.skipif(shutil.which("cpio") is None, reason="needs cpio")
def test_builds_an_archive_cpio_reads_with_everything_the_capture_runs(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "crash.img"
    result = run_cli("initramfs", QEMU, "--kernel-version", RELEASE, "--modules-root", str(MODULES), "-o", str(out),
                     "--format", "json")
    assert result.code == 0, result.out
    doc = json.loads(result.out)
    schema = json.loads((REPO / "schemas/cli/v1/initramfs.schema.json").read_text())
    assert not list(Draft202012Validator(schema).iter_errors(doc))
    assert doc["written"] == str(out) and doc["compressed"] == out.stat().st_size and doc["fits"]
    names = set(_listing(out.read_bytes()))
    for needed in ("init", "bin/busybox", "bin/sh", "usr/bin/python3", "usr/lib/layoutc/dump.pyz",
                   "usr/lib/layoutc/capture.sh", "usr/lib/layoutc/capture-init.sh", "etc/layoutc/filter.json",
                   "usr/sbin/mkfs.ext4", f"lib/modules/{RELEASE}/modules.dep",
                   f"lib/modules/{RELEASE}/kernel/drivers/nvdimm/nd_pmem.ko"):
        assert needed in names, needed
    assert not [n for n in names if "kexec" in n]
    assert {"nd_e820", "nd_pmem", "libnvdimm"} <= set(doc["modules"])
    assert doc["unpacked"] == sum(f["size"] for f in doc["files"])


@needs_kernel
def test_does_not_fit_names_sizes_and_the_fix(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    small = tmp_path / "small.yaml"
    # sized (reserve: auto) for a 1M initramfs: 224M, less than the real one needs
    small.write_text(Path(QEMU).read_text().replace("  initrd_size: 9M\n", "  initrd_size: 1M\n"))
    out = tmp_path / "crash.img"
    result = run_cli("initramfs", str(small), "--kernel-version", RELEASE, "--modules-root", str(MODULES),
                     "-o", str(out))
    assert result.code == 1 and not out.exists()
    text = re.sub(r"\d+(\.\d)? (MiB|KiB)", "N", result.err)
    assert text.splitlines()[0] == (
        "error[LC530]: crash.reserve: qemu-4g: the crash initramfs (N compressed, N unpacked) does not fit: "
        "the crash kernel needs N in the reservation, crashkernel=224M holds N (N short)")
    assert "warning[LC531]: crash.initrd_size: qemu-4g: the crash initramfs is" in result.err
    assert re.search(r"hint: raise crash.reserve to 256M \(or, with crash.reserve: auto, set crash.initrd_size: "
                     r"\d+M\), or ship less; the largest files: /usr/bin/python3 \(", result.err)


def test_a_root_without_busybox_is_lc532(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("initramfs", QEMU, "--kernel-version", RELEASE, "--root", str(tmp_path), "--check")
    assert result.code == 1
    assert result.err.splitlines()[0] == (
        f"error[LC532]: /bin/busybox not found in root {tmp_path} (Debian: busybox or busybox-static)")


def test_a_directory_without_layout_json_is_lc533(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("initramfs", str(tmp_path), "--kernel-version", RELEASE, "--check")
    assert result.code == 1 and result.err.startswith("error[LC533]: ")
