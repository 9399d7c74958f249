"""arm64 kernels and guest userland: the private apt state for a foreign architecture, the ELF dependency reader,
the sysroot; the real fetch in the lab tier."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from layoutc.lab.errors import LabError
from layoutc.lab.image import kernels, sysroot
from layoutc.lab.image.aptsources import Archive, DebianMirror
from layoutc.lab.image.sysroot import Sysroot, closure, direct_depends, elf_deps

MIRROR = DebianMirror(
    Archive("http://mirror.example/debian", {"signed-by": "/k.gpg"}, "t:1"),
    Archive("http://mirror.example/debian-security", {}, "t:2"),
    (),
)


def test_arm64_sources_carry_the_architecture_on_every_entry(tmp_path: Path) -> None:
    text = kernels.sources_list(MIRROR, tmp_path, "arm64")
    lines = text.splitlines()
    assert lines == [
        "deb [arch=arm64 signed-by=/k.gpg] http://mirror.example/debian bookworm main",
        "deb [arch=arm64 signed-by=/k.gpg] http://mirror.example/debian bookworm-updates main",
        "deb [arch=arm64 signed-by=/k.gpg] http://mirror.example/debian sid main",
        "deb [arch=arm64] http://mirror.example/debian-security bookworm-security main",
    ]
    assert "arch=" not in kernels.sources_list(MIRROR, tmp_path)  # the host's own architecture: unchanged


def test_arm64_apt_state_is_private_and_foreign(tmp_path: Path) -> None:
    apt = kernels.Apt(kernels.apt_root(tmp_path, "arm64"), "arm64")
    opts = " ".join(apt.options())
    assert apt.root == tmp_path / "apt-arm64"
    assert "APT::Architecture=arm64" in opts and "APT::Architectures::=arm64" in opts
    assert "APT::Default-Release=bookworm" in opts
    assert f"Dir::State::Lists={tmp_path / 'apt-arm64' / 'lists'}" in opts
    assert "Dir::Etc::SourceParts=/dev/null" in opts  # never the host's sources.list.d
    amd = " ".join(kernels.Apt(kernels.apt_root(tmp_path, "amd64")).options())
    assert "APT::Architecture=amd64" in amd and "Default-Release" not in amd


def test_arm64_series_select_like_amd64() -> None:
    s61 = kernels.series_for("6.1", "arm64")
    names = ["linux-image-6.1.0-57-arm64", "linux-image-6.1.0-58-arm64", "linux-image-6.1.0-57-cloud-amd64",
             "linux-image-6.1.0-57-rt-arm64", "linux-image-arm64"]  # fmt: skip
    assert kernels.choose_release(s61, names) == ("6.1.0-57-arm64", True)
    assert kernels.choose_release(s61, names[1:]) == ("6.1.0-58-arm64", False)
    s7 = kernels.series_for("7", "arm64")
    assert kernels.choose_release(s7, ["linux-binary-7.3.1+deb14-arm64", "linux-binary-7.2.13+deb14-cloud-amd64"]) == (
        "7.3.1+deb14-arm64",
        False,
    )
    assert not s7.has_cma  # measured on 7.2.13 arm64: crashkernel=,cma is ignored
    with pytest.raises(LabError, match="unknown architecture 'riscv64'"):
        kernels.series_for("7", "riscv64")


DEPENDS = """python3.11-minimal
  PreDepends: libc6
  Depends: libpython3.11-minimal
  Depends: libexpat1
  Depends: zlib1g
kexec-tools
  Depends: debconf
 |Depends: <libxenctrl4.17>
  Depends: libxenstore4
 |Depends: libdb5.3
  Depends: libdb5.3t64
  Depends: <debconf-2.0>
    cdebconf
    debconf
