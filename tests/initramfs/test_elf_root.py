"""The ELF dynamic-section reader and the root's library resolution agree with the real loader (ldd)."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from layoutc.initramfs.elf import ElfError, dynamic_info
from layoutc.initramfs.root import Root, RootError

BINARIES = ("/usr/bin/python3", "/usr/sbin/mkfs.ext4", "/usr/sbin/blkid", "/bin/ls")


def _ldd(binary: str) -> set[str]:
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    return {m.group(1) for m in re.finditer(r"(?:=>\s*)?(/\S+)\s+\(0x", out)}


@pytest.mark.skipif(shutil.which("ldd") is None, reason="needs ldd")
@pytest.mark.parametrize("binary", [b for b in BINARIES if Path(b).is_file()])
def test_root_libraries_are_what_ldd_lists(binary: str) -> None:
    """Same files (compared by their real path): the loader, libc and every DT_NEEDED closure member."""
    root = Root(Path("/"))
    ours = {str(Path(p).resolve()) for p in root.libraries(binary)}
    assert ours == {str(Path(p).resolve()) for p in _ldd(binary)}


def test_python_needs_libc_and_names_its_loader() -> None:
    info = dynamic_info(Path("/usr/bin/python3").read_bytes())
    assert info.interpreter is not None and info.interpreter.startswith("/lib")
    assert "libc.so.6" in info.needed and not info.static


def test_a_script_has_no_libraries(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/tool").write_text("#!/bin/sh\n")
    assert Root(tmp_path).libraries("/bin/tool") == {}


def test_links_resolve_inside_the_root(tmp_path: Path) -> None:
    """An absolute link target is the root's, never the build machine's."""
    (tmp_path / "usr/bin").mkdir(parents=True)
    (tmp_path / "usr/bin/python3.11").write_bytes(b"x")
    (tmp_path / "bin").symlink_to("usr/bin")
    (tmp_path / "usr/bin/python3").symlink_to("/usr/bin/python3.11")
    root = Root(tmp_path)
    assert root.resolve("/bin/python3") == "/usr/bin/python3.11"
    assert root.host("/bin/python3") == tmp_path / "usr/bin/python3.11"
    assert root.which("python3") == "/usr/bin/python3"


def test_a_missing_library_is_named(tmp_path: Path) -> None:
    """python3 copied into an empty root: its libraries are not there, and the error says which."""
    (tmp_path / "usr/bin").mkdir(parents=True)
    shutil.copy("/usr/bin/python3", tmp_path / "usr/bin/python3")
    with pytest.raises(RootError, match=r"library lib\S+ \(needed by /usr/bin/python3\) not found in root"):
        Root(tmp_path).libraries("/usr/bin/python3")


@given(st.binary(max_size=256))
def test_garbage_is_an_elf_error_never_a_crash(data: bytes) -> None:
    try:
        dynamic_info(b"\x7fELF\x02\x01" + data)
    except ElfError:
        pass


@pytest.mark.parametrize(("kind", "size", "message"), [(b"\x02", 58, "ELF header cut short: 58 bytes"),
                                                    (b"\x02", 63, "ELF header cut short: 63 bytes"),
                                                    (b"\x01", 51, "not an ELF file")])  # fmt: skip
def test_a_header_cut_short_is_an_elf_error(kind: bytes, size: int, message: str) -> None:
    data = (b"\x7fELF" + kind + b"\x01").ljust(size, b"\0")
    with pytest.raises(ElfError) as raised:
        dynamic_info(data)
    assert str(raised.value) == message


def test_a_truncated_file_is_an_elf_error() -> None:
    blob = bytearray(Path("/bin/ls").read_bytes()[:64])
    struct.pack_into("<H", blob, 56, 30)  # 30 program headers beyond the end of the data
    with pytest.raises(ElfError):
        dynamic_info(bytes(blob))