"""


def test_direct_depends_takes_first_alternatives_and_no_virtuals() -> None:
    deps = direct_depends(DEPENDS)
    assert deps == {"libc6", "libpython3.11-minimal", "libexpat1", "zlib1g", "debconf", "libdb5.3"}


def test_closure_follows_library_packages_only() -> None:
    graph = {
        "tool": "tool\n  Depends: libfoo1\n  Depends: debconf\n  Depends: libfoo-bin\n",
        "libfoo1": "libfoo1\n  Depends: libc6\n  Depends: libtext-glob-perl\n",
        "libc6": "libc6\n  Depends: libgcc-s1\n",
        "libgcc-s1": "libgcc-s1\n  Depends: libc6\n",
    }
    calls: list[list[str]] = []

    def depends(names: Sequence[str]) -> str:
        calls.append(list(names))
        return "".join(graph.get(n, f"{n}\n") for n in calls[-1])

    assert closure(depends, ["tool"]) == ["libc6", "libfoo1", "libgcc-s1", "tool"]
    assert calls == [["tool"], ["libfoo1"], ["libc6"], ["libgcc-s1"]]


@pytest.mark.parametrize("binary", ["/bin/ls", "/usr/bin/python3.11", "/bin/busybox"])
def test_elf_deps_agrees_with_readelf(binary: str) -> None:
    if shutil.which("readelf") is None or not Path(binary).is_file():
        pytest.fail(f"readelf or {binary} missing: run sh scripts/bootstrap.sh --all")
    out = subprocess.run(["readelf", "-d", "-l", binary], capture_output=True, text=True, check=True).stdout
    needed = tuple(re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", out))
    interp = re.search(r"Requesting program interpreter: (\S+?)\]", out)
    deps = elf_deps(Path(binary).read_bytes())
    assert deps.needed == needed
    assert deps.interpreter == (interp.group(1) if interp else None)
    assert deps.machine == 62


def test_elf_deps_refuses_non_elf() -> None:
    with pytest.raises(LabError, match="not a little-endian ELF64 file"):
        elf_deps(b"#!/bin/sh\n")


def test_sysroot_resolves_links_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "lib" / "aarch64-linux-gnu").mkdir(parents=True)
    (root / "lib" / "aarch64-linux-gnu" / "libz.so.1.2.13").write_bytes(b"z")
    (root / "lib" / "aarch64-linux-gnu" / "libz.so.1").symlink_to("libz.so.1.2.13")
    (root / "lib" / "ld-linux-aarch64.so.1").symlink_to("/lib/aarch64-linux-gnu/libz.so.1")  # absolute: in root
    (root / "loop").symlink_to("/loop")
    s = Sysroot(root, "arm64")
    assert s.read("/lib/ld-linux-aarch64.so.1") == b"z"
    assert s.find_library("libz.so.1") == "/lib/aarch64-linux-gnu/libz.so.1"
    assert s.find_library("libnone.so.1") is None
    with pytest.raises(LabError, match="too many symbolic links"):
        s.resolve("/loop")
    with pytest.raises(LabError, match="kexec is not in the arm64 userland"):
        s.which("kexec")


def test_userland_offline_without_cache_is_a_lab_error(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="userland-unavailable|arm64 guest userland is not in the cache"):
        sysroot.ensure_userland("arm64", root=tmp_path, offline=True)


@pytest.mark.lab
def test_arm64_kernels_and_userland_fetch_and_resolve() -> None:
    """The real fetch (from the host's mirror when the cache is cold): both arm64 kernels and the userland,
    every guest tool's libraries found in the sysroot, all of them arm64."""
    for label in ("6.1", "7"):
        k = kernels.ensure_kernel(label, arch="arm64")
        assert k.arch == "arm64" and k.vmlinuz.is_file()
        assert k.vmlinuz.read_bytes()[0x38:0x3C] == b"ARM\x64"  # arm64 Image header magic
        assert (k.module_dir / "modules.dep").is_file()
        assert "of_pmem" in (k.module_dir / "modules.dep").read_text()
    root = sysroot.ensure_userland("arm64")
    for tool in ("kexec", "ndctl", "daxctl", "lsmem", "python3.11"):
        path = root.which(tool)
        libs = root.libraries(path)
        assert "/lib/ld-linux-aarch64.so.1" in libs, (tool, libs)
        for lib in libs:
            assert elf_deps(root.read(lib)).machine == 183, lib
    assert elf_deps(root.read("/bin/busybox")).needed == ()  # busybox-static
